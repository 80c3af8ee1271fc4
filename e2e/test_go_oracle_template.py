"""Go templates: irc.templating's Go engine against Go's text/template with Masterminds/sprig v3.

hack/go-oracle's ``gotemplate`` op parses with ``template.New("resource").Funcs(sprig.TxtFuncMap())``
(plus the seed's toLower, toUpper, k8sName and required) and executes on the same data. Data is either
a map or, as the seed passes its ``TemplateVars``, a struct (``"struct": true``: one exported field per
top-level key, ``map[string]string`` for a mapping of strings). Every case must agree: both fail, or
both succeed with byte-identical output.

- the seed's templates (e2e/fixtures/seed-templates.yaml, a verbatim copy of the ones in
  shared/seeds/image-resource-controller.md, checked against it when shared/ is there), with the
  variables irc gives the seed's example image;
- hand-written templates over every supported construct and function (``HAND_WRITTEN``);
- generated templates: random statements (text, actions with trim markers, if/else if/with/range with
  break and continue, declarations, comments, define/template) over random pipelines of fields, variables,
  literals and function calls, in both data modes and with missingkey default/zero/error; a tenth are
  mutated by one character to compare parse errors too;
- token soup: random token sequences in an action, for the lexer's and parser's errors.

A disagreement found here becomes a named unit test in tests/templating/ (test_go_findings.py).
"""

# ruff: noqa: E501 (templates and Go's outputs are tables of long single-line strings)

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.templating import TemplateError, image_variables, render, split_documents
from irc.templating.gotemplate import MissingKey, render_go

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "seed-templates.yaml"
SEED_DOC = ROOT.parent / "shared" / "seeds" / "image-resource-controller.md"

Case = tuple[str, dict[str, Any], bool, str]  # template, data, struct, missingkey


def _irc(case: Case) -> tuple[bool, str]:
    template, data, struct, missing_key = case
    try:
        mode: Literal["struct", "map"] = "struct" if struct else "map"
        return True, render_go(template, data, missing_key=cast(MissingKey, missing_key), top_level=mode)
    except TemplateError as err:
        return False, f"{err.reason}: {err.message}"


def _ask(oracle: Oracle, cases: Sequence[Case]) -> list[dict[str, Any]]:
    """Oracle answers, a few KB of queries per round trip (hack/testbed/oracle.py writes a whole chunk
    before reading, so queries must fit in the pipe)."""
    queries = [
        {
            "op": "gotemplate",
            "template": t,
            "data": d,
            "struct": s,
            "missingkey": m,
            "template_name": "resource",
        }
        for t, d, s, m in cases
    ]
    answers: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for query in [*queries, None]:
        encoded = len(json.dumps(query)) if query is not None else 0
        if batch and (query is None or size + encoded > 16_000):
            answers += oracle.ask(batch)
            batch, size = [], 0
        if query is not None:
            batch.append(query)
            size += encoded
    return answers


# The oracle's struct is made by reflect.StructOf, so Go names its type "struct { Bool interface {}; …}"
# where the seed's is template.TemplateVars, which irc's engine uses (%T, typeOf, printf's %!(EXTRA …)).
_ANONYMOUS_STRUCT = re.compile(r"struct \{(?:[^{}]|\{\})*\}")


_UNIMPLEMENTED = re.compile(r"^UnsupportedTemplate: .*the sprig function '\w+' is not supported")


def disagreements(oracle: Oracle, cases: Sequence[Case]) -> list[str]:
    """Cases where irc and Go disagree. A sprig function irc does not implement is reported as such
    (UnsupportedTemplate), which is not compared: a mutated template may call one (``env``, ``now``)."""
    out = []
    for case, go in zip(cases, _ask(oracle, cases), strict=True):
        ok, text = _irc(case)
        if not ok and _UNIMPLEMENTED.match(text):
            continue
        if case[2]:
            go["output"] = _ANONYMOUS_STRUCT.sub("template.TemplateVars", go["output"])
        theirs = go["output"] if go["ok"] else f"{go['phase']} error: {go['error']}"
        if ok != go["ok"] or (ok and text != go["output"]):
            out.append(f"{case[0]!r} (struct={case[2]}, missingkey={case[3]}): irc {text!r}, Go {theirs!r}")
    return out


# --- the seed's templates ---------------------------------------------------------------------------


def _templates(documents: str) -> list[str]:
    found = []
    for document in yaml.safe_load_all(documents):
        if isinstance(document, dict) and isinstance(document.get("spec"), dict):
            template = document["spec"].get("template")
            if isinstance(template, str):
                found.append(template)
    return found


def seed_templates() -> list[str]:
    return _templates(FIXTURE.read_text())


