"""The one error of irc.templating: ``TemplateError``, a terminal ``ReconcileError`` with a condition reason.

Every failure to turn a ResourceTemplate into manifests raises it, so the creation reconciler can put
``reason`` on the ImageDetected condition and ``message`` (which names the line) in its status:

====================  ==================================================================================
reason                when
====================  ==================================================================================
TemplateSyntax        the template does not parse (Go or Jinja syntax, an undefined function or variable)
UnknownVariable       the template uses a variable the data lacks (Go: a field the struct does not have, or
                      a missing key with missingkey=error; Jinja: any undefined name); ``variable`` names it
TemplateExecution     executing failed otherwise: a function's error, a wrong argument type, bad indexing
UnsupportedTemplate   valid Go template text that irc's Go engine does not implement (a sprig function
                      outside its set, a Helm function, complex numbers, some printf forms)
SandboxViolation      a Jinja template reached for Python internals (``__class__``, ``mro``, …)
TemplateTooLarge      rendering exceeded the output or step limit
InvalidOutput         the output is not YAML documents each with apiVersion, kind and metadata.name
InvalidImage          image_variables cannot read the ImageDetected's fullImageName as an image reference
====================  ==================================================================================

``line`` is the 1-based line of the template (or, for InvalidOutput, of the rendered output) where the
problem is, ``line_text`` that line; either may be None when unknown. The message always starts with
``line N:`` when the line is known. Retrying cannot fix any of these, so all are terminal.
"""

from __future__ import annotations

from ..runtime.errors import ReconcileError

__all__ = [
    "INVALID_IMAGE",
    "INVALID_OUTPUT",
    "SANDBOX_VIOLATION",
    "TEMPLATE_EXECUTION",
    "TEMPLATE_SYNTAX",
    "TEMPLATE_TOO_LARGE",
    "UNKNOWN_VARIABLE",
    "UNSUPPORTED_TEMPLATE",
    "TemplateError",
    "line_of",
]

TEMPLATE_SYNTAX = "TemplateSyntax"
UNKNOWN_VARIABLE = "UnknownVariable"
TEMPLATE_EXECUTION = "TemplateExecution"
UNSUPPORTED_TEMPLATE = "UnsupportedTemplate"
SANDBOX_VIOLATION = "SandboxViolation"
TEMPLATE_TOO_LARGE = "TemplateTooLarge"
INVALID_OUTPUT = "InvalidOutput"
INVALID_IMAGE = "InvalidImage"


class TemplateError(ReconcileError):
    """A template that cannot render into valid manifests (see the module docstring for reasons)."""

    def __init__(
        self,
        reason: str,
        message: str,
        line: int | None = None,
        line_text: str | None = None,
        *,
        variable: str | None = None,
    ) -> None:
        shown = f"line {line}: {message}" if line is not None else message
        if line_text is not None and line_text.strip():
            shown += f" (at {line_text.strip()[:80]!r})"
        super().__init__(reason, shown, terminal=True)
        self.line, self.line_text, self.variable = line, line_text, variable
        self.detail = message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.reason, self.detail, self.line, self.line_text, self.variable))


def _rebuild(
    reason: str, message: str, line: int | None, line_text: str | None, variable: str | None
) -> TemplateError:
    return TemplateError(reason, message, line, line_text, variable=variable)


def line_of(text: str, pos: int) -> tuple[int, str]:
    """The 1-based line number of character ``pos`` in ``text`` and that line's text."""
    pos = max(0, min(pos, len(text)))
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text.count("\n", 0, pos) + 1, text[start : end if end >= 0 else len(text)]
