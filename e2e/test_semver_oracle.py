"""irc.tags.semver against the real Masterminds/semver v3 (hack/go-oracle, from hack/build-binaries.sh).

The oracle answers JSON lines: ``check`` is ``NewConstraint`` + ``NewVersion`` + ``Check``; ``compare`` is
``NewVersion`` on both sides + ``Compare`` (loose, as ``compare_versions`` documents). Every table row and
every generated case must agree on validity and on the answer.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.tags import Constraint, compare_versions
from tests.tags import test_semver as unit


def _irc_check(text: str, version: str) -> tuple[bool, bool]:
    """(constraint_ok, matches) as irc sees them."""
    try:
        constraint = Constraint(text)
    except ValueError:
        return False, False
    return True, constraint.matches(version)


def _irc_compare(a: str, b: str) -> tuple[bool, int]:
    try:
        return True, compare_versions(a, b)
    except ValueError:
        return False, 0


def check_disagreements(oracle: Oracle, pairs: list[tuple[str, str]]) -> list[str]:
    answers = oracle.ask([{"op": "check", "constraint": c, "version": v} for c, v in pairs])
    out = []
    for (c, v), go in zip(pairs, answers, strict=True):
        ok, matches = _irc_check(c, v)
        if ok != go["constraint_ok"]:
            out.append(f"{c!r}: irc valid={ok}, Masterminds valid={go['constraint_ok']}")
        elif ok and matches != go["matches"]:
            out.append(f"{c!r} on {v!r}: irc {matches}, Masterminds {go['matches']}")
    return out


def compare_disagreements(oracle: Oracle, pairs: list[tuple[str, str]]) -> list[str]:
    answers = oracle.ask([{"op": "compare", "a": a, "b": b} for a, b in pairs])
    out = []
    for (a, b), go in zip(pairs, answers, strict=True):
        mine = _irc_compare(a, b)
        theirs = (go["ok"], go["result"])
        if mine != theirs:
            out.append(f"compare({a!r}, {b!r}): irc {mine}, Masterminds {theirs}")
    return out


# Hand-picked constraints; each is checked against every version in VERSIONS below.
CONSTRAINTS = [
    # every operator, full and partial
    *(f"{op}{v}" for op in ("", "=", "!=", ">", "<", ">=", "=>", "<=", "=<") for v in ("1.2.3", "1.2", "1")),
    "= 1.2.3", ">= 1.2", "<  2", "!= 1.2.x",
    # tilde and caret, with the zero-major rules
    "~1.2.3", "~1.2", "~1", "~>1.2", "~> 1.2.3", "~0.0.0", "~0", "~*", "~1.x", "~1.2.3-beta.2",
    "^1.2.3", "^1.2", "^1", "^0.2.3", "^0.2", "^0.0.3", "^0.0", "^0", "^0.0.0", "^*", "^1.x", "^1.x-0",
    "^0.0.x", "^0.x", "^1.2.3-alpha",
    # wildcards
    "*", "x", "X", "1.x", "1.X", "1.*", "1.2.x", "x.x.x", "*-0", "1.x-0", ">1.x", "<1.x", ">=1.x", "<=1.x",
    ">1.1.x", "<=1.1.x", "!=*", "<=*", ">*", "<*", ">=*", "=*", "1.x.3", "x.2.3",
    # hyphen ranges
    "1.1 - 2", "1.2.3 - 2.3.4", "1.2 - 2.x", "v1 - v2", "1.0.0-0 - 2.0.0", "1.0.0 - 2.0.0-rc.1", "1.1-3",
    "1 - 2 || 4 - 5", "1.0.0 - 2.0.0, <=1.5",
    # AND and OR
    ">1.1, <2", ">1.1 <2", ">1.1,<2", ">=1.1    <2    !=1.2.3", ">= 1.1, <2, != 1.2.3 || > 3", "1 || 2 || 3",
    ">=1.0.0-0 <2", ">=1.0.0 <2.0.0-0", ">=1.0.0 <2.0.0 || >=3.0.0-0", "<1.0.0-0 || >=2", "1.2.3 1.2.4",
    # v prefixes, build metadata, leading zeros, long prereleases
    "v1.2.3", ">=v1.2", "^v1", "1.2.3+build", ">=1.2.3+b.1", "01.2.3", ">=1.02", "^01.0.0", "1.2.3-01",
    "1.2.3-0a", "v2.3.5-20161202202307-sha.e8fc5e5", ">=1.2.3-alpha.beta.1", "<1.2.3-rc.10",
    # whitespace oddities
    " 1.2.3", "1.2.3 ", "\t>=1.2", ">=1.2\n", "  ^1  ||  ~2  ", ">=1.2 ,<2", ">= 1.2 , < 2",
    "1.2 -2", "1.2- 2", "1.2.3\v", "1.2.3\u00a0", ">=\t1",
    # invalid
    "", " ", "foo", ">= bar", "1 ||", "|| 1", "1 | 2", "==1.2", ">=1.2,", ">=1.2,,<2", "1x", "12.3.4.1234",
    "18446744073709551616", "1.2.3-", "1.2.3-a..b", "1.2.3+", "V1.2.3", ">=1.0 - 2", "~ 1", "^ 1", "! 1",
    ">>1", "1 2 ,", "latest", "1.2.3 - ", "- 1.2.3", "1.2.3--", "1.2.3-a_b",
    # "|" is in Masterminds' version-part class, and hyphen ranges are rewritten before the split on "||"
    "0||0 - 0", "0 0||0 - 0", "1 - 2||3", "1||2 - 3", "1.x.|", "*.|", "x.|.|", "1.2.|", "1|2", "1 |2",
    "1 - 2|", "|1", "1|||2", "1 - 2||",
    # Masterminds' length limits: 512 characters of constraint, 32 || branches, 256 characters of version
    " ".join([">=1"] * 128) + " ", " ".join([">=1"] * 128) + "  ", " || ".join(["1"] * 32),
    " || ".join(["1"] * 33), "1.2.3-" + "a" * 250, "1.2.3-" + "a" * 251,
]  # fmt: skip

VERSIONS = [
    "0.0.0", "0.0.1", "0.0.3", "0.0.4", "0.1.0", "0.2.3", "0.2.5", "0.3.0", "1.0.0", "1.1.0", "1.1.1",
    "1.2.0", "1.2.2", "1.2.3", "1.2.4", "1.3.0", "1.5.0", "1.9.9", "2.0.0", "2.3.4", "2.3.5", "3.0.0",
    "4.5.0", "10.0.0",
    # prereleases and build metadata
    "0.0.0-0", "0.0.1-alpha", "1.0.0-0", "1.2.3-alpha", "1.2.3-alpha.1", "1.2.3-beta.2", "1.2.3-beta.4",
    "1.2.3-rc.10", "1.2.4-beta.2", "1.5.0-beta", "2.0.0-rc.1", "3.1.0-rc.1", "1.2.3+b", "1.2.3-rc.1+b.2",
    # loose forms
    "v1.2.3", "1.2", "v1", "1", "01.02.03", "1.02", "v2.3.5-20161202202307-sha.e8fc5e5",
    # not versions
    "", "latest", "V1.2.3", "1.2.3.4", "1.2.3-01", "1.2.3-", " 1.2.3", "1.2.3 ", "18446744073709551616",
    "1.x", "1.2.3-" + "a" * 250, "1.2.3-" + "a" * 251,
]  # fmt: skip


def test_hand_picked_constraints(oracle: Oracle) -> None:
    assert check_disagreements(oracle, list(itertools.product(CONSTRAINTS, VERSIONS))) == []


def test_unit_tables_agree_with_masterminds(oracle: Oracle) -> None:
    """The expectations written into tests/tags/test_semver.py are Masterminds' answers too."""
    checks = [(c, v) for c, v, _ in unit.MATCHES] + [(c, "1.0.0") for c in unit.INVALID + unit.VALID]
    answers = oracle.ask([{"op": "check", "constraint": c, "version": v} for c, v in checks])
    got = [(a["constraint_ok"], a["matches"]) for a in answers[: len(unit.MATCHES)]]
    assert got == [(True, m) for _, _, m in unit.MATCHES]
    rest = [a["constraint_ok"] for a in answers[len(unit.MATCHES) :]]
    assert rest == [False] * len(unit.INVALID) + [True] * len(unit.VALID)
    compared = oracle.ask([{"op": "compare", "a": a, "b": b} for a, b in itertools.pairwise(unit.SPEC_ORDER)])
    assert compared == [{"ok": True, "result": -1}] * (len(unit.SPEC_ORDER) - 1)