SEED_IMAGE = {
    "imageName": "webapp-frontend",
    "imageTag": "v1.2.3",
    "imageDigest": "sha256:abc123",
    "fullImageName": "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3",
    "tagPrefix": "v",
}
SEED_TEMPLATE_SPEC = {
    "gitRepository": {"url": "https://github.com/your-org/k8s-manifests.git", "branch": "main"},
    "variables": {"namespace": "production", "environment": "prod"},
}


def test_fixture_is_the_seed_document() -> None:
    if not SEED_DOC.exists():
        pytest.skip(f"{SEED_DOC} is not here")
    blocks = re.findall(r"```yaml\n(.*?)```", SEED_DOC.read_text(), re.DOTALL)
    assert _templates("\n---\n".join(blocks)) == seed_templates()


def test_seed_templates(oracle: Oracle) -> None:
    """The seed's templates render byte-identical to Go, and into valid manifests. The struct carries
    the capitalised variables (Go cannot have the lowercase top-level copies of user variables)."""
    variables = image_variables(SEED_IMAGE, {"ecrRepository": {"region": "us-east-1"}}, SEED_TEMPLATE_SPEC)
    fields = dict(sorted((k, v) for k, v in variables.items() if k[0].isupper()))
    templates = seed_templates()
    assert len(templates) == 2
    cases = [(t, fields, True, mk) for t in templates for mk in ("default", "error")]
    assert disagreements(oracle, cases) == []
    for template, go in zip(templates, _ask(oracle, cases[::2]), strict=True):
        assert go["ok"], go
        assert render(template, variables) == go["output"]
        assert [d["kind"] for d in split_documents(go["output"])] in (["Deployment"], ["Application"])


# --- hand-written templates -------------------------------------------------------------------------

DATA: dict[str, Any] = {
    "Bool": True,
    "Empty": "",
    "Float": 1.5,
    "Int": 42,
    "List": ["a", "b", 3, None],
    "Map": {"b": 2, "a": "x", "n": None, "l": [1, 2], "m": {"k": "v"}},
    "Neg": -7,
    "Nil": None,
    "Str": "Hello, World",
    "Tag": "v1.2.3",
    "Uni": "héllo wörld ß ǆ",
    "Variables": {"env": "prod", "region": "eu-west-1", "empty": ""},
    "Zero": 0,
}

