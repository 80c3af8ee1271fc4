"""irc.templating's sprig v3 functions and the seed's own four, function by function.

Each row renders with the Go engine and expects what Go's text/template with Masterminds/sprig v3.3.0
writes (read off Go's output; e2e/test_go_oracle_template.py compares them with Go at large).
"""

# ruff: noqa: E501 (templates and Go's outputs are tables of long single-line strings)

from __future__ import annotations

import pytest

from irc.templating import TemplateError
from irc.templating.gotemplate import FUNCTIONS, SPRIG_FUNCTIONS, render_go

DATA = {
    "Str": "Hello, World",
    "Tag": "v1.2.3",
    "Uni": "héllo wörld ß ǆ",
    "Empty": "",
    "List": ["a", "b", 3, None],
    "Map": {"b": 2, "a": "x", "n": None, "l": [1, 2]},
}

STRINGS = [
    (
        '{{ upper .Uni }}|{{ lower "ÀB" }}|{{ title "hello wide-world_x" }}|{{ untitle "Ab Cd" }}',
        "HÉLLO WÖRLD ß Ǆ|àb|Hello Wide-World_x|ab cd",
    ),
    (
        '{{ .Tag | replace "." "-" }}|{{ replace "" "-" "ab" }}|{{ trim " \\t x \\n" }}|{{ trimAll "-x" "x--a--x" }}',
        "v1-2-3|-a-b-|x|a",
    ),
    ('{{ trimPrefix "v" .Tag }}|{{ trimSuffix ".3" .Tag }}|{{ nospace " a b\\tc é " }}', "1.2.3|v1.2|abcÃ©"),
    (
        "{{ trunc 5 .Str }}|{{ trunc -3 .Str }}|{{ trunc 99 .Tag }}|{{ substr 1 4 .Str }}|{{ substr -1 2 .Str }}",
        "Hello|rld|v1.2.3|ell|He",
    ),
    (
        '{{ abbrev 8 .Str }}|{{ abbrev 3 .Str }}|{{ repeat 3 "ab" }}|{{ plural "one" "many" 1 }}|{{ plural "one" "many" 2 }}',
        "Hello...|Hello, World|ababab|one|many",
    ),
    ('{{ indent 2 "a\\nb" }}|{{ nindent 4 "c" }}', "  a\n  b|\n    c"),
    (
        '{{ cat "a" nil 1 .List }}|{{ quote .Str 1 nil "é\\t" }}|{{ squote .Str 2 }}',
        'a 1 [a b 3 <nil>]|"Hello, World" "1" "é\\t"|\'Hello, World\' \'2\'',
    ),
    ('{{ contains "lo" .Str }} {{ hasPrefix "He" .Str }} {{ hasSuffix "x" .Str }}', "true true false"),
    ("{{ toString .List }}|{{ toString .Missing }}|{{ toString 1.5 }}", "[a b 3 <nil>]|<nil>|1.5"),
    (
        '{{ toLower .Str }}|{{ toUpper .Str }}|{{ k8sName "--My_Service.Name--" }}|{{ k8sName "" }}|{{ required .Str "m" }}',
        "hello, world|HELLO, WORLD|my-service-name|unnamed|Hello, World",
    ),
]
ENCODINGS = [
    (
        '{{ b64enc .Str }}|{{ .Str | b64enc | b64dec }}|{{ b64dec "SGVsbG8" }}|{{ b64dec "SGV=sbG8" }}|{{ b64dec "SGVs\\nbG8=" }}',
        "SGVsbG8sIFdvcmxk|Hello, World|illegal base64 data at input byte 4|illegal base64 data at input byte 4|Hello",
    ),
    (
        '{{ sha1sum "" }}|{{ sha256sum "a" }}|{{ adler32sum .Str }}',
        "da39a3ee5e6b4b0d3255bfef95601890afd80709|ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb|456393801",
    ),
    (
        '{{ regexMatch "^v[0-9]+" .Tag }} {{ regexMatch "(" .Tag }} {{ regexFind "[0-9]+" .Tag }} {{ regexFindAll "[0-9]" .Tag -1 }} {{ regexFindAll "[0-9]" .Tag 2 }}',
        "true false 1 [1 2 3] [1 2]",
    ),
    (
        '{{ regexReplaceAll "(\\\\d+)" .Tag "<${1}>" }} {{ regexReplaceAll "x*" "abc" "-" }} {{ regexReplaceAllLiteral "\\\\." .Tag "$1" }}',
        "v<1>.<2>.<3> -a-b-c- v1$12$13",
    ),
    (
        '{{ regexSplit "\\\\." .Tag -1 }} {{ regexSplit "" "abc" -1 }} {{ regexSplit "x*" "axb" 2 }} {{ regexQuoteMeta "a.b*c" }}',
        "[v1 2 3] [a b c] [a b] a\\.b\\*c",
    ),
    (
        '{{ base "/a/b.txt" }} {{ dir "a/b/c" }} {{ ext "x.tar.gz" }} {{ clean "/../a//b/./c/.." }} {{ isAbs "x" }} {{ base "" }} {{ dir "" }} {{ clean "a/../.." }}',
        "b.txt a/b .gz /a/b false . . ..",
    ),
]
LISTS = [
    (
        '{{ list 1 "a" nil (list 2) }} {{ first .List }} {{ last .List }} {{ rest .List }} {{ initial .List }} {{ first list }}',
        "[1 a <nil> [2]] a <no value> [b 3 <nil>] [a b 3] <no value>",
    ),
    (
        "{{ append .List 1 }} {{ prepend .List 0 }} {{ concat .List (list 9) }} {{ concat }} {{ reverse .List }}",
        "[a b 3 <nil> 1] [0 a b 3 <nil>] [a b 3 <nil> 9] [] [<nil> 3 b a]",
    ),
    (
        '{{ uniq (list 1 1 "1" (add 0 1)) }} {{ compact .List }} {{ has 3 .List }} {{ has (add 2 1) .List }} {{ without .List "a" nil }}',
        "[1 1 1] [a b 3] true false [b 3]",
    ),
    (
        "{{ slice .List 1 3 }} {{ slice .List 2 }} {{ until 3 }} {{ until -2 }} {{ untilStep 0 10 3 }} {{ untilStep 5 0 -2 }}",
        "[b 3] [3 <nil>] [0 1 2] [0 -1] [0 3 6 9] [5 3 1]",
    ),
    (
        '{{ join "," .List }} {{ split "." .Tag }} {{ splitList "." .Tag }} {{ splitn "." 2 .Tag }} {{ splitList "" "ab" }}',
        "a,b,3 map[_0:v1 _1:2 _2:3] [v1 2 3] map[_0:v1 _1:2.3] [a b]",
    ),
    (
        '{{ toStrings .List }} {{ sortAlpha (list "b" "A" "a" 1) }} {{ sortAlpha .Str }} {{ deepEqual (list 1) (list 1) }}',
        "[a b 3] [1 A a b] [Hello, World] true",
    ),
    (
        '{{ dict "b" 1 "a" }} {{ get .Map "a" }}|{{ get .Map "zz" }}|{{ hasKey .Map "n" }} {{ set (dict) "k" 1 }}',
        "map[a: b:1] x||true map[k:1]",
    ),
    (
        '{{ unset (dict "a" 1 "b" 2) "a" }} {{ pluck "a" .Map (dict "a" 9) }} {{ pick .Map "a" "b" }} {{ omit .Map "a" "l" }} {{ keys .Map | sortAlpha }}',
        "map[b:2] [x 9] map[a:x b:2] map[b:2 n:<nil>] [a b l n]",
    ),
]
VALUES = [
    (
        '{{ default "d" }} {{ default "d" 0 }} {{ default 5 false }} {{ default "d" .Str }} {{ empty .Map }} {{ empty .Missing }}',
        "d d 5 Hello, World false true",
    ),
    (
        '{{ coalesce .Empty 0 .Str }} {{ all 1 "a" }} {{ any 0 "" }} {{ ternary "y" "n" true }} {{ ternary "y" "n" false }}',
        "Hello, World true false y n",
    ),
    (
        '{{ add 1 2 3 }} {{ add1 "41" }} {{ sub 1 2 }} {{ mul 2 "3" 4.9 }} {{ div 7 -2 }} {{ mod -7 2 }} {{ max 1 9 3 }} {{ min 4 -1 }}',
        "6 42 -1 24 -3 -1 9 -1",
    ),
    (
        '{{ int "0x10" }} {{ int "010" }} {{ int "1.0" }} {{ int "1.5" }} {{ int64 2.9 }} {{ float64 "2.5" }} {{ atoi "12" }} {{ atoi "x" }}',
        "16 8 1 0 2 2.5 12 0",
    ),
    ("{{ add 9223372036854775807 1 }}", "-9223372036854775808"),
    (
        '{{ toJson .Map }} {{ toJson .List }} {{ toJson "<&>\\u2028" }} {{ toJson 1e21 }} {{ toJson 0.0000001 }} {{ toJson (rest list) }}',
        '{"a":"x","b":2,"l":[1,2],"n":null} ["a","b",3,null] "\\u003c\\u0026\\u003e\\u2028" 1e+21 1e-7 null',
    ),
    (
        '{{ toPrettyJson (dict "a" (list 1)) }} {{ toRawJson "<&>" }} {{ fromJson "{\\"a\\":[1,2.5,null,true]}" }} {{ fromJson "x" }}',
        '{\n  "a": [\n    1\n  ]\n} "<&>" map[a:[1 2.5 <nil> true]] <no value>',
    ),
    (
        '{{ typeOf .List }} {{ typeOf nil }} {{ typeOf (add 1 1) }} {{ kindOf .Map }} {{ kindOf .Str }} {{ typeIs "int" 1 }} {{ kindIs "slice" .List }}',
        "[]interface {} <nil> int64 map string true true",
    ),
    (
        '{{ semverCompare ">=1.2.0" "1.2.3" }} {{ semverCompare "~1.3" .Tag }} {{ hello }}',
        "true false Hello!",
    ),
]


