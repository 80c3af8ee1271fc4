"""irc.tags.goregex: Go (RE2) regexps translated to Python re, construct by construct.

The expectations are Go's (e2e/test_go_oracle_regex.py checks these constructs against Go itself).
"""

from __future__ import annotations

import pytest

from irc.tags import TagFilter, compile_go_regex
from irc.tags.goregex import go_group_names


def found(pattern: str, text: str) -> str | None:
    match = compile_go_regex(pattern, "f").search(text)
    return None if match is None else match.group()


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # $ is the very end without (?m), as \z; ^ the very start
        ("a$", "a\n", None),
        ("(?m)a$", "a\nb", "a"),
        ("a\\z", "a\n", None),
        ("(?m)^b", "a\nb", "b"),
        ("^b", "a\nb", None),
        ("^*a", "a", "a"),
        # POSIX classes, which Python's re reads as a nested set
        ("[[:digit:]]+", "ab12c", "12"),
        ("[[:^alpha:]]+", "ab1-2c", "1-2"),
        ("[[:alpha:][:digit:]_]+", "-a_1-", "a_1"),
        ("[[:xdigit:]]+", "xyzBEEF", "BEEF"),
        # \Q...\E
        ("\\Q.*\\E", "a.*b", ".*"),
        ("\\Qa+b", "aa+b", "a+b"),
        ("\\Qab\\E+", "abbb", "abbb"),
        # (?U) swaps greedy and lazy
        ("(?U)a+", "aaa", "a"),
        ("(?U)a+?", "aaa", "aaa"),
        # Unicode general categories
        ("\\pL+", "1Ωé2", "Ωé"),
        ("\\p{Lu}+", "aΩÉb", "ΩÉ"),
        ("\\PL+", "ab12cd", "12"),
        ("\\p{^L}+", "ab12cd", "12"),
        ("\\p{Nd}+", "x٣3x", "٣3"),
        ("\\p{Letter}", "1b", "b"),
        # ASCII perl classes and boundaries, as Go's
        ("\\d+", "٣12", "12"),
        ("\\w+", "éab_1é", "ab_1"),
        ("\\s+", "a\v\t b", "\t "),
        ("a\\b", "aé", "a"),  # é is no ASCII word character
        ("\\B", "", ""),
        # case folding orbits and scoped flags
        ("(?i)k", "\u212a", "\u212a"),
        ("(?i)\\W", "\u212a", None),
        ("a(?i)b|c", "C", "C"),
        ("(?i:a)b", "AB", None),
        ("(?s).", "\n", "\n"),
        (".", "\n", None),
        # escapes
        ("\\x{41}\\x42\\101", "ABA", "ABA"),
        ("\\0", "\x00", "\x00"),
        ("\\12", "\n", "\n"),
        ("\\_", "_", "_"),
        # literal { where it is no count, like Go
        ("a{,2}", "a{,2}", "a{,2}"),
        ("a{01}", "a{01}", "a{01}"),
        ("a{2}", "aaa", "aa"),
        # classes
        ("[]a]+", "x]a", "]a"),
        ("[a-]+", "x-a", "-a"),
        ("[a-b-c]+", "x-cab", "-cab"),
        ("[^\\x00-\\x{10FFFF}]", "abc", None),
    ],
)
def test_go_semantics(pattern: str, text: str, expected: str | None) -> None:
    assert found(pattern, text) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        # lookarounds, backreferences and other Perl/Python-only syntax are compile errors in Go
        "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?P=n)", "(?#c)", "(?>a)", "(?(1)a|b)",
        # possessive and stacked repeats
        "a++", "a*+", "a**", "a*??", "x{2}{3}",
        # repeat counts over 1000, also nested
        "a{1001}", "a{2,1}", "(a{50}){21}", "((a{10}){10}){11}",
        # escapes Go does not know
        "a\\Z", "\\C", "\\é", "\\e", "\\1", "\\8", "\\x{110000}", "\\x4", "a\\",
        # classes
        "[[:foo:]]", "[z-a]", "[]", "[a", "[a-\\d]", "[\\b]", "\\p{Foo}", "\\p{}", "\\pX",
        # groups and flags
        "(", ")", "(?i", "(?-)", "(?i-)", "(?x)a", "(?P<>a)", "(?P<a-b>a)", "*", "a|*", "(?i)*",
    ],
)  # fmt: skip
def test_rejected_like_go_naming_the_field(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"^filterTags\.pattern: invalid regular expression"):
        compile_go_regex(pattern, "filterTags.pattern")


def test_unicode_scripts_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match=r"^pattern\.regex: .*\\p\{Greek\}.*not supported"):
        compile_go_regex("\\p{Greek}", "pattern.regex")


def test_go_group_names_allow_digits_and_duplicates() -> None:
    regex = compile_go_regex("(?P<1>a)(b)(?<n>c)?(?P<n>d)", "f")
    assert go_group_names(regex) == ["", "1", "", "n", "n"]
    # $1 is group number 1; ${n} is the first group named n that took part
    assert TagFilter("(?P<1>a)(b)(?<n>c)?(?P<n>d)", "$1-${n}").key("abd") == "a-d"
    assert TagFilter("(?P<1>a)(b)(?<n>c)?(?P<n>d)", "${n}").key("abcd") == "c"


def test_a_flags_group_repeats_what_precedes_it() -> None:
    assert found("a(?i)*", "aaa") == "aaa"