HAND_WRITTEN = [
    # fields, missing values, printing
    "{{ .Str }}|{{ .Int }}|{{ .Float }}|{{ .Bool }}|{{ .Nil }}|{{ .List }}|{{ .Map }}|{{ .Variables }}",
    "{{ .Variables.env }}|{{ .Variables.nope }}|{{ .Map.zz }}|{{ .Map.zz.yy }}|{{ .Map.m.k }}",
    "{{ .Missing }}",
    "{{ .Nil.x }}",
    "{{ .Str.x }}",
    '{{ .Variables.nope | default "dflt" }} {{ .Map.n | default 5 }} {{ .Empty | default "e" }}',
    "{{ . }}",
    "{{ $ }}{{ $.Str }}",
    # literals
    "{{ 1 }} {{ -1 }} {{ 1.0 }} {{ 1e3 }} {{ 1.5e-7 }} {{ 0x1F }} {{ -0x1e }} {{ 0o17 }} {{ 0b101 }} {{ 017 }}",
    "{{ 'a' }} {{ '\\n' }} {{ '\\x41' }} {{ 'é' }} {{ \"\\u00e9\\t\\\"q\\\"\" }} {{ `raw\\n` }} {{ 1_000 }}",
    "{{ 08 }}",
    "{{ 1__0 }}",
    "{{ 99999999999999999999 }}",
    "{{ 1e400 }}",
    "{{ '' }}",
    "{{ 'ab' }}",
    '{{ "\\q" }}',
    '{{ true }} {{ false }} {{ print nil }} {{ printf "%v" nil }}',
    "{{ nil }}",
    # whitespace trimming and comments
    "a  {{- .Str -}}  b\n{{- /* c */ -}}\n  c {{/* d */}} d {{- 3}} {{-3}}",
    "{{- if true }}\nX\n{{- end }}\nY",
    'x\n\n  {{- "t" }}\n\n{{ "u" -}}  \n\n  z',
    "{{/* unclosed }}",
    "{{ /* not a comment */ }}",
    "{{- }}",
    # control structures
    "{{ if .Empty }}a{{ else if .Zero }}b{{ else if .Nil }}c{{ else }}d{{ end }}",
    "{{ with .Variables.env }}{{ . }}{{ else }}none{{ end }}{{ with .Map.zz }}x{{ else with .Str }}{{ . }}{{ end }}",
    "{{ range $i, $v := .List }}{{ $i }}:{{ $v }},{{ end }}{{ range .Map }}[{{ . }}]{{ end }}",
    "{{ range $k, $v := .Variables }}{{ $k }}={{ $v }};{{ else }}empty{{ end }}{{ range .Empty }}{{ else }}E{{ end }}",
    "{{ range 4 }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}{{ range $v := 9 }}{{ if gt $v 2 }}{{ break }}{{ end }}{{ $v }}{{ end }}",
    "{{ range $i, $v := 3 }}{{ end }}",
    "{{ range .Str }}{{ end }}",
    "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}",
    "{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}",
    "{{ $x = 1 }}",
    "{{ break }}",
    "{{ range .List }}{{ $ }}{{ end }}",
    '{{ define "resource" }}x{{ end }}y',
    '{{ define "resource" }}x{{ end }} ',
    '{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" .Str }}{{ template "t" }}{{ block "b" .Int }}[{{ . }}]{{ end }}',
    '{{ template "nope" }}',
    "{{ if }}",
    "{{ end }}",
    "{{ else }}",
    "{{ if true }}",
    "{{ range }}{{ end }}",
    "{{ .Str | }}",
    # builtins
    '{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" .Nil }} {{ or 0 "x" }} {{ not .Empty }} {{ 0 | and 1 }}',
    '{{ len .Str }} {{ len .Uni }} {{ len .List }} {{ len .Map }} {{ index .List 1 }} {{ index .Map "b" }}',
    '{{ index .Variables "nope" }}|{{ index .Map "nope" }}|{{ index .Str 1 }}|{{ index .Map "m" "k" }}',
    "{{ len .Nil }}",
    "{{ index .List 9 }}",
    "{{ index .List -1 }}",
    "{{ index .Nil 0 }}",
    "{{ index .Map 1 }}",
    '{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ eq .Missing nil }} {{ eq .Nil "" }} {{ ne 1 2 }} {{ eq (index "a" 0) 97 }}',
    '{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }} {{ lt -1 (index "a" 0) }}',
    "{{ eq 1 1.0 }}",
    "{{ lt true false }}",
    "{{ eq .List .List }}",
    "{{ lt .Nil 1 }}",
    "{{ eq 1 }}",
    '{{ print 1 2 "a" "b" 3 nil }} {{ println 1 "a" }} {{ html "<a href=\'x\'>&\\x00" }}',
    '{{ js "it\'s \\"<b>\\" = é\\u2028\\x01" }} {{ urlquery "a b&c=d/é~" }} {{ html .Nil }}',
    '{{ printf "%s|%d|%v|%q|%5s|%-5s|%05d|%x|%X|%o|%c|%U|%t|%%" "s" 42 .List "q" "r" "l" -42 255 "hi" 8 65 65 true }}',
    '{{ printf "%.2f|%e|%g|%8.3f|%+d|% d|%.3s|%v|%v|%v" 3.14159 1234.5 0.000001 2.5 5 5 "abcdef" 1e6 1e21 123456789.0 }}',
    '{{ printf "%d %s" }} {{ printf "%d" 1 2 }} {{ printf "%z" 1 }} {{ printf "%" }} {{ printf "%!" }}',
    '{{ printf "%s" .Map }} {{ printf "%d" .List }} {{ printf "%q" .Variables }}',
    '{{ printf "%x|%X|%b|%+x|%10x|%-10x|%010x|%b|%b" 3.0 0.1 1.0 1.5 1e300 -2.5 -1.5 5e-324 -0.0 }}',
    '{{ printf "%v %T" 1 }} {{ printf "%T|%T|%5T|%T" 1 nil .List $ }} {{ typeOf $ }} {{ printf "%d" . }}',
    # sprig strings
    '{{ .Str | upper }} {{ .Str | lower }} {{ .Uni | upper }} {{ title "hello wide-world_x" }} {{ untitle "Ab Cd" }}',
    '{{ .Tag | replace "." "-" }} {{ trim "  x \\t" }} {{ trimAll "-x" "x--a--x" }} {{ trimPrefix "v" .Tag }} {{ trimSuffix ".3" .Tag }}',
    '{{ nospace " a b\\tc é\\u00a0 " }}|{{ trunc 5 .Str }}|{{ trunc -3 .Str }}|{{ trunc 2 .Uni }}|{{ substr 1 4 .Str }}',
    '{{ abbrev 8 .Str }} {{ repeat 3 "ab" }} {{ indent 2 "a\\nb" }}{{ nindent 4 "c" }} {{ plural "a" "b" 1 }}',
    '{{ cat "a" nil 1 .List }} {{ quote .Str 1 nil "é\\t" }} {{ squote .Str .Int }} {{ contains "lo" .Str }}',
    '{{ hasPrefix "He" .Str }} {{ hasSuffix "x" .Str }} {{ toString .List }} {{ toString .Nil }} {{ .Str | k8sName }}',
    '{{ toLower .Str }} {{ toUpper .Str }} {{ k8sName "--My_Service.Name--" }} {{ required .Str "msg" }}',
    '{{ required .Empty "msg" }}',
    '{{ required .Missing "msg" }}',
    '{{ fail "boom" }}',
    "{{ substr 4 2 .Str }}",
    '{{ repeat -1 "a" }}',
    "{{ .Int | upper }}",
    "{{ upper }}",
    "{{ upper 1 2 }}",
    # encodings, hashes, regular expressions, paths
    '{{ .Str | b64enc }} {{ .Str | b64enc | b64dec }} {{ b64dec "SGVsbG8" }} {{ b64dec "SGV=sbG8" }} {{ b64dec "!" }}',
    '{{ sha1sum .Str }} {{ sha256sum .Uni }} {{ sha512sum "" }} {{ adler32sum .Str }}',
    '{{ regexMatch "^v[0-9]+" .Tag }} {{ regexFind "[0-9]+" .Tag }} {{ regexFindAll "[0-9]" .Tag -1 }} {{ regexFindAll "[0-9]" .Tag 2 }}',
    '{{ regexReplaceAll "(\\\\d+)" .Tag "<${1}>" }} {{ regexReplaceAll "x*" "abc" "-" }} {{ regexReplaceAllLiteral "\\\\." .Tag "$1" }}',
    '{{ regexSplit "\\\\." .Tag -1 }} {{ regexSplit "" "abc" -1 }} {{ regexSplit "x*" "axb" 2 }} {{ regexQuoteMeta "a.b*c" }}',
    '{{ regexMatch "(" .Str }}',
    '{{ regexFind "(" .Str }}',
    '{{ base "/a/b.txt" }} {{ dir "a/b/c" }} {{ ext "x.tar.gz" }} {{ clean "/../a//b/./c/.." }} {{ isAbs "x" }} {{ base "" }} {{ dir "" }}',
    # sprig data
    '{{ default "d" }} {{ default "d" 0 }} {{ default 5 false }} {{ empty .Map }} {{ empty .Nil }} {{ coalesce .Empty .Zero .Str }}',
    '{{ all 1 "a" }} {{ any 0 "" }} {{ ternary "y" "n" .Bool }} {{ list 1 "a" nil (list 2) }} {{ tuple }}',
    "{{ first .List }} {{ last .List }} {{ rest .List }} {{ initial .List }} {{ rest list }} {{ first list }}",
    "{{ append .List 1 }} {{ prepend .List 0 }} {{ concat .List (list 9) }} {{ concat }} {{ reverse .List }}",
    '{{ uniq (list 1 1 "1" (add 0 1)) }} {{ compact .List }} {{ has 3 .List }} {{ has (add 2 1) .List }} {{ without .List "a" nil }}',
    "{{ slice .List 1 3 }} {{ slice .List 2 }} {{ until 3 }} {{ until -2 }} {{ untilStep 0 10 3 }} {{ untilStep 5 0 -2 }}",
    '{{ join "," .List }} {{ split "." .Tag }} {{ splitList "." .Tag }} {{ splitn "." 2 .Tag }} {{ splitList "" "ab" }}',
    '{{ toStrings .List }} {{ sortAlpha (list "b" "A" "a" 1) }} {{ sortAlpha .Str }}',
    '{{ dict "b" 1 "a" }} {{ get .Map "a" }} {{ get .Map "zz" }} {{ hasKey .Map "n" }} {{ set (dict) "k" 1 }}',
    '{{ unset (dict "a" 1 "b" 2) "a" }} {{ pluck "a" .Map (dict "a" 9) }} {{ pick .Map "a" "b" }} {{ omit .Map "a" "l" }}',
    '{{ keys .Map (dict "z" 1) | sortAlpha }}',
    '{{ hasKey .Variables "env" }}',
    "{{ first .Str }}",
    '{{ add 1 2 3 }} {{ add1 "41" }} {{ sub 1 2 }} {{ mul 2 "3" 4.9 }} {{ div 7 -2 }} {{ mod -7 2 }} {{ max 1 9 3 }} {{ min 4 -1 }}',
    '{{ int "0x10" }} {{ int "010" }} {{ int "1.0" }} {{ int "1.5" }} {{ int64 2.9 }} {{ float64 "2.5" }} {{ atoi "12" }} {{ atoi "x" }}',
    "{{ div 1 0 }}",
    "{{ add 9223372036854775807 1 }}",
    '{{ toJson .Map }} {{ toJson .List }} {{ toJson "<&>\\u2028" }} {{ toJson 1e21 }} {{ toJson 0.0000001 }} {{ toJson .Variables }}',
    '{{ toPrettyJson .Map }} {{ toRawJson "<&>" }} {{ fromJson "{\\"a\\":[1,2.5,null,true]}" }} {{ fromJson "x" }}',
    '{{ typeOf .List }} {{ typeOf .Nil }} {{ typeOf (add 1 1) }} {{ kindOf .Map }} {{ kindOf .Str }} {{ typeIs "int" 1 }} {{ kindIs "slice" .List }}',
    '{{ semverCompare ">=1.2.0" "1.2.3" }} {{ semverCompare "~1.3" .Tag }} {{ deepEqual (list 1) (list 1) }}',
    '{{ semverCompare "bad range" "1.0.0" }}',
    '{{ mustFirst .List }} {{ mustRegexMatch "a" "a" }} {{ mustToJson .List }} {{ mustToRawJson "<" }} {{ mustFromJson "[1]" }} {{ mustAppend .List 1 }} {{ mustHas 1 .List }}',
    '{{ osBase "/a/b" }} {{ osDir "/a/b" }} {{ osClean "a//b" }} {{ osExt "a.b" }} {{ osIsAbs "/" }} {{ mustSlice .List 1 }} {{ mustRegexFindAll "." "ab" -1 }} {{ mustReverse .List }}',
    '{{ fromJson "{\\"a\\": 1e400, \\"b\\": [1, -1e999]}" }} {{ mustToJson (fromJson "[1e400]") }}',
    '{{ mustRegexMatch "(" "a" }}',
    '{{ mustFromJson "x" }}',
    '{{ mustFromJson "[1e400]" }}',
    '{{ mustFirst "x" }}',
    # unsupported by irc, and undefined
    "{{ nosuchfunction 1 }}",
]


