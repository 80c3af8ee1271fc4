"""irc.templating's Go template lexer and parser: literals, trim markers, comments and parse errors.

Every expectation is Go's text/template's (tests/templating/test_go_tables.py style: these tables are also
rendered by Go in e2e/test_go_oracle_template.py's hand-written cases or were read off Go's output).
"""

# ruff: noqa: E501 (templates and Go's outputs are tables of long single-line strings)

from __future__ import annotations

import pytest

from irc.templating import TemplateError
from irc.templating.gotemplate import render_go


def go(template: str, **data: object) -> str:
    return render_go(template, data, top_level="map")


LITERALS = [
    (
        "{{ 1 }} {{ -1 }} {{ +2 }} {{ 1_000 }} {{ 017 }} {{ 0o17 }} {{ 0x1F }} {{ 0b101 }}",
        "1 -1 2 1000 15 15 31 5",
    ),
    ("{{ 1.0 }} {{ 1e3 }} {{ 1.5e-7 }} {{ .5 }} {{ 0x1p4 }} {{ -0.0 }}", "1 1000 1.5e-07 0.5 16 -0"),
    ("{{ 'a' }} {{ '\\n' }} {{ '\\x41' }} {{ 'é' }} {{ '\\u00e9' }} {{ '\\377' }}", "97 10 65 233 233 255"),
    ('{{ "a\\tb" }}|{{ "\\u00e9\\x41\\101" }}|{{ `raw\\n` }}|{{ "q\\"q" }}', 'a\tb|éAA|raw\\n|q"q'),
    ("{{ true }} {{ false }}", "true false"),
    # -0x1e is no hex integer to text/template (the sign), so it is the float64 -30; 0x1e is int 30
    ("{{ printf \"%T %T %T %T\" 0x1e -0x1e 1.0 'a' }}", "int float64 float64 int"),
    ("{{ `a\rb` }}", "ab"),  # raw strings drop carriage returns
]


@pytest.mark.parametrize(("template", "expected"), LITERALS)
def test_literals(template: str, expected: str) -> None:
    assert go(template) == expected


BAD_LITERALS = [
    "{{ 08 }}",  # no octal digit, and ParseFloat's 8 has no point: Go's "integer overflow"
    "{{ 1__0 }}",
    "{{ _1 }}",
    "{{ 1e }}",
    "{{ 0x }}",
    "{{ 99999999999999999999 }}",  # overflows uint64
    "{{ 1e400 }}",
    "{{ '' }}",
    "{{ 'ab' }}",
    "{{ '\\\"' }}",  # \" is no escape in a character constant
    '{{ "\\\'" }}',  # nor \' in a string
    '{{ "\\q" }}',
    '{{ "\\400" }}',
    '{{ "\\ud800" }}',
    "{{ 1a }}",
]


@pytest.mark.parametrize("template", BAD_LITERALS)
def test_bad_literals(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        go(template)
    assert caught.value.reason == "TemplateSyntax"


def test_complex_numbers_are_unsupported() -> None:
    with pytest.raises(TemplateError) as caught:
        go("{{ 1i }}")
    assert caught.value.reason == "UnsupportedTemplate"


TRIMMING = [
    ("a  {{- 1 -}}  b", "a1b"),
    ("a \n\t {{- 1 }} \n b", "a1 \n b"),
    ("{{- if true }}\nX\n{{- end }}\nY", "\nX\nY"),
    ("a {{- /* c */ -}} b", "ab"),
    ("a {{/* c */}} b", "a  b"),
    ('x\n\n  {{- "t" }}\n\n{{ "u" -}}  \n\n  z', "xt\n\nuz"),
    ("{{ 3 -}} x", "3x"),
    ("{{-3}}", "-3"),  # no space after the dash: a negative number, not a trim marker
    ("{{- 3 }}{{-\n4\n-}}", "34"),
]


@pytest.mark.parametrize(("template", "expected"), TRIMMING)
def test_trim_markers(template: str, expected: str) -> None:
    assert go(template) == expected


PARSE_ERRORS = [
    ("{{ if }}", 1),
    ("{{ end }}", 1),
    ("{{ else }}", 1),
    ("a\nb {{ if true }}", 2),
    ("{{ range }}{{ end }}", 1),
    ("{{ .Str ) }}", 1),
    ("{{ ( .Str }}", 1),
    ("{{ $x }}", 1),  # undefined variable
    ("{{ nosuch 1 }}", 1),
    ("{{ break }}", 1),
    ("{{ 1 | 2 }}", 1),  # a literal is no later pipeline stage
    ("{{ .Str.x.(y) }}", 1),
    ('{{ "a".x }}', 1),
    ("{{/* unclosed }}", 1),
    ("{{ /* not a comment */ }}", 1),
    ("{{/* c */ x}}", 1),
    ("\n\n{{ .A ", 3),
    ("{{ $x, $y := 1 }}", 1),
    ("{{ range $a, $b, $c := .L }}{{ end }}", 1),
    ('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}', 1),
    ("{{ if true }}{{ else }}{{ else }}{{ end }}", 1),
    ("{{ range .L }}{{ else with .X }}{{ end }}", 1),  # "else with" only continues a with
]


@pytest.mark.parametrize(("template", "line"), PARSE_ERRORS)
def test_parse_errors_name_the_line(template: str, line: int) -> None:
    with pytest.raises(TemplateError) as caught:
        go(template, Str="s", L=[])
    assert caught.value.reason == "TemplateSyntax"
    assert caught.value.line == line
    assert caught.value.terminal
    assert caught.value.message.startswith(f"line {line}: ")


def test_trailing_pipe_is_allowed() -> None:
    assert go("{{ .S | }}", S="x") == "x"


def test_define_template_and_block() -> None:
    template = '{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" "a" }}{{ template "t" }}{{ block "b" 1 }}[{{ . }}]{{ end }}'
    assert go(template) == "<a><<no value>>[1]"
