"""Rendering a ResourceTemplate: choosing the engine, rendering, and checking the output is manifests.

``render(template, variables, engine)`` renders with the Go engine (``gotemplate.render_go``) or the
Jinja engine (``jinja.render_jinja``). ``engine`` is ``"go"``, ``"jinja"`` or ``"auto"`` (the default),
which applies one rule to the whole template text, never per line:

1. a template that contains ``{%`` or ``{#`` (Jinja statements and comments, which Go templates do not
   have) is **Jinja**;
2. otherwise a template with at least one **Go action** is **Go**. An action is the text between ``{{`` and
   the next ``}}``; after an optional ``-`` and spaces it is Go when it starts with ``.`` (a field, or dot),
   ``$`` (a variable), ``/*`` (a comment) or a Go keyword (``if else end range with define template block
   break continue``) followed by a space, ``}`` or ``-``, or when it contains a field or variable as an
   argument outside string literals (a space or ``(``, then ``.`` or ``$``, then a letter or ``_``:
   ``upper .Name``, ``(.Tag)``);
3. otherwise a template with actions is **Jinja** (``{{ ServiceName }}``, ``{{ tag | replace(".", "-") }}``);
4. a template without ``{{`` renders the same either way and is treated as Go.

``{{-`` trims whitespace in both languages, so it says nothing. A Go template whose text must contain
``{%`` (say, a ConfigMap carrying a Jinja file) needs ``engine: go``.

``split_documents(text)`` parses the output as a stream of YAML documents and checks each one: a mapping
with non-empty string ``apiVersion`` and ``kind`` and a ``metadata`` mapping with a non-empty string
``name``. Empty documents (``---`` separators, comments only) are skipped; no documents at all is an
error. Failures are ``TemplateError(InvalidOutput)`` with the output line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from .errors import INVALID_OUTPUT, TemplateError, line_of
from .gotemplate import MissingKey, render_go
from .jinja import render_jinja

__all__ = ["Engine", "detect_engine", "render", "split_documents"]

Engine = Literal["auto", "go", "jinja"]

# libyaml's parser where PyYAML was built with it (it reports the same marks), else the Python one.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_GO_START = re.compile(
    r"-?\s*(?:[.$]|/\*|(?:if|else|end|range|with|define|template|block|break|continue)(?=[\s}-]|$))"
)
_GO_ARGUMENT = re.compile(r"[\s(][.$][A-Za-z_]")
_STRINGS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")


def detect_engine(template: str) -> Literal["go", "jinja"]:
    """The engine ``auto`` picks for a template (see the module docstring)."""
    if "{%" in template or "{#" in template:
        return "jinja"
    actions = _ACTION.findall(template)
    if not actions:
        return "go"
    if any(_GO_START.match(a) or _GO_ARGUMENT.search(_STRINGS.sub('""', a)) for a in actions):
        return "go"
    return "jinja"


def render(
    template: str,
    variables: Mapping[str, object],
    engine: Engine = "auto",
    *,
    missing_key: MissingKey = "default",
) -> str:
    """Render ``template`` with ``variables`` (e.g. from ``image_variables``); raises ``TemplateError``.

    ``missing_key`` applies to Go templates only (see ``gotemplate``); Jinja is always strict."""
    chosen = detect_engine(template) if engine == "auto" else engine
    if chosen == "go":
        return render_go(template, variables, missing_key=missing_key)
    if chosen == "jinja":
        return render_jinja(template, variables)
    raise ValueError(f"unknown template engine {engine!r}")


def _invalid(text: str, line: int, message: str) -> TemplateError:
    lines = text.splitlines()
    line_text = lines[line - 1] if 0 < line <= len(lines) else None
    return TemplateError(INVALID_OUTPUT, message, line, line_text)


def _field(document: Mapping[str, Any], key: str) -> bool:
    value = document.get(key)
    return isinstance(value, str) and value.strip() != ""


def split_documents(text: str) -> list[dict[str, Any]]:
    """The YAML documents of rendered output, each checked to be a Kubernetes object (see above)."""
    loader = _Loader(text)
    documents: list[dict[str, Any]] = []
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                assert node is not None
                document = loader.construct_document(node)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark or err.context_mark
                line = mark.line + 1 if mark is not None else 1
                raise _invalid(text, line, f"the output is not valid YAML: {err.problem or err}") from None
            except yaml.YAMLError as err:
                raise TemplateError(INVALID_OUTPUT, f"the output is not valid YAML: {err}") from None
            if document is None:
                continue
            line = node.start_mark.line + 1
            number = len(documents) + 1
            if not isinstance(document, dict):
                raise _invalid(
                    text, line, f"document {number} is not a mapping but {type(document).__name__}"
                )
            for key in ("apiVersion", "kind"):
                if not _field(document, key):
                    raise _invalid(text, line, f"document {number} has no {key}")
            metadata = document.get("metadata")
            if not isinstance(metadata, dict) or not _field(metadata, "name"):
                raise _invalid(text, line, f"document {number} ({document['kind']}) has no metadata.name")
            documents.append(document)
    finally:
        loader.dispose()
    if not documents:
        raise TemplateError(INVALID_OUTPUT, "the output holds no YAML documents", *line_of(text, 0))
    return documents
