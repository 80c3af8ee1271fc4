"""irc.templating's Go template execution: printing, pipelines, control structures, variables, missing
values, the seed's struct, builtins and function-call type checks.

The expectations are Go's text/template's (map data unless a test says struct; the same tables were read
off Go's output, and e2e/test_go_oracle_template.py compares the engine with Go at large).
"""

# ruff: noqa: E501 (templates and Go's outputs are tables of long single-line strings)

from __future__ import annotations

from typing import Any

import pytest

from irc.templating import TemplateError
from irc.templating.gotemplate import render_go

DATA: dict[str, Any] = {
    "Str": "Hello, World",
    "Tag": "v1.2.3",
    "Empty": "",
    "Int": 42,
    "Zero": 0,
    "Float": 1.5,
    "Bool": True,
    "Nil": None,
    "List": ["a", "b", 3, None],
    "Map": {"b": 2, "a": "x", "n": None, "m": {"k": "v"}},
    "Variables": {"env": "prod"},
}


def go(template: str, data: dict[str, Any] | None = None, **options: Any) -> str:
    return render_go(template, DATA if data is None else data, top_level="map", **options)


OUTPUTS = [
    # printing values as fmt's %v
    (
        "{{ .Str }}|{{ .Int }}|{{ .Float }}|{{ .Bool }}|{{ .List }}|{{ .Map }}",
        "Hello, World|42|1.5|true|[a b 3 <nil>]|map[a:x b:2 m:map[k:v] n:<nil>]",
    ),
    (
        "{{ 1e6 }} {{ 123456789.0 }} {{ 100000.0 }} {{ 1e-5 }} {{ 0.0001 }} {{ 1e21 }}",
        "1e+06 1.23456789e+08 100000 1e-05 0.0001 1e+21",
    ),
    # missing values: <no value> in a map (missingkey=default), nil to functions
    (
        "{{ .Missing }}|{{ .Map.zz }}|{{ .Map.zz.yy }}|{{ .Nil }}|{{ .Map.n }}",
        "<no value>|<no value>|<no value>|<no value>|<no value>",
    ),
    ('{{ .Missing | default "d" }} {{ print .Missing }} {{ printf "%s" .Missing }}', "d <nil> %!s(<nil>)"),
    # pipelines: the previous value is the last argument
    (
        '{{ .Tag | replace "." "-" }} {{ "a" | printf "%s-%s" "b" }} {{ .Str | upper | lower }}',
        "v1-2-3 b-a hello, world",
    ),
    # if / else if / else, with, truth
    ("{{ if .Empty }}a{{ else if .Zero }}b{{ else if .Nil }}c{{ else if .List }}d{{ end }}", "d"),
    (
        "{{ with .Map.m }}{{ .k }}{{ end }}{{ with .Missing }}x{{ else with .Str }}{{ . }}{{ end }}",
        "vHello, World",
    ),
    (
        "{{ if (list) }}x{{ else }}empty list{{ end }} {{ if (dict) }}x{{ else }}empty map{{ end }}",
        "empty list empty map",
    ),
    # range over lists, maps (sorted keys), integers; else; break and continue
    ("{{ range $i, $v := .List }}{{ $i }}={{ $v }};{{ end }}", "0=a;1=b;2=3;3=<no value>;"),
    ("{{ range $k, $v := .Map }}{{ $k }}:{{ $v }} {{ end }}", "a:x b:2 m:map[k:v] n:<no value> "),
    ("{{ range .Map }}[{{ . }}]{{ end }}", "[x][2][map[k:v]][<no value>]"),
    (
        "{{ range 3 }}{{ . }}{{ end }}|{{ range $v := 2 }}{{ $v }}{{ end }}|{{ range 0 }}x{{ else }}none{{ end }}",
        "012|01|none",
    ),
    ("{{ range (list) }}{{ else }}E{{ end }}{{ range .Missing }}{{ else }}M{{ end }}", "EM"),
    (
        "{{ range 5 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        "02",
    ),
    # variables: scoping, assignment, $
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", "2"),
    ("{{ range .List }}{{ $.Int }}{{ end }}", "42424242"),
    ("{{ with $x := .Str }}{{ $x }}{{ end }}", "Hello, World"),
    # and/or return an operand and stop early
    (
        '{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" "x" }} {{ or 0 "" }} {{ 0 | and 1 }} {{ or 1 (fail "never") }}',
        "0 2 x  0 1",
    ),
    # comparisons
    (
        '{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ eq .Missing nil }} {{ eq .Nil "" }} {{ ne 1 2 }}',
        "true true true false true",
    ),
    (
        '{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }} {{ eq (index "a" 0) 97 }}',
        "true true true false true",
    ),
    # len and index count bytes of strings
    (
        '{{ len "héllo" }} {{ len .List }} {{ len .Map }} {{ index .List 1 }} {{ index .Str 1 }} {{ index .Map "m" "k" }}',
        "6 4 4 b 101 v",
    ),
    ('{{ index .Map "nope" }}|{{ index .Variables "nope" }}', "<no value>|<no value>"),
    # print, println, html, js, urlquery
    (
        '{{ print 1 2 "a" "b" 3 nil }}|{{ println 1 "a" }}|{{ html "<a href=\'x\'>&" }}',
        "1 2ab3 <nil>|1 a\n|&lt;a href=&#39;x&#39;&gt;&amp;",
    ),
    (
        '{{ js "it\'s <b>=" }} {{ urlquery "a b&c=d/é~" }} {{ html .Missing }}',
        "it\\'s \\u003Cb\\u003E\\u003D a+b%26c%3Dd%2F%C3%A9~ &lt;no value&gt;",
    ),
]