@pytest.mark.parametrize(("template", "expected"), STRINGS + ENCODINGS + LISTS + VALUES)
def test_function(template: str, expected: str) -> None:
    assert render_go(template, DATA, top_level="map") == expected


ERRORS = [
    '{{ required .Empty "need it" }}',
    '{{ required .Missing "need it" }}',
    '{{ fail "boom" }}',
    '{{ substr 4 2 "abcdef" }}',
    '{{ repeat -1 "a" }}',
    '{{ regexFind "(" "x" }}',
    '{{ regexSplit "(" "x" 0 }}',  # sprig compiles before looking at n
    "{{ div 1 0 }}",
    "{{ first .Str }}",
    '{{ hasKey .List "a" }}',
    '{{ semverCompare "not a range" "1.0.0" }}',
    '{{ set .Missing "k" 1 }}',
]


@pytest.mark.parametrize("template", ERRORS)
def test_function_errors(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_go(template, DATA, top_level="map")
    assert caught.value.reason == "TemplateExecution"
    assert "error calling" in caught.value.message or "wrong type" in caught.value.message


@pytest.mark.parametrize("name", ["now", "uuidv4", "env", "merge", "snakecase", "toDate"])
def test_unimplemented_sprig_functions_say_so(name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_go(f"{{{{ {name} }}}}", {})
    assert caught.value.reason == "UnsupportedTemplate"
    assert "sprig" in caught.value.message


@pytest.mark.parametrize("name", ["include", "toYaml", "tpl"])
def test_helm_functions_say_so(name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_go(f"{{{{ {name} }}}}", {})
    assert caught.value.reason == "UnsupportedTemplate"
    assert "Helm" in caught.value.message


def test_every_implemented_name_is_sprig_a_builtin_or_the_seeds() -> None:
    builtins = {"and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print", "printf"}
    builtins |= {"println", "html", "js", "urlquery", "call"}
    seed = {"toLower", "toUpper", "k8sName", "required"}
    assert set(FUNCTIONS) - SPRIG_FUNCTIONS - builtins == seed


@pytest.mark.parametrize(
    "template",
    ['{{ env "AWS_SECRET_ACCESS_KEY" }}', '{{ expandenv "$HOME" }}', '{{ getHostByName "localhost" }}'],
)
def test_a_template_cannot_read_the_managers_environment_or_reach_the_network(template: str) -> None:
    """sprig's env, expandenv and getHostByName would hand a template the manager's credentials or a
    DNS lookup from inside the cluster: irc refuses them by name, at render time."""
    with pytest.raises(TemplateError) as caught:
        render_go(template, {})
    assert caught.value.reason == "UnsupportedTemplate"
