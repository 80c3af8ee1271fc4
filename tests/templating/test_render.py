"""irc.templating.render: engine choice (explicit and auto-detected), rendering, and the check that the
output is Kubernetes manifests (split_documents)."""

from __future__ import annotations

import pytest

from irc.templating import TemplateError, detect_engine, render, split_documents

GO = [
    "name: {{ .ServiceName }}",
    "{{- .X -}}",
    "{{ $x := 1 }}",
    "{{/* comment */}}",
    "{{ if eq 1 1 }}y{{ end }}",
    "{{ end }}",
    "{{ range .L }}{{ . }}{{ end }}",
    "{{ upper .ServiceName }}",
    '{{ printf "%s" (.Tag) }}',
    "apiVersion: v1\nkind: ConfigMap\n",  # no template syntax at all renders the same either way
    '{{ template "x" }}',
]
JINJA = [
    "name: {{ ServiceName }}",
    "{{ ImageTag | replace('.', '-') }}",
    "{% if x %}{{ .X }}{% endif %}",  # {% decides, whatever the actions look like
    "{# comment #}{{ $x }}",
    "{{- ServiceName -}}",  # a trim marker in both languages says nothing
    "{{ 'costs $5 .each' }}",  # Go-looking text inside a string literal does not count
    '{{ "x" ~ ServiceName }}',
    "{{ range(3) | list }}",
    "{{ x if y else z }}",
]


@pytest.mark.parametrize("template", GO)
def test_detects_go(template: str) -> None:
    assert detect_engine(template) == "go"


@pytest.mark.parametrize("template", JINJA)
def test_detects_jinja(template: str) -> None:
    assert detect_engine(template) == "jinja"


def test_the_rule_is_for_the_whole_template() -> None:
    """One Go action anywhere makes the whole template Go, so the Jinja-looking action then fails as Go."""
    mixed = "a: {{ ServiceName }}\nb: {{ .ServiceName }}\n"
    assert detect_engine(mixed) == "go"
    with pytest.raises(TemplateError) as caught:
        render(mixed, {"ServiceName": "s"})
    assert (caught.value.reason, caught.value.line) == ("TemplateSyntax", 1)


def test_render_dispatches() -> None:
    variables = {"ServiceName": "svc", "Variables": {"env": "prod"}}
    assert render("{{ .ServiceName }}-{{ .Variables.env }}", variables) == "svc-prod"
    assert render("{{ ServiceName }}-{{ Variables.env }}", variables) == "svc-prod"
    assert render("{{ .ServiceName }}", variables, engine="go") == "svc"
    assert render("{{ ServiceName }}", variables, engine="jinja") == "svc"
    with pytest.raises(TemplateError):
        render("{{ ServiceName }}", variables, engine="go")
    with pytest.raises(ValueError):
        render("x", variables, engine="erb")  # type: ignore[arg-type]


def test_missing_key_applies_to_go_only() -> None:
    variables: dict[str, object] = {"Variables": {}}
    assert render("{{ .Variables.x }}", variables) == "<no value>"
    with pytest.raises(TemplateError) as caught:
        render("{{ .Variables.x }}", variables, missing_key="error")
    assert caught.value.reason == "UnknownVariable"


MANIFESTS = """\
# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
...
"""


def test_split_documents() -> None:
    documents = split_documents(MANIFESTS)
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Deployment", "web"),
        ("Service", "web"),
    ]


INVALID = [
    ("", 1, "no YAML documents"),
    ("# only a comment\n---\n", 1, "no YAML documents"),
    ("kind: A\nmetadata:\n  name: a\n", 1, "no apiVersion"),
    ("apiVersion: v1\nmetadata:\n  name: a\n", 1, "no kind"),
    ("apiVersion: v1\nkind: A\n", 1, "no metadata.name"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  name: ''\n", 1, "no metadata.name"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  name: 12\n", 1, "no metadata.name"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  name: a\n---\n- x\n", 6, "not a mapping"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  name: a\n  labels: [a\n", 6, "not valid YAML"),
    ("apiVersion: v1\nkind: A\nmetadata:\n\tname: a\n", 4, "not valid YAML"),
    ("apiVersion: v1\nkind: A\nmetadata:\n  name: <no value>\nspec: {a: 1, a: 2}\n", None, None),
]


@pytest.mark.parametrize(("text", "line", "words"), INVALID)
def test_invalid_output(text: str, line: int | None, words: str | None) -> None:
    if words is None:  # PyYAML keeps the last of duplicate keys; "<no value>" is a valid name to YAML
        assert split_documents(text)[0]["spec"] == {"a": 2}
        return
    with pytest.raises(TemplateError) as caught:
        split_documents(text)
    assert caught.value.reason == "InvalidOutput"
    assert caught.value.line == line
    assert words in caught.value.message


def test_render_then_split_reports_the_output_line() -> None:
    template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Name }}\n  labels: {{ .Labels }}\n"
    text = render(template, {"Name": "cm", "Labels": "{a: b"})
    with pytest.raises(TemplateError) as caught:
        split_documents(text)
    assert (caught.value.reason, caught.value.line) == ("InvalidOutput", 6)
