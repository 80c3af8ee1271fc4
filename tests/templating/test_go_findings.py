"""Disagreements with Go that e2e/test_go_oracle_template.py found, one named test each, with Go's answer.

Each was a real difference between irc's Go engine and Go's text/template + sprig before it was fixed.
"""

from __future__ import annotations

import pytest

from irc.templating import TemplateError
from irc.templating.gotemplate import render_go


def go(template: str, **data: object) -> str:
    return render_go(template, data, top_level="map")


def test_defining_the_main_templates_own_name() -> None:
    """Go names the parsed template (the seed: "resource") and treats a {{define}} of that name like any
    redefinition: an error when both have content, the definition when the main body is blank."""
    with pytest.raises(TemplateError) as caught:
        go('{{ define "resource" }}x{{ end }}y')
    assert caught.value.reason == "TemplateSyntax"
    assert go('{{ define "resource" }}x{{ end }} \n') == "x"
    assert go('{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" 1 }}') == "<1>"


def test_bytes_cut_out_of_a_rune_print_as_replacement_characters() -> None:
    """trunc/substr cut bytes, so they can split a UTF-8 sequence; irc's output is text, and each stray
    byte becomes U+FFFD (Go writes the byte; as UTF-8 text it reads as U+FFFD). Bytes that come back
    together still form their rune."""
    assert go("{{ trunc 2 .S }}", S="héllo") == "h\ufffd"
    assert go("{{ substr 0 2 .S }}{{ substr 2 6 .S }}", S="héllo") == "héllo"
    assert go('{{ "\\xff\\xc3\\xa9" }}') == "\ufffdé"


def test_printf_hex_and_binary_of_floats() -> None:
    """%x, %X and %b of a float64 were refused; Go prints strconv's 'x' (shortest) and 'b' formats."""
    assert (
        go('{{ printf "%x %X %b %x" 3.0 0.1 1.0 5e-324 }}')
        == "0x1.8p+01 0X1.999999999999AP-04 4503599627370496p-52 0x1p-1074"
    )
    assert (
        go('{{ printf "%+x|%10x|%010x|%b" 1.5 1.5 -1.5 -0.0 }}')
        == "+0x1.8p+00| 0x1.8p+00|-0x1.8p+00|-0p-1074"
    )


def test_regex_split_compiles_the_pattern_before_looking_at_n() -> None:
    """regexSplit with n == 0 returned nothing for an invalid pattern; sprig's MustCompile panics first."""
    with pytest.raises(TemplateError):
        go('{{ regexSplit "(" "x" 0 }}')
    assert go('{{ regexSplit "," "a,b" 0 }}') == "[]"


def test_the_data_struct_is_template_TemplateVars() -> None:
    """%T, typeOf and printf's %!(EXTRA …) name the data's type: the seed's is template.TemplateVars."""
    data = {"A": "x"}
    assert (
        render_go('{{ typeOf . }} {{ printf "%T" $ }}', data) == "template.TemplateVars template.TemplateVars"
    )
    assert render_go('{{ printf "" . }}', data) == "%!(EXTRA template.TemplateVars={x})"


def test_regex_find_all_without_a_match_is_a_nil_slice() -> None:
    """Go's FindAllString returns nil when nothing matches: it equals nil and encodes as JSON null."""
    assert go('{{ regexFindAll "x" "y" -1 | eq nil }} {{ regexFindAll "x" "y" -1 | toJson }}') == "true null"
    assert go('{{ regexFindAll "x" "x" -1 | eq nil }} {{ regexFindAll "x" "x" -1 }}') == "false [x]"
    assert go("{{ deepEqual (rest list) (list) }} {{ eq (rest list) nil }}") == "false true"


def test_json_numbers_out_of_float64_range() -> None:
    """Go's json.Unmarshal leaves nil for a number float64 cannot hold and carries on (fromJson keeps
    the partial result, mustFromJson fails); Python's json read it as infinity."""
    assert go('{{ fromJson "{\\"a\\": 1e400, \\"b\\": [1, -1e999]}" }}') == "map[a:<nil> b:[1 <nil>]]"
    assert go('{{ mustToJson (fromJson "[1e400]") }}') == "[null]"
    with pytest.raises(TemplateError):
        go('{{ mustFromJson "[1e400]" }}')


def test_printf_argument_indexes_and_star_widths() -> None:
    """A format taken from data ("%[", "%*d") was refused as unsupported; Go parses [n] and * and
    reports what does not fit in the output."""
    assert go("{{ printf .F 1 2 }}", F="%[2]d %[1]d %[9]d") == "2 1 %!d(BADINDEX)"
    assert go("{{ printf .F 5 7 }}", F="%*d|") == "    7|"
    assert go('{{ printf .F "x" }}', F="=%!a[") == "=%!!(string=x)a["


def test_js_keeps_bytes_that_are_no_utf8() -> None:
    """js escaped a stray byte as \\uFFFD; Go's JSEscape copies it (its rune, U+FFFD, is printable)."""
    assert go('{{ js (trunc 1 "é") }}|{{ js (substr 1 2 "é") }}') == "\ufffd|\ufffd"
    assert go('{{ js "\\x01é\\u2028" }}') == "\\u0001é\\u2028"


def test_printf_sharp_flag() -> None:
    """The # flag was refused outside %#x/%#o; Go gives it a meaning for every verb: Go syntax for %#v,
    backquotes for %#q, the character for %#U, 0x per byte with the space flag, kept zeros for %#g."""
    assert (
        go('{{ printf "%#v|%#v|%#v" "q" (index "a" 0) (list 1 nil) }}')
        == '"q"|0x61|[]interface {}{1, interface {}(nil)}'
    )
    assert (
        go('{{ printf "%#q|%#U|% #x|%#g|%#.0f" "a" 65 "hi" 2.5 3.0 }}')
        == "`a`|U+0041 'A'|0x68 0x69|2.50000|3."
    )