@pytest.mark.parametrize("struct", [True, False], ids=["struct", "map"])
def test_hand_written(oracle: Oracle, struct: bool) -> None:
    cases = [(t, DATA, struct, mk) for t in HAND_WRITTEN for mk in ("default", "error")]
    assert disagreements(oracle, cases) == []


# --- generated templates ----------------------------------------------------------------------------

_STRINGS = [
    '"a.b-c"',
    '""',
    '"x"',
    '"Hello"',
    '" sp "',
    '"%s-%d"',
    '"é\\t"',
    "`raw`",
    '"1.2.3"',
    '","',
    '"."',
]
_INTS = ["0", "1", "2", "3", "-1", "5", "'a'", "0x10", "1.0"]
_FLOATS = ["2.5", "1e3", "-0.5", "1.5e-7"]
_REGEXES = ['"[0-9]+"', '"l+"', '"x*"', '"^H"', '"(\\\\w)(\\\\w)"', '"\\\\."', '"("']
_REPLACEMENTS = ['"-"', '"$1"', '"${2}${1}"', '"<$0>"', '""']
_FIELDS = [
    ".Str", ".Tag", ".Empty", ".Int", ".Zero", ".Neg", ".Float", ".Bool", ".Nil", ".List", ".Map", ".Map.a",
    ".Map.n", ".Map.zz", ".Map.m.k", ".Variables", ".Variables.env", ".Variables.nope", ".Uni", ".", "$",
]  # fmt: skip
_STRING_FIELDS = [".Str", ".Tag", ".Empty", ".Uni", ".Variables.env", ".Variables.nope", ".Map.a", "$x"]
_RARE_FIELDS = [
    ".Missing", ".Str.x", ".Nil.x", ".Map.zz.yy", "$.Tag", ".Variables.env.x", "(.Map).a", '(dict "a" 1).a',
    "(.Map.m).k", "$v.k", '(fail "f")', "(index .Map.l 1)", "(index .List 0 1)",
]  # fmt: skip
# name: argument kinds (s string, i int, a any, l list, m map, r regex, p replacement, *x: zero or more)
_FUNCS: dict[str, list[str]] = {
    "upper": ["s"], "lower": ["s"], "title": ["s"], "untitle": ["s"], "trim": ["s"], "trimAll": ["s", "s"],
    "trimPrefix": ["s", "s"], "trimSuffix": ["s", "s"], "nospace": ["s"], "trunc": ["i", "s"],
    "substr": ["i", "i", "s"], "abbrev": ["i", "s"], "repeat": ["i", "s"], "replace": ["s", "s", "s"],
    "indent": ["i", "s"], "nindent": ["i", "s"], "cat": ["*a"], "quote": ["*a"], "squote": ["*a"],
    "plural": ["s", "s", "i"], "contains": ["s", "s"], "hasPrefix": ["s", "s"], "hasSuffix": ["s", "s"],
    "b64enc": ["s"], "b64dec": ["s"], "sha256sum": ["s"], "adler32sum": ["s"], "regexMatch": ["r", "s"],
    "regexFind": ["r", "s"], "regexFindAll": ["r", "s", "i"], "regexReplaceAll": ["r", "s", "p"],
    "regexReplaceAllLiteral": ["r", "s", "p"], "regexSplit": ["r", "s", "i"], "regexQuoteMeta": ["s"],
    "base": ["s"], "dir": ["s"], "ext": ["s"], "clean": ["s"], "toLower": ["s"], "toUpper": ["s"],
    "k8sName": ["s"], "required": ["a", "s"], "toString": ["a"], "default": ["a", "a"], "empty": ["a"],
    "coalesce": ["*a"], "all": ["*a"], "any": ["*a"], "ternary": ["a", "a", "b"], "list": ["*a"],
    "first": ["l"], "last": ["l"], "rest": ["l"], "initial": ["l"], "append": ["l", "a"],
    "prepend": ["l", "a"], "concat": ["*l"], "reverse": ["l"], "uniq": ["l"], "compact": ["l"],
    "has": ["a", "l"], "without": ["l", "*a"], "slice": ["l", "i"], "until": ["i"], "join": ["s", "l"],
    "split": ["s", "s"], "splitList": ["s", "s"], "splitn": ["s", "i", "s"], "toStrings": ["l"],
    "sortAlpha": ["l"], "dict": ["*a"], "get": ["m", "s"], "hasKey": ["m", "s"], "pick": ["m", "*s"],
    "omit": ["m", "*s"], "add": ["*a"], "add1": ["a"], "sub": ["a", "a"], "mul": ["a", "*a"],
    "div": ["a", "a"], "mod": ["a", "a"], "max": ["a", "*a"], "min": ["a", "*a"], "int": ["a"],
    "int64": ["a"], "atoi": ["s"], "toJson": ["a"], "toPrettyJson": ["a"], "toRawJson": ["a"],
    "kindOf": ["a"], "deepEqual": ["a", "a"], "printf": ["f", "*a"], "print": ["*a"],
    "println": ["*a"], "html": ["*a"], "js": ["*a"], "urlquery": ["*a"], "len": ["a"], "index": ["a", "a"],
    "eq": ["a", "a"], "ne": ["a", "a"], "lt": ["a", "a"], "le": ["a", "a"], "gt": ["a", "a"],
    "ge": ["a", "a"], "and": ["a", "*a"], "or": ["a", "*a"], "not": ["a"],
}  # fmt: skip
_FORMATS = ['"%s"', '"%d"', '"%v"', '"%q"', '"%5.1f"', '"%-4s|%x"', '"%t %c"', '"[%3d]"', '"%s %s"', '"%"']


