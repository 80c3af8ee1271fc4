"""The semver tag policy against fluxcd/pkg/version (hack/go-oracle, from hack/build-binaries.sh).

Flux's ImagePolicy reads tags with ``version.ParseVersion``; irc's ``parse_flux_version`` must take the same
texts for versions and read the same version from them (``flux_version``), order them the same way
(``flux_compare``), and the semver policy must pick what Flux's does (``flux_latest``: ``NewConstraint``,
then ``ParseVersion``, ``Check`` and ``GreaterThan`` over the tags). Among tags of equal precedence Flux keeps
the first listed and irc the shortest, then the lexically smallest (docs/tags.md), so there irc's pick must
have the precedence of Flux's and be that tie-break's choice among every tag of that precedence.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.tags import Policy, select_tag
from irc.tags.semver import parse_flux_version
from tests.tags import test_select as unit_select
from tests.tags import test_semver as unit_semver


def _irc_version(text: str) -> tuple[bool, str]:
    try:
        return True, str(parse_flux_version(text))
    except ValueError:
        return False, ""


def version_disagreements(oracle: Oracle, texts: list[str]) -> list[str]:
    answers = oracle.ask([{"op": "flux_version", "text": t} for t in texts])
    out = []
    for text, go in zip(texts, answers, strict=True):
        mine, theirs = _irc_version(text), (go["ok"], go["version"])
        if mine != theirs:
            out.append(f"{text!r}: irc (valid, version) {mine}, ParseVersion {theirs}")
    return out


def compare_disagreements(oracle: Oracle, pairs: list[tuple[str, str]]) -> list[str]:
    answers = oracle.ask([{"op": "flux_compare", "a": a, "b": b} for a, b in pairs])
    out = []
    for (a, b), go in zip(pairs, answers, strict=True):
        try:
            mine = (True, parse_flux_version(a).compare(parse_flux_version(b)))
        except ValueError:
            mine = (False, 0)
        if mine != (go["ok"], go["result"]):
            out.append(f"compare({a!r}, {b!r}): irc {mine}, Flux {(go['ok'], go['result'])}")
    return out


def latest_disagreements(oracle: Oracle, cases: list[tuple[str, list[str]]]) -> list[str]:
    answers = oracle.ask([{"op": "flux_latest", "constraint": c, "tags": tags} for c, tags in cases])
    out, ties = [], []
    for (constraint, tags), go in zip(cases, answers, strict=True):
        try:
            policy = Policy.parse({"semver": {"range": constraint}})
        except ValueError:
            if go["ok"]:
                out.append(f"{constraint!r}: irc rejects the range, Masterminds accepts it")
            continue
        if not go["ok"]:
            out.append(f"{constraint!r}: irc accepts the range, Masterminds rejects it")
            continue
        mine = select_tag(policy, tags)
        if (mine is not None) != go["found"]:
            out.append(
                f"{constraint!r} over {tags}: irc {mine!r}, Flux {go['latest'] if go['found'] else None!r}"
            )
        elif mine is not None and mine != go["latest"]:
            ties.append((constraint, tags, mine, go["latest"]))
    # A different pick must be a tie: equal precedence by Flux's own Compare, and irc's tie-break choice
    # among all listed tags of that precedence.
    pairs = [(flux, tag) for _, tags, _, flux in ties for tag in tags]
    compared = oracle.ask([{"op": "flux_compare", "a": a, "b": b} for a, b in pairs])
    start = 0
    for constraint, tags, mine, flux in ties:
        answers, start = compared[start : start + len(tags)], start + len(tags)
        equal = [tag for tag, go in zip(tags, answers, strict=True) if go["ok"] and go["result"] == 0]
        if mine not in equal or mine != min(equal, key=lambda t: (len(t), t)):
            out.append(f"{constraint!r} over {tags}: irc {mine!r}, Flux {flux!r}, tied {equal}")
    return out


VERSIONS = [
    "1.2.3", "v1.2.3", "V1.2.3", "v2025.07.03", "2025.07.03", "v2025.7.3", "2025.7.03-rc.1", "01.2.3",
    "1.02.3", "1.2.03", "00.00.00", "0.0.0", "1.2", "v1", "1", "1.2.3.4", "1..3", ".1.2", "1.2.", "1.2.3-",
    "1.2.3-01", "1.2.3-0", "1.2.3-rc.1", "1.2.3-rc.01", "1.2.3-a..b", "1.2.3+", "1.2.3+001", "1.2.3+a..b",
    "1.2-rc.1", "1-a.b.c", "1.2+b.c", "1+a.b", "v1.2-beta5", "v1.2-5", "\nv1.2", "v1.2.0-x.Y.0+metadata",
    "v1.2.3-rc1-with-hypen", "1.2.3 ", " 1.2.3", "1.2.3\n", "18446744073709551615.0.0",
    "18446744073709551616.0.0", "1.2.3-" + "a" * 250, "1.2.3-" + "a" * 251, "v" * 3, "...", "latest",
    "1.x.0", "1.*.0", "1.2.3_4", "1.2.3-é", "٣.2.3",
]  # fmt: skip


def test_hand_picked_versions(oracle: Oracle) -> None:
    assert version_disagreements(oracle, VERSIONS) == []


def test_hand_picked_comparisons(oracle: Oracle) -> None:
    candidates = [v for v in VERSIONS if _irc_version(v)[0]] + unit_semver.SPEC_ORDER
    assert compare_disagreements(oracle, list(itertools.product(candidates, candidates))) == []


def test_unit_tables_agree_with_flux(oracle: Oracle) -> None:
    """tests/tags' Flux findings are ParseVersion's and the semver policy's answers too."""
    rows = unit_semver.FLUX_VERSIONS
    answers = oracle.ask([{"op": "flux_version", "text": text} for _, text, _ in rows])
    assert [(go["ok"], go["version"] or None) for go in answers] == [(p is not None, p) for _, _, p in rows]
    found = unit_select.FLUX_VERSION_FINDINGS
    picks = oracle.ask([{"op": "flux_latest", "constraint": c, "tags": tags} for _, c, tags, _ in found])
    assert [go["latest"] for go in picks] == [expected for *_, expected in found]
    assert latest_disagreements(oracle, [("*", tags) for _, tags, _ in unit_select.SEMVER_TIES]) == []


