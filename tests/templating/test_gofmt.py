"""irc.templating.gofmt: Go's fmt as templates see it — %v printing, printf's verbs, flags and error forms.

The expectations are Go's (fmt.Sprintf through text/template's printf; read off Go's output).
"""

# ruff: noqa: E501 (templates and Go's outputs are tables of long single-line strings)

from __future__ import annotations

import pytest

from irc.templating import TemplateError
from irc.templating.gofmt import format_float, quote, quote_rune, sprint
from irc.templating.goprintf import sprintf
from irc.templating.gotemplate import render_go

DATA = {"List": ["a", 1, None], "Map": {"b": 1, "a": "x"}, "Str": "héllo"}

PRINTF = [
    # the # flag
    (
        '{{ printf "%#v|%#v|%#v|%#v|%#v|%#d|%#U|%#q|%#q|%#x|% x|% #X|%#o|%#O" 1 "a\\"b" 2.0 nil (index "a" 0) 5 65 "abc" "a`b" "hi" "hi" "hi" 8 8 }}',
        '1|"a\\"b"|2|<nil>|0x61|5|U+0041 \'A\'|`abc`|"a`b"|0x6869|68 69|0X68 0X69|010|0o010',
    ),
    (
        '{{ printf "%#g|%#.3g|%#.0f|%#.0e|%#x|%#g" 2.5 1.0 3.0 3.0 1.5 1e-7 }}',
        "2.50000|1.00|3.|3.e+00|0x1.8000p+00|1.00000e-07",
    ),
    (
        '{{ printf "%#v" (list 1 "a" nil (dict "k" (add 1 1))) }}|{{ printf "%#v|%#v" (splitList "," "a") (rest list) }}',
        '[]interface {}{1, "a", interface {}(nil), map[string]interface {}{"k":2}}|[]string{"a"}|[]interface {}(nil)',
    ),
    ('{{ printf "%s|%d|%v|%q|%t|%%" "s" 42 .List "q" true }}', 's|42|[a 1 <nil>]|"q"|true|%'),
    (
        '{{ printf "%5s|%-5s|%05s|%.2s|%5.1s|%-4q|" "ab" "ab" "ab" .Str .Str "x" }}',
        '   ab|ab   |000ab|hé|    h|"x" |',
    ),
    (
        '{{ printf "%05d|%-5d|%+d|% d|%.3d|%08.3d|%x|%X|%#x|%o|%#o|%O|%b|%#b" -42 7 5 5 5 7 -255 255 255 8 8 8 5 5 }}',
        "-0042|7    |+5| 5|005|     007|-ff|FF|0xff|10|010|0o10|101|0b101",
    ),
    ('{{ printf "%c|%c|%q|%U|%5c" 65 0x1F600 66 0x1F600 67 }}', "A|😀|'B'|U+1F600|    C"),
    (
        '{{ printf "%.2f|%e|%E|%g|%G|%8.3f|%-8.2e|%+.1f|% .1f|%010.2f" 3.14159 1234.5 1.5 0.000001 1e-7 2.5 12345.678 2.0 2.0 -3.14159 }}',
        "3.14|1.234500e+03|1.500000E+00|1e-06|1E-07|   2.500|1.23e+04|+2.0| 2.0|-000003.14",
    ),
    ('{{ printf "%.3g|%.10g|%6.3v|%.0f|%.1f" 1234.5678 2.0 3.14159 2.5 0.05 }}', "1.23e+03|2|  3.14|2|0.1"),
    (
        '{{ printf "%x|%X|%.1x|%q|%+q" "hi" "hi" "hello" "é\\t\\u00a0" "é" }}',
        '6869|6869|68|"é\\t\\u00a0"|"\\u00e9"',
    ),
    ('{{ printf "%x|%X|%b|%b" 3.0 1.0 1.0 5e-324 }}', "0x1.8p+01|0X1P+00|4503599627370496p-52|1p-1074"),
    ('{{ printf "%T|%T|%T|%T" 1 nil .List (add 1 1) }}', "int|<nil>|[]interface {}|int64"),
    # containers apply the verb to their elements; a nil element prints <nil>
    (
        '{{ printf "%s|%d|%q" .Map .List .List }}',
        "map[a:x b:%!s(int=1)]|[%!d(string=a) 1 <nil>]|[\"a\" '\\x01' <nil>]",
    ),
    # Go's error forms
    ('{{ printf "%d|%s|%t" "a" 1 1 }}', "%!d(string=a)|%!s(int=1)|%!t(int=1)"),
    (
        '{{ printf "%d %s" }}|{{ printf "%d" 1 2 "x" }}|{{ printf "%z" 1 }}|{{ printf "%" }}|{{ printf "%5" }}',
        "%!d(MISSING) %!s(MISSING)|1%!(EXTRA int=2, string=x)|%!z(int=1)|%!(NOVERB)|%!(NOVERB)",
    ),
    (
        '{{ printf "%v|%s|%d" nil nil nil }}|{{ printf "%d" 1 nil }}',
        "<nil>|%!s(<nil>)|%!d(<nil>)|1%!(EXTRA <nil>)",
    ),
]