def test_hand_picked_comparisons(oracle: Oracle) -> None:
    candidates = VERSIONS + unit.SPEC_ORDER
    pairs = list(itertools.product(candidates, candidates))
    assert compare_disagreements(oracle, pairs) == []


# A small grammar over few numbers, so that versions land on and near the constraints' bounds. Each piece
# has a clean form and a noisy one that adds the mistakes people make (empty or leading-zero prerelease
# identifiers, a bare "+", a hyphen without spaces, doubled commas, a stray "|", odd whitespace); the
# clean grammar yields only valid text, so most generated cases exercise matching rather than rejection.
def _pick(clean: list[str], noise: list[str], noisy: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(clean + noise if noisy else clean)


def _joined(items: st.SearchStrategy[str], seps: st.SearchStrategy[str], most: int) -> st.SearchStrategy[str]:
    """One to ``most`` items with a separator drawn between each pair."""
    return st.lists(st.tuples(seps, items), min_size=1, max_size=most).map(
        lambda pairs: "".join(sep + item for sep, item in pairs)[len(pairs[0][0]) :]
    )


def _versions(noisy: bool, wildcards: bool = False) -> st.SearchStrategy[str]:
    numbers = ["0", "1", "2", "3", "10", "01", "00"] + (["x", "X", "*"] if wildcards else [])
    numbers += ["|"] if noisy and wildcards else []
    pre = ["-0", "-1", "-alpha", "-alpha.1", "-beta.2", "-beta.10", "-rc.1", "-a-b", "-0a", "-x", "-1.alpha"]
    return st.builds(
        lambda v, parts, pre, build: v + ".".join(parts) + pre + build,
        st.sampled_from(["", "", "", "v"]),
        st.lists(st.sampled_from(numbers), min_size=1, max_size=3),
        _pick([""] * len(pre) + pre, ["-", "-a..b", "-01", "-1.01"], noisy),
        _pick([""] * 12 + ["+b", "+build.1", "+001", "+x-y"], ["+", "+a..b"], noisy),
    )


def _constraints(noisy: bool) -> st.SearchStrategy[str]:
    version = _versions(noisy, wildcards=True)
    ops = st.sampled_from(["", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"])
    comparator = st.builds(
        lambda op, ws, v: op + ws + v, ops, _pick(["", "", " "], ["  ", "\t"], noisy), version
    )
    dash = _pick([" - "], ["  -  ", "\t-\t", "-", " -", "- "], noisy)
    hyphen = st.builds(lambda a, sep, b: a + sep + b, version, dash, version)
    branch = _joined(
        st.one_of(comparator, comparator, hyphen),
        _pick([" ", ", ", ","], ["  ", " , ", "\t", ",,"], noisy),
        3,
    )
    pad = _pick([""], [" ", "\t", "\n", "\v"], noisy)
    text = _joined(branch, _pick([" || ", "||"], ["  ||  ", " | ", "|||"], noisy), 3)
    return st.builds(lambda lead, text, trail: lead + text + trail, pad, text, pad)


_junk_versions = st.text(alphabet="0123456789.vxX*-+ ", max_size=8)
versions = st.one_of(_versions(noisy=False), _versions(noisy=False), _versions(noisy=True), _junk_versions)
_junk_constraints = st.text(alphabet="0123456789.xX*-+v<>=!~^|, ", max_size=10)
_clean = _constraints(noisy=False)
constraints = st.one_of(_clean, _clean, _clean, _constraints(noisy=True), _junk_constraints)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(constraints, min_size=10, max_size=10), st.lists(versions, min_size=10, max_size=10))
def test_generated_constraints(oracle: Oracle, texts: list[str], candidates: list[str]) -> None:
    """Every generated constraint against every generated version (100 checks per example)."""
    assert check_disagreements(oracle, list(itertools.product(texts, candidates))) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(versions, min_size=12, max_size=12))
def test_generated_comparisons(oracle: Oracle, candidates: list[str]) -> None:
    """Every ordered pair of the generated versions (144 comparisons per example)."""
    assert compare_disagreements(oracle, list(itertools.product(candidates, candidates))) == []