@pytest.mark.parametrize(("template", "expected"), OUTPUTS)
def test_outputs(template: str, expected: str) -> None:
    assert go(template) == expected


EXEC_ERRORS = [
    ("{{ .Nil.x }}", "TemplateExecution"),  # nil pointer evaluating interface {}.x
    ("{{ .Str.x }}", "UnknownVariable"),  # can't evaluate field x in type string
    ("{{ .Str 1 }}", "TemplateExecution"),
    ("{{ nil }}", "TemplateExecution"),
    ("{{ 1 2 }}", "TemplateExecution"),
    ("{{ range .Str }}{{ end }}", "TemplateExecution"),
    ("{{ range .Empty }}{{ else }}strings never range{{ end }}", "TemplateExecution"),
    ("{{ range $i, $v := 3 }}{{ end }}", "TemplateExecution"),
    ("{{ 3 | upper }}", "TemplateExecution"),  # wrong type for value; expected string; got int
    ('{{ upper "a" "b" }}', "TemplateExecution"),  # wrong number of args
    ('{{ trunc 1.5 "abc" }}', "TemplateExecution"),  # expected integer; found 1.5
    ("{{ .Missing | upper }}", "TemplateExecution"),  # invalid value; expected string
    ("{{ len .Int }}", "TemplateExecution"),
    ("{{ index .List 9 }}", "TemplateExecution"),
    ('{{ eq 1 "1" }}', "TemplateExecution"),  # incompatible types for comparison
    ("{{ eq 1 1.0 }}", "TemplateExecution"),
    ("{{ lt true false }}", "TemplateExecution"),
    ("{{ eq .List .List }}", "TemplateExecution"),  # non-comparable
    ('{{ template "nope" }}', "TemplateExecution"),
    ('{{ fail "boom" }}', "TemplateExecution"),
]


@pytest.mark.parametrize(("template", "reason"), EXEC_ERRORS)
def test_execution_errors(template: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        go(template)
    assert caught.value.reason == reason
    assert caught.value.line == 1


def test_error_line_and_text() -> None:
    with pytest.raises(TemplateError) as caught:
        go("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Str | upper 1 }}\n")
    assert caught.value.line == 4
    assert caught.value.line_text == "  name: {{ .Str | upper 1 }}"
    assert "line 4:" in caught.value.message and "upper" in caught.value.message


SEED_VARS = {
    "ServiceName": "frontend",
    "Namespace": "webapp",
    "ImageTag": "v1.2.3",
    "Variables": {"environment": "prod"},
    "environment": "prod",
}


def test_struct_data_like_the_seed() -> None:
    """The seed executes on a struct: a field it lacks is an error naming it, while a missing key of the
    map[string]string Variables is <no value> (and "" through index)."""
    seed = (
        '{{ .ServiceName }} {{ .Variables.environment }} {{ .Variables.nope }} {{ index .Variables "nope" }}|'
    )
    assert render_go(seed, SEED_VARS) == "frontend prod <no value> |"
    assert render_go('{{ .Variables.nope | default "dev" }}', SEED_VARS) == "dev"
    assert render_go("{{ .environment }}", SEED_VARS) == "prod"  # irc: user variables at the top too
    with pytest.raises(TemplateError) as caught:
        render_go("kind: x\nname: {{ .GitRepoURL }}", SEED_VARS)
    assert (caught.value.reason, caught.value.variable, caught.value.line) == (
        "UnknownVariable",
        "GitRepoURL",
        2,
    )
    assert "template.TemplateVars" in caught.value.message
    with pytest.raises(TemplateError, match="map\\[string\\]interface"):  # sprig's dict functions refuse it
        render_go('{{ hasKey .Variables "environment" }}', SEED_VARS)


def test_missing_key_options() -> None:
    assert go("{{ .Variables.nope }}", missing_key="zero") == "<no value>"  # nil interface in a map
    assert render_go("{{ .Variables.nope }}|", SEED_VARS, missing_key="zero") == "|"  # map[string]string
    for template in ("{{ .Variables.nope }}", '{{ .Variables.nope | default "x" }}', "{{ .Missing.x }}"):
        with pytest.raises(TemplateError) as caught:
            go(template, missing_key="error")
        assert caught.value.reason == "UnknownVariable"
        assert caught.value.variable in ("nope", "Missing", "x")


def test_guards() -> None:
    with pytest.raises(TemplateError) as caught:
        go('{{ range 100000 }}{{ repeat 1000 "x" }}{{ end }}', max_output=1 << 20)
    assert caught.value.reason == "TemplateTooLarge"
    with pytest.raises(TemplateError) as caught:
        go('{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}')
    assert caught.value.reason == "TemplateExecution"  # exceeded maximum template depth
    with pytest.raises(TemplateError) as caught:
        go("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert caught.value.reason in ("TemplateTooLarge", "TemplateSyntax")
