"""The Jinja2 engine: sandboxed, strict, no autoescaping, the template's trailing newline kept.

``render_jinja`` renders with one shared ``ImmutableSandboxedEnvironment`` (the sandbox of
``SandboxedEnvironment`` that the design names, which also refuses to modify lists and dicts, so a
template cannot change the variables the reconciler passed in):

- ``undefined=StrictUndefined``: using a name the variables lack (``{{ Foo }}``, ``{{ Variables.foo }}``)
  is an ``UnknownVariable`` error naming it and its line; ``{{ Foo | default("x") }}`` and
  ``{% if Foo is defined %}`` still work;
- the sandbox: attributes starting with ``_`` (``__class__``, ``__globals__``, ``__subclasses__``),
  function internals and mutating methods are refused — a ``SandboxViolation`` error;
- ``autoescape=False`` (manifests are YAML, not HTML); ``keep_trailing_newline=True`` (a template ending
  in a newline renders one, as the Go engine does);
- guards: ``range`` stops at 100000 items (the sandbox's own limit), ``*`` refuses to build a string or
  list over ``max_output`` characters, ``**`` an exponent over 1000, and the output stops at ``max_output``.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import (
    SANDBOX_VIOLATION,
    TEMPLATE_EXECUTION,
    TEMPLATE_SYNTAX,
    TEMPLATE_TOO_LARGE,
    UNKNOWN_VARIABLE,
    TemplateError,
)

__all__ = ["render_jinja"]

_MAX_OUTPUT = 16 << 20
_MAX_EXPONENT = 1000
_UNDEFINED_NAME = re.compile(r"^'([^']*)' is undefined$|has no (?:attribute|element) '?([^']*?)'?$")


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with size guards on ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is over {_MAX_EXPONENT}")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, (str, list, tuple))
                and isinstance(count, int)
                and len(seq) * count > _MAX_OUTPUT
            ):
                raise SecurityError(f"repetition would exceed {_MAX_OUTPUT} items")
        return operator.mul(left, right)


_ENV = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost traceback frame that Jinja attributes to the template."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _line_text(template: str, line: int | None) -> str | None:
    if line is None:
        return None
    lines = template.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> Template:
    return _ENV.from_string(template)


def render_jinja(template: str, variables: Mapping[str, object], *, max_output: int = _MAX_OUTPUT) -> str:
    """Render a Jinja2 template in the sandbox; raises ``TemplateError``."""
    try:
        compiled = _compile(template)
    except TemplateSyntaxError as err:
        syntax_line: int | None = err.lineno
        raise TemplateError(
            TEMPLATE_SYNTAX, err.message or str(err), syntax_line, _line_text(template, syntax_line)
        ) from None
    out: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(dict(variables)):
            size += len(chunk)
            if size > max_output:
                raise TemplateError(TEMPLATE_TOO_LARGE, f"the output exceeds {max_output} characters")
            out.append(chunk)
    except TemplateError:
        raise
    except UndefinedError as err:
        line = _template_line(err.__traceback__)
        match = _UNDEFINED_NAME.search(str(err.message))
        name = (match.group(1) or match.group(2)) if match else None
        message = f"unknown variable {name!r}: {err.message}" if name else str(err.message)
        raise TemplateError(
            UNKNOWN_VARIABLE, message, line, _line_text(template, line), variable=name
        ) from None
    except SecurityError as err:
        line = _template_line(err.__traceback__)
        raise TemplateError(SANDBOX_VIOLATION, str(err), line, _line_text(template, line)) from None
    except TemplateSyntaxError as err:  # raised while rendering, e.g. by an include
        raise TemplateError(TEMPLATE_SYNTAX, err.message or str(err), err.lineno) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, RecursionError) as err:
        line = _template_line(err.__traceback__)
        message = f"{type(err).__name__}: {err}"
        raise TemplateError(TEMPLATE_EXECUTION, message, line, _line_text(template, line)) from None
    return "".join(out)
