"""irc.ecr's globs against Go's path.Match (hack/go-oracle, from hack/build-binaries.sh).

For every (glob, name): Go's ErrBadPattern ⇔ ValueError here, and otherwise the same answer, from
``compile_glob`` and from ``RepositoryMatcher``. Globs with ``**`` (irc's addition) are left out.
path.Match may report ErrBadPattern only once matching reaches the bad part; since Go 1.16 it finishes
checking the rest of the pattern when a match fails, and the tests below find no glob that Go accepts
for one name and rejects for another, so irc's rejecting every malformed glob up front is no difference.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.ecr.match import RepositoryMatcher, compile_glob
from tests.ecr import test_match as unit


def _irc(glob: str, name: str) -> tuple[bool, bool]:
    try:
        regex = compile_glob(glob, "ecrRepository.repositoryPattern")
    except ValueError as err:
        assert str(err).startswith("ecrRepository.repositoryPattern: "), err
        return False, False
    matched = regex.match(name) is not None
    if glob and name:
        matcher = RepositoryMatcher.parse({"repositoryPattern": glob})
        assert matcher.repository_matches(name) is matched
        assert RepositoryMatcher.parse({"repositoryPattern": "**", "exclude": [glob]}).repository_matches(
            name
        ) is (not matched)
        if "/" not in glob and "/" not in name:
            by_last = RepositoryMatcher.parse({"imageNamePattern": glob})
            assert by_last.repository_matches("team/" + name) is matched
    return True, matched


def disagreements(oracle: Oracle, pairs: list[tuple[str, str]]) -> list[str]:
    pairs = [(g, n) for g, n in pairs if "**" not in g]
    answers = oracle.ask([{"op": "match", "pattern": g, "name": n} for g, n in pairs])
    out = []
    for (glob, name), go in zip(pairs, answers, strict=True):
        mine, theirs = _irc(glob, name), (go["ok"], go["matched"] and go["ok"])
        if mine != theirs:
            out.append(f"{glob!r} on {name!r}: irc (valid, matched) {mine}, path.Match {theirs}")
    return out


GLOBS = [
    "", "*", "a*", "*a", "a*b", "a*/b", "*/*", "a/*", "?", "a?b", "??", "?/?", "[a-z]", "[a-z]*", "[^a]",
    "[^a]*", "[!a]", "[!]", "[^/]", "a[/]b", "[--0]", "[\\-]", "[\\]]", "[\\^a]", "[a\\-z]", "[z-a]",
    "[^z-a]", "[a-a]", "\\*", "\\?", "\\[", "\\a", "a\\*b", "[*]", "[?]", "[a*b]", "*[", "[", "[a", "[a-",
    "[a-]",
    "[-a]", "[]", "[]a]", "[^]", "[^", "[a-b-c]", "[a--]", "\\", "a\\", "[\\", "[a\\]", "*\\", "a*[", "a[",
    "[x]*[", "x*y*[", "*x*[", "[a]]", "a]", "]", "^", "!", "-", "a-b", "[☺]", "[^☺]", "☺*", "*☺",
    "webapp/*", "team-?/*-api", "*/nginx-[0-9]*",
]  # fmt: skip
NAMES = [
    "", "a", "b", "ab", "ba", "a/b", "abc", "a/b/c", "/", "//", "!", "-", "*", "?", "[", "]", "\\", "^",
    "z", "0", "-0", "☺", "a☺b", "webapp/api", "team-a/x-api", "x/nginx-1", "a\nb",
]  # fmt: skip


def test_hand_picked_globs(oracle: Oracle) -> None:
    assert disagreements(oracle, list(itertools.product(GLOBS, NAMES))) == []


def test_unit_table_agrees_with_path_match(oracle: Oracle) -> None:
    """tests/ecr/test_match.py's expectations (without `**`) are path.Match's answers too."""
    pairs = [(g, n) for g, n, _ in unit.GLOBS] + [(g, "x") for g, _ in unit.MALFORMED]
    assert disagreements(oracle, pairs) == []
    answers = oracle.ask([{"op": "match", "pattern": g, "name": "x"} for g, _ in unit.MALFORMED])
    assert [a["ok"] for a in answers] == [False] * len(unit.MALFORMED)


def test_bad_patterns_are_bad_for_every_name(oracle: Oracle) -> None:
    """Go's lazy ErrBadPattern is still reported for names that fail early or late."""
    bad = ["a[", "*[", "x*y*[", "[a-", "ab\\", "*/x[", "a*b[", "[a]*[b-"]
    names = ["", "a", "b", "x", "xy", "ab", "a/b", "zzz/x", "xyz"]
    answers = oracle.ask([{"op": "match", "pattern": g, "name": n} for g in bad for n in names])
    assert {a["ok"] for a in answers} == {False}


_ALPHABET = "ab/*?[]^!-\\"
_globs = st.text(alphabet=_ALPHABET, max_size=8).filter(lambda g: "**" not in g)
_names = st.text(alphabet="ab/!-^[]\\*?", max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_globs, min_size=8, max_size=8), st.lists(_names, min_size=8, max_size=8))
def test_generated_globs(oracle: Oracle, globs: list[str], names: list[str]) -> None:
    """Every generated glob on every generated name (64 cases per example)."""
    assert disagreements(oracle, list(itertools.product(globs, names))) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["a", "b", "?", "*", "[ab]", "[^a]", "\\*", "/"]), max_size=6)))
def test_generated_valid_globs(oracle: Oracle, pieces: list[list[str]]) -> None:
    """Well-formed globs, so matching (not rejection) is what gets compared."""
    globs = ["".join(p) for p in pieces] or ["a*"]
    names = ["", "a", "ab", "a/b", "ba/a", "*", "b/", "aab", "a*b"]
    assert disagreements(oracle, list(itertools.product(globs, names))) == []