def _versions(noisy: bool) -> st.SearchStrategy[str]:
    """Versions built from parts on the edges: v prefixes, leading zeros, CalVer, few or many dots."""
    numbers = ["0", "1", "2", "10", "01", "00", "007", "2025", "07", "3"]
    pre = ["-rc.1", "-rc.2", "-alpha", "-0", "-1", "-a.b", "-x.Y.0", "-rc1", "-1.2"]
    noise_pre = ["-", "-01", "-a..b", "-é"]
    build = ["+b", "+build.1", "+001", "+x-y"]
    noise_build = ["+", "+a..b"]
    return st.builds(
        lambda v, parts, pre, build: v + ".".join(parts) + pre + build,
        st.sampled_from(["", "", "v", "V"] if noisy else ["", "", "v"]),
        st.lists(st.sampled_from(numbers), min_size=1, max_size=4 if noisy else 3),
        st.sampled_from([""] * 8 + pre + (noise_pre if noisy else [])),
        st.sampled_from([""] * 8 + build + (noise_build if noisy else [])),
    )


_calver = st.builds(
    lambda v, y, m, d, rest: f"{v}{y}.{m:02d}.{d:02d}{rest}",
    st.sampled_from(["", "v"]),
    st.sampled_from([2024, 2025]),
    st.integers(1, 12),
    st.integers(1, 31),
    st.sampled_from(["", "", "-rc.1", "-1", "+build.7"]),
)
versions = st.one_of(
    _versions(noisy=False),
    _versions(noisy=False),
    _versions(noisy=True),
    _calver,
    st.text("0129.vV-+ab", max_size=10),
)
_ranges = st.sampled_from([
    "*", "*-0", ">=0.0.0-0", ">=1", ">=1.0.0 <2", "^1.2", "~1.2.0", "1.x", "<2025", ">=2025.1.0", "2025.x-0",
    ">=1.2.0-0, <1.3", "!=1.2.3", "1.2.3", "0.x || >=2", "*-*", "bad",
])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(versions, min_size=50, max_size=50))
def test_generated_versions(oracle: Oracle, texts: list[str]) -> None:
    assert version_disagreements(oracle, texts) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(versions, min_size=12, max_size=12))
def test_generated_comparisons(oracle: Oracle, texts: list[str]) -> None:
    """Every ordered pair (144 comparisons per example)."""
    assert compare_disagreements(oracle, list(itertools.product(texts, texts))) == []


# Few distinct values, so lists often hold several tags of one precedence (1.0.0, v1.0.0, 01.0.0, 1.0.0+b).
_tie_prone = st.builds(
    lambda v, parts, build: v + ".".join(parts) + build,
    st.sampled_from(["", "v"]),
    st.lists(st.sampled_from(["1", "01", "2", "0"]), min_size=3, max_size=3),
    st.sampled_from(["", "", "+b", "+a", "-rc.1"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_ranges, st.lists(st.one_of(versions, _tie_prone, _tie_prone), max_size=10)),
        min_size=8,
        max_size=8,
    )
)
def test_generated_policies(oracle: Oracle, cases: list[tuple[str, list[str]]]) -> None:
    """The semver policy's pick over generated tag lists, ties included (8 lists per example)."""
    assert latest_disagreements(oracle, cases) == []