_TEXTS = ["name: ", "\n", "  ", "- ", "key: value\n", " \t\n", "x", "{ }", "}", "{x", "--\n", "é", "%"]


class _Generator:
    """Random templates over the supported grammar from one ``random.Random`` (hypothesis draws its seed,
    so a failing example replays; drawing every choice through hypothesis was about 100x slower)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.dot_is_data = True  # outside with and range bodies, where dot is the data

    def one_in(self, n: int) -> bool:
        return self.rng.randrange(n) == 0

    def operand(self, kind: str, scope: Sequence[str], depth: int) -> str:
        """A term of the argument kind, most of the time; sometimes anything, to provoke type errors."""
        rng = self.rng
        if self.one_in(15):
            kind = "a"
        choices: list[str] = []
        if kind in "sap":
            choices += _STRINGS if kind != "p" else _REPLACEMENTS
        if kind in "ia":
            choices += _INTS
        if kind == "a":
            choices += [*_FLOATS, "true", "false", "nil"]
        if kind == "b":
            choices += ["true", "false"]
        if kind == "r":
            choices += _REGEXES
        if kind == "f":
            choices += _FORMATS
        if kind in "la":
            choices += [".List", '(list 1 "b" nil)', '(splitList "." .Tag)', "(until 3)"]
        if kind == "m":
            choices += [".Map", '(dict "a" 1 "b" .Str)', ".Variables", ".Nil"]
        if kind == "s":
            choices += [*_STRING_FIELDS, *[v for v in scope if v in ("$x", "$y")]]
        if kind == "a":
            choices += [*_FIELDS, *scope, *(_RARE_FIELDS if self.one_in(20) else [])]
        if depth > 0 and self.one_in(4):
            return "(" + self.pipeline(scope, depth - 1) + ")"
        choice = rng.choice(choices)
        if not self.dot_is_data and choice.startswith(".") and len(choice) > 1 and not self.one_in(8):
            return "$" + choice  # inside with/range, reach the data through $
        if choice in ("$x", "$v.k") and choice.split(".")[0] not in scope:
            return ".Str"
        return choice

    def call(self, scope: Sequence[str], depth: int, piped: bool) -> str:
        rng = self.rng
        name = rng.choice(sorted(_FUNCS))
        args: list[str] = []
        for kind in _FUNCS[name]:
            if kind.startswith("*"):
                args += [self.operand(kind[1], scope, depth) for _ in range(rng.randrange(4))]
            else:
                args.append(self.operand(kind, scope, depth))
        if piped and args and rng.random() < 0.85:
            args.pop()  # the piped value takes the last argument's place
        if name in ("repeat", "indent", "nindent", "until") and args:
            args[0] = rng.choice(["0", "1", "2", "3"])
        return " ".join([name, *args])

    def pipeline(self, scope: Sequence[str], depth: int) -> str:
        rng = self.rng
        first = self.operand("a", scope, depth) if rng.random() < 0.5 else self.call(scope, depth, False)
        stages = [self.call(scope, depth, True) for _ in range(rng.choice([0, 0, 1, 1, 2]))]
        return " | ".join([first, *stages])

    def action(self, body: str) -> str:
        left = self.rng.choice(["{{ ", "{{- ", "{{", "{{-\n"])
        right = self.rng.choice([" }}", " -}}", "}}", "\n-}}"])
        return left + body + right

    def statements(self, scope: Sequence[str], depth: int, in_range: bool) -> str:
        rng = self.rng
        out: list[str] = []
        names = list(scope)
        for _ in range(rng.randint(1, 4)):
            choice = rng.randint(0, 12 if depth > 0 else 5)
            if choice <= 1:
                out.append(rng.choice(_TEXTS))
            elif choice <= 3:
                out.append(self.action(self.pipeline(names, 1)))
            elif choice == 4:
                name = rng.choice(["$x", "$y"])
                op = ":=" if name not in names or rng.random() < 0.5 else "="
                out.append(self.action(f"{name} {op} {self.pipeline(names, 1)}"))
                names.append(name)
            elif choice == 5:
                out.append(rng.choice(["{{/* c */}}", "{{- /* c */ -}}", "{{/* a\nb */ -}}"]))
            elif choice <= 7:
                kind = rng.choice(["if", "with"])
                text = self.action(f"{kind} {self.pipeline(names, 1)}")
                text += self.body(kind == "with", names, depth - 1, in_range)
                if rng.random() < 0.5:
                    text += self.action(f"else {kind} {self.pipeline(names, 1)}")
                    text += self.statements(names, depth - 1, in_range)
                if rng.random() < 0.5:
                    text += self.action("else") + self.statements(names, depth - 1, in_range)
                out.append(text + self.action("end"))
            elif choice <= 9:
                target = rng.choice([".List", ".Map", ".Variables", "(until 2)", ".List", ".Map"])
                if self.one_in(5):
                    target = rng.choice(["3", ".Empty", ".Str", ".Nil", "$.Tag"])
                if not self.dot_is_data and target.startswith("."):
                    target = "$" + target
                decl = rng.choice(["", "$v := ", "$i, $v := "])
                inner = [*names, *(["$v"] if "$v" in decl else []), *(["$i"] if "$i" in decl else [])]
                text = self.action(f"range {decl}{target}") + self.body(True, inner, depth - 1, True)
                if rng.random() < 0.5:
                    text += self.action("else") + self.statements(names, depth - 1, in_range)
                out.append(text + self.action("end"))
            elif choice == 10 and in_range:
                jump = rng.choice(["{{ break }}", "{{ continue }}"])
                out.append(self.action(f"if {self.pipeline(names, 0)}") + jump + "{{ end }}")
            else:
                out.append(rng.choice(_TEXTS))
        return "".join(out)

    def body(self, moves_dot: bool, scope: Sequence[str], depth: int, in_range: bool) -> str:
        saved = self.dot_is_data
        self.dot_is_data = saved and not moves_dot
        try:
            return self.statements(scope, depth, in_range)
        finally:
            self.dot_is_data = saved

    def text(self) -> str:
        """A string for the data: YAML-ish, quotes, escapes, spaces, case-mapping and multi-byte runes."""
        alphabet = "aZz09 .-_/:\t\n\"'\\<>&%$=+,{}()[]éß\u00a0\u2028ǆİ\U0001f600"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randrange(12)))

    def data(self) -> dict[str, Any]:
        """DATA with random strings in its string fields and Variables."""
        data = dict(DATA)
        for key in ("Str", "Tag", "Uni"):
            data[key] = self.text()
        data["Variables"] = {k: self.text() for k in self.rng.sample(["env", "region", "empty", "x"], 3)}
        return data

    def template(self) -> str:
        rng = self.rng
        text = self.statements((), 2, False)
        if self.one_in(10):
            call = rng.choice(['{{ template "d" .Str }}', '{{ template "d" }}'])
            text = '{{ define "d" }}[{{ . }}]{{ end }}' + text + call
        if self.one_in(10) and text:  # one character changed: parse errors must agree too
            at = rng.randrange(len(text))
            edit = rng.choice(["", "{", "}", "(", ")", "|", '"', "$", "-", " ", "end"])
            text = text[:at] + edit + text[at + 1 :]
        return text


_MODES = st.tuples(st.booleans(), st.sampled_from(["default", "default", "zero", "error"]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64), _MODES)
def test_generated(oracle: Oracle, seed: int, mode: tuple[bool, str]) -> None:
    """300 examples of 40 templates each; per example one data mode, one missingkey option, and either
    DATA or DATA with random strings."""
    rng = random.Random(seed)
    struct, missing_key = mode
    generator = _Generator(rng)
    data = generator.data() if rng.random() < 0.5 else DATA
    texts = [generator.template() for _ in range(40)]
    assert disagreements(oracle, [(t, data, struct, missing_key) for t in texts]) == []


_TOKENS = [
    "{{", "}}", "{{-", "-}}", " ", "\n", "\t", "\r", ".", ".Str", "$", "$x", ":=", "=", "|", "(", ")", '"a"',
    '"\\x41"', '"\\z"', "`r`", "'a'", "'\\''", "''", "1", "-1", "0x1p4", "1_0", "1e", "08", "0b2", ".5", "+",
    "-", "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil",
    "true", "printf", "upper", "/*", "*/", "x", ",", "#", "@", "é", "{", "}",
]  # fmt: skip


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64), st.booleans())
def test_token_soup(oracle: Oracle, seed: int, struct: bool) -> None:
    """Random token sequences, mostly inside one action: lexing and parsing agree, errors included
    (50 examples of 40)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(40):
        body = "".join(rng.choice(_TOKENS) for _ in range(rng.randrange(1, 12)))
        texts.append("{{" + body + "}}" if rng.random() < 0.7 else body)
    assert disagreements(oracle, [(t, DATA, struct, "default") for t in texts]) == []


