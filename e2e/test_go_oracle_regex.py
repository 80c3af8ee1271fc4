"""irc.tags' Go regexps against Go's regexp (hack/go-oracle, from hack/build-binaries.sh).

For each (pattern, text, template): both sides agree on whether the pattern compiles; if it does, on
whether it finds a match in the text (unanchored, ``FindStringSubmatchIndex``), on every submatch
(None where a group took no part), and on the template expanded by Flux's filterTags extract rules
(``Regexp.ExpandString``). The one known difference is excluded: irc rejects Unicode scripts
(``\\p{Greek}``), which Go accepts.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.tags import compile_go_regex
from irc.tags.select import _expand


def _irc(pattern: str, text: str, template: str) -> dict[str, Any]:
    try:
        regex = compile_go_regex(pattern, "filterTags.pattern")
    except ValueError as err:
        assert str(err).startswith("filterTags.pattern: "), err
        return {"ok": False}
    match = regex.search(text)
    if match is None:
        return {"ok": True, "matched": False, "groups": None, "expanded": ""}
    groups = [match.group(i) if match.start(i) >= 0 else None for i in range(regex.groups + 1)]
    return {"ok": True, "matched": True, "groups": groups, "expanded": _expand(template, match)}


def disagreements(oracle: Oracle, cases: list[tuple[str, str, str]]) -> list[str]:
    answers = oracle.ask([{"op": "regex", "pattern": p, "text": t, "template": x} for p, t, x in cases])
    out = []
    for (pattern, text, template), go in zip(cases, answers, strict=True):
        mine = _irc(pattern, text, template)
        if not go["ok"]:
            go = {"ok": False}
        else:
            del go["error"]
        if mine != go:
            out.append(f"{pattern!r} on {text!r} with {template!r}: irc {mine}, Go {go}")
    return out


PATTERNS = [
    # anchors: Go's $ is the very end unless (?m); \z, \A; \Z is no Go escape
    "^a$", "a$", "(?m)a$", "(?m)^b", "a\\z", "\\Aa", "a\\Z", "^", "$", "^*", "$+", "\\b*", "(?m:^)a",
    # ASCII perl classes and word boundaries
    "\\d+", "\\D+", "\\w+", "\\W+", "\\s+", "\\S+", "\\bv\\d", "\\B\\d", "[\\d.]+", "[^\\w]", "[\\D]",
    # POSIX classes, negated, inside bigger classes; unknown and unterminated names
    "[[:digit:]]+", "[[:alpha:][:digit:]]+", "[[:^alpha:]]+", "[^[:space:]]+", "[[:word:]-]+",
    "[[:xdigit:]]+", "[[:punct:]]", "[[:foo:]]", "[[:alpha:]", "[[:alpha]]", "[[:a]b:]]", "[[:]", "[:alpha:]",
    # Unicode categories
    "\\pL+", "\\p{L}+", "\\p{Lu}", "\\PL+", "\\p{^L}+", "\\P{^Lu}", "\\pN+", "\\p{Nd}+", "[\\p{Lu}\\d]+",
    "\\p{Letter}", "\\p{lu}", "\\p{Any}+", "\\p{Assigned}", "\\p{ASCII}+", "\\p{LC}", "\\p{}", "\\p{Lu",
    "\\pX", "\\p", "\\p{Foo}", "(?i)\\p{Lu}+", "(?i)\\P{Ll}",
    # \Q...\E, escapes, octal, hex
    "\\Q.*\\E", "\\Qa.b", "\\Qab\\E+", "\\Q\\E*", "\\x41", "\\x{41}", "\\x{10FFFF}", "\\x{110000}", "\\x{}",
    "\\x4", "\\x", "\\101", "\\0", "\\08", "\\1", "\\12", "\\8", "\\_", "\\-", "\\é", "\\C", "\\E", "a\\",
    "\\a\\f\\t\\n\\r\\v", "\\e", "\\u0041", "\\N", "\\G", "\\K", "\\R", "\\X", "\\h",
    # flags, scoped and not
    "(?i)abc", "a(?i)b|c", "(?i:a)b", "(?i)a(?-i)b", "(?s).", ".", "(?s:.)a", "(?U)a+", "(?U)a+?", "(?U:a*)a",
    "(?m-s:a.$)", "(?)", "(?-)", "(?i-)", "(?--i)", "(?x)a", "(?i", "(?i)k", "(?i)s", "(?i)[k]", "(?i)[^k]",
    "(?i)\\W", "(?i)[\\W]", "(?i)ǅ", "a(?i)*", "(?i)*",
    # groups and names
    "(?P<n>a)", "(?<n>a)", "(?P<1>a)", "(?P<n>a)(?P<n>b)", "(?P<>a)", "(?P<a-b>x)", "(?P<é>x)", "(?P<n",
    "(?P=n)", "(?P>n)", "(a)(b)?", "(a)|(b)", "()", "(|a)", "(?:)", "(", ")", "a)", "((a)",
    # RE2 rejects these; Python's re would accept them
    "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?#c)", "a++", "a*+", "a?+", "a{2}+", "(?>a)",
    "(?(1)a|b)",
    # repetition
    "a**", "a*?", "a*??", "a{2}", "a{2,}", "a{2,3}", "a{2,3}?", "a{,2}", "a{", "a{x}", "a{2", "a{01}",
    "a{1,02}", "a{0}", "a{1000}", "a{1001}", "a{1000,}", "a{2,1}", "{2}", "x{2}{3}", "(a{50}){20}",
    "(a{50}){21}", "(a{2}|b{600}){2}", "(a{0}){1000}", "((a{10}){10}){10}", "((a{10}){10}){11}", "*", "+a",
    "a|*", "(*)", "a{1}{2}", "(?:a{1000}){1}", "(?:a{1000}){0,1}", "(?:a{1000}){0,2}",
    # classes
    "[]a]", "[^]a]", "[a-]", "[-a]", "[a-b-c]", "[\\d-z]", "[a-\\d]", "[z-a]", "[]", "[^]", "[", "[a",
    "[\\]]", "[\\b]", "[\\Q]", "[.]", "[^\\x00-\\x{10FFFF}]", "[^a]", "(?i)[a-c]", "[\\pL-]",
    # tag-shaped
    "^v?(\\d+)\\.(\\d+)\\.(\\d+)$", "^(dev|staging|prod)-", "^main-(?P<n>[0-9]+)-", "-rc\\.([0-9]+)$",
    "^(?P<major>\\d+)\\.(?P<minor>\\d+)", "^[a-f0-9]{7}$", "(?P<ts>[0-9]{8})-(?P<sha>[a-f0-9]+)",
]  # fmt: skip

TEXTS = [
    "", "a", "ab", "abc", "AbC", "b", "a\n", "a\nb", "\n", "v1.2.3", "1.2.3", "dev-1.2.0", "prod-v2",
    "main-101-abc", "1.0.0-rc.12", "20240101-abcdef1", "abc1234", "ǅǆǄ", "kKK", "sS\u017f", "Σσς", "ÉéΩ",
    "٣३",    "a{2}", "{2}", "x  y", "_-.", "*a*", "aaa", "a b\tc", ".*", "\x00\a", "\U0010ffff",
]  # fmt: skip

TEMPLATES = ["", "$1", "${1}x", "$1x", "$n", "${n}", "$0-$2", "$$1", "$", "${", "${1", "$01", "$name", "$3"]


def test_hand_picked_regexes(oracle: Oracle) -> None:
    cases = [(p, t, x) for (p, t), x in zip(itertools.product(PATTERNS, TEXTS), itertools.cycle(TEMPLATES))]
    assert disagreements(oracle, cases) == []


def test_hand_picked_templates(oracle: Oracle) -> None:
    patterns = ["(a)(b)?", "(?P<n>a)(?P<n>b)?", "(?P<n>x)?(?P<n>a)", "(?P<1>a)(b)", "(?P<name>a+)(?P<_x>b)?"]
    templates = [*TEMPLATES, "$_x", "${_x}", "$n$n", "$ñ", "${n}}", "$1$", "$12", "$999999999", "$1e"]
    cases = [(p, t, x) for p in patterns for t in ("a", "ab", "xab", "") for x in templates]
    assert disagreements(oracle, cases) == []


def test_unicode_scripts_are_the_documented_difference(oracle: Oracle) -> None:
    (go,) = oracle.ask([{"op": "regex", "pattern": "\\p{Greek}", "text": "Ω", "template": ""}])
    assert go["ok"] and go["matched"]
    with pytest.raises(ValueError, match=r"^filterTags\.pattern: .*Greek"):
        compile_go_regex("\\p{Greek}", "filterTags.pattern")


# A small grammar: atoms over a tiny alphabet (cased letters with Unicode folds, a digit, a newline),
# every class form, anchors and escapes, groups of every kind, all repetition operators, and noise
# characters that make many patterns malformed in one way or another.
_ATOMS = [
    "a", "b", "k", "s", "K", "1", ".", "\\n", "\\.", "\\d", "\\w", "\\s", "\\W", "\\b", "\\B", "^", "$",
    "\\A", "\\z", "[ab]", "[^a]", "[a-k]", "[[:alpha:]]", "[[:^digit:]]", "\\pL", "\\PL", "\\p{Lu}",
    "\\Qa.\\E",    "\\x61", "\\141", "[]a]", "[a-]", "[\\d-]",
]  # fmt: skip
_NOISE = ["(", ")", "[", "]", "{", "}", "\\", "|", "*", "?", "-", "^", ",", "2", ":", "<", "P", "=", "!"]
_OPS = ["", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{0,}", "{,1}", "{2,1}", "**", "++"]
_OPENERS = ["(", "(?:", "(?i)", "(?i:", "(?m)", "(?s)", "(?U)", "(?-i:", "(?P<g>", "(?<h>", "(?i-s:"]


@st.composite
def _regexes(draw: st.DrawFn, depth: int = 2) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 9))
        if kind == 0 and depth > 0:
            inner = draw(_regexes(depth - 1))
            opener = draw(st.sampled_from(_OPENERS))
            body = opener + inner + ("" if opener.endswith(")") else ")")
        elif kind == 1:
            body = draw(st.sampled_from(_NOISE))
        elif kind == 2:
            body = "|"
        else:
            body = draw(st.sampled_from(_ATOMS))
        parts.append(body + draw(st.sampled_from(_OPS)))
    return "".join(parts)


_texts = st.text(alphabet="abkKsS\u017f1 .\n-", max_size=6)
_templates = st.sampled_from(["", "$1", "$2x", "${g}", "$h", "$0", "<$1|${2}>"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_regexes(), min_size=6, max_size=6), st.lists(_texts, min_size=6, max_size=6), _templates)
def test_generated_regexes(oracle: Oracle, patterns: list[str], texts: list[str], template: str) -> None:
    """Every generated pattern on every generated text (36 cases per example)."""
    cases = [(p, t, template) for p, t in itertools.product(patterns, texts)]
    assert disagreements(oracle, cases) == []
