"""Rendering ResourceTemplates into manifests: Go text/template + sprig (byte-identical to Go) or Jinja2.

The pipeline for one detected image::

    ImageDetected spec ─┐
    policy spec ────────┼─▶ image_variables ─▶ render(template, variables, engine) ─▶ split_documents
    template spec ──────┘                             │                                (YAML documents, each
                                   engine="auto" ─▶ detect_engine                       with apiVersion, kind
                                                      ├─ "go":    gotemplate.render_go  and metadata.name)
                                                      └─ "jinja": jinja.render_jinja (sandboxed)

Every failure is a ``TemplateError`` (a terminal ``irc.runtime.errors.ReconcileError``) whose ``reason``
is a condition reason — TemplateSyntax, UnknownVariable, TemplateExecution, UnsupportedTemplate,
SandboxViolation, TemplateTooLarge, InvalidOutput, InvalidImage — and whose message names the line.

The Go engine is an interpreter of text/template written from Go's semantics: ``golex`` (tokens),
``goparse`` with ``goliterals`` (the tree of ``gonodes``), ``goexec`` and ``goeval`` (running it),
``gobuiltins`` (and, eq, index, printf, …), ``gofmt`` (fmt's printing) over ``gotypes`` (Go values), and
sprig v3's functions (``sprig_strings``, ``sprig_encoding``, ``sprig_lists``, ``sprig_data``) plus the
seed's own four. e2e/test_go_oracle_template.py renders the seed's templates and generated ones with
both it and Go's real text/template + sprig and requires byte-identical output. Pure functions, no I/O.
"""

from .errors import TemplateError as TemplateError
from .gotemplate import MissingKey as MissingKey
from .gotemplate import render_go as render_go
from .jinja import render_jinja as render_jinja
from .render import Engine as Engine
from .render import detect_engine as detect_engine
from .render import render as render
from .render import split_documents as split_documents
from .variables import VARIABLE_NAMES as VARIABLE_NAMES
from .variables import image_variables as image_variables

__all__ = [
    "VARIABLE_NAMES",
    "Engine",
    "MissingKey",
    "TemplateError",
    "detect_engine",
    "image_variables",
    "render",
    "render_go",
    "render_jinja",
    "split_documents",
]