_FORMAT_PARTS = [
    "%", "%%", "d", "s", "v", "q", "x", "X", "f", "e", "g", "t", "c", "U", "T", "b", "o", "[1]", "[2]", "[0]",
    "[", "]", "*", ".", "-", "+", " ", "0", "#", "5", "12", "a", "é", "!",
]  # fmt: skip
_PRINTF_ARGS = [
    "1",
    "-2",
    '"s"',
    "2.5",
    "true",
    "nil",
    '(list 1 "a")',
    '(dict "k" 1)',
    ".Str",
    "'x'",
    "(add 1 2)",
]


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64))
def test_printf_soup(oracle: Oracle, seed: int) -> None:
    """Random printf formats (flags, widths, *, [n], any verb) over random arguments (50 examples of 40)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(40):
        fmt = "".join(rng.choice(_FORMAT_PARTS) for _ in range(rng.randrange(1, 10)))
        args = " ".join(rng.choice(_PRINTF_ARGS) for _ in range(rng.randrange(4)))
        texts.append("{{ printf " + json.dumps(fmt, ensure_ascii=False) + " " + args + " }}")
    assert disagreements(oracle, [(t, DATA, False, "default") for t in texts]) == []


def test_hex_floats_with_a_precision(oracle: Oracle) -> None:
    """%x/%X of a float with a precision: strconv's fmtX rounds to that many hex digits, half to even,
    carrying into the exponent. irc refused it until printf soup met `%.X` (seed 954)."""
    values = ["2.5", "1.5", "0.1", "-7.75", "0.0", "1e-320", "255.0", "1e300", "3.0", "0.5", "1.03125"]
    formats = [
        "%.0x",
        "%.1x",
        "%.3X",
        "%.13x",
        "%.16x",
        "%#.0x",
        "%#.2X",
        "%10.2x",
        "%-12.1X",
        "%+.1x",
        "%08.1x",
    ]
    cases = [
        ("{{ printf " + json.dumps(f) + " " + v + " }}", DATA, False, "default")
        for f in formats
        for v in values
    ]
    cases.append(('{{ printf "%.2x" (list 1.5 2.5) }}', DATA, False, "default"))  # element by element
    assert disagreements(oracle, cases) == []


def test_type_and_value_of_nil_with_a_precision(oracle: Oracle) -> None:
    """printArg pads a nil operand's `<nil>` for %T and %v without cutting it to the precision, which
    it does to a type's name (printf soup, seed 6788033)."""
    formats = ["%.T", "%.1T", "%.2v", "%8.1T", "%-8.0v", "%.T|%.1T|%.3T"]
    cases = [("{{ printf " + json.dumps(f) + " nil .Str 1.5 }}", DATA, False, "default") for f in formats]
    assert disagreements(oracle, cases) == []