@pytest.mark.parametrize(("template", "expected"), PRINTF)
def test_printf(template: str, expected: str) -> None:
    assert render_go(template, DATA, top_level="map") == expected


INDEXES_AND_STARS = [
    ('{{ printf "%[2]s %[1]s|%[1]d %d" "a" "b" }}', "b a|%!d(string=a) %!d(string=b)"),
    (
        '{{ printf "%[3]d|%[0]d|%[x]d|%[1]5d|%[1].2f" 1 2.5 }}',
        "%!d(BADINDEX)|%!d(BADINDEX)|%!d(BADINDEX)|%!d(BADINDEX)|%!f(BADINDEX)",
    ),
    (
        '{{ printf "%[1]*d|%-*d|%*d|%.*f|%.*f" 4 7 -4 7 "x" 7 2 3.14159 -1 2.5 }}',
        "   7|7   |%!(BADWIDTH)7|3.14|%!(BADPREC)2.500000",
    ),
    (
        '{{ printf "%*d" 1 }}|{{ printf "%[" 1 }}|{{ printf "%[1" 1 }}|{{ printf "%2[1]d" 5 }}',
        "%!d(MISSING)|%!(NOVERB)|%!(NOVERB)| 5",
    ),
    ('{{ printf "%d %d" 1 2 3 }}|{{ printf "%[1]d" 1 2 3 }}', "1 2%!(EXTRA int=3)|1"),
    (
        '{{ printf "%99999999d" 1 }}|{{ printf "%-05d|%0-5d|%w|%p" 3 3 1 "s" }}',
        "%!(NOVERB)%!(EXTRA int=1)|3    |3    |%!w(int=1)|%!p(string=s)",
    ),
]


@pytest.mark.parametrize(("template", "expected"), INDEXES_AND_STARS)
def test_argument_indexes_and_star_widths(template: str, expected: str) -> None:
    assert render_go(template, DATA, top_level="map") == expected


def test_unsupported_printf_forms() -> None:
    with pytest.raises(TemplateError) as caught:
        render_go('{{ printf "%p" (list 1.5) }}', {})
    assert caught.value.reason == "UnsupportedTemplate"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.0, "-0"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (0.1, "0.1"),
    ],
)
def test_float_v(value: float, expected: str) -> None:
    assert format_float(value) == expected


def test_sprint_spacing() -> None:
    """Spaces only between two operands that are both not strings."""
    assert sprint([1, 2, "a", "b", 3, None, None]) == "1 2ab3 <nil> <nil>"
    assert sprintf("%s-%d", ["a", 1]) == "a-1"


def test_quote() -> None:
    assert (
        quote('a"b\\c\n\t\x00\x7fé\u00a0\U0001f600\u2028') == '"a\\"b\\\\c\\n\\t\\x00\\x7fé\\u00a0😀\\u2028"'
    )
    assert quote("é", ascii_only=True) == '"\\u00e9"'
    assert quote_rune(0xD800) == "'�'"
    assert quote_rune(39) == "'\\''"
