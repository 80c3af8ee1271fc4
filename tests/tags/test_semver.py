"""irc.tags.semver against tables written from Masterminds/semver v3's own tests and the SemVer 2.0 spec."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irc.tags import Constraint, compare_versions, parse_version
from irc.tags.semver import parse_flux_version

# (constraint, version, expected): Masterminds' constraint tables, re-derived, plus our own edge cases.
MATCHES = [
    # equality and partial versions as wildcards
    ("=2.0.0", "1.2.3", False),
    ("=2.0.0", "2.0.0", True),
    ("=2.0", "2.0.1", True),
    ("=2.0", "1.2.3", False),
    ("= 2.0", "2.0.0", True),
    ("4.1", "4.1.0", True),
    ("4.1.x", "4.1.3", True),
    ("1.x", "1.4", True),
    ("2", "2.1.1", True),
    ("2", "3.4.5", False),
    ("2.1", "2.2.1", False),
    ("v1.2", "1.2.9", True),
    ("1.2.3+build", "1.2.3", True),
    ("1.2.3", "1.2.3+other", True),
    ("=0", "1", False),
    ("0.0.0", "1.2.3", False),
    ("0.x.x", "1.2.3", False),
    ("0.0.x", "0.0.7", True),
    ("0.0.x", "0.1.0", False),
    # wildcards
    ("*", "1", True),
    ("*", "4.5.6", True),
    ("x", "0.0.1", True),
    ("X.X.X", "9.9.9", True),
    ("*", "1.2.3-alpha.1", False),
    ("*-0", "1.2.3-alpha.1", True),
    ("2.*", "1", False),
    ("2.*", "2.1.1", True),
    ("2.1.*", "2.2.1", False),
    # not equal
    ("!=4.1.0", "4.1.0", False),
    ("!=4.1.0", "4.1.1", True),
    ("!=4.1", "4.1.1", False),
    ("!=4.1", "5.1.0", True),
    ("!=4.1", "5.1.0-alpha.1", False),
    ("!=4.1-alpha", "4.1.0", True),
    ("!=4.1-alpha", "4.1.0-alpha", False),
    ("!=4.1-alpha", "4.1.1-alpha", False),
    ("!=4.x", "4.1.0", False),
    ("!=4.x", "5.1.0", True),
    ("!=4.1.x", "4.2.0", True),
    ("!=4.2.x", "4.2.3", False),
    # greater / less, with partial versions
    (">1.1", "4.1.0", True),
    (">1.1", "1.1.0", False),
    (">11", "11.1.0", False),
    (">11.1", "11.1.1", False),
    (">11.1", "11.2.1", True),
    (">0", "0", False),
    (">0", "1", True),
    (">0", "0.0.1-alpha", False),
    (">0-0", "0.0.1-alpha", False),
    (">0.0.0-0", "0.0.0-alpha", True),
    (">1.2.3-alpha.1", "1.2.3-alpha.2", True),
    (">1.2.3-alpha.1", "1.3.3-alpha.2", True),
    (">= 1.2", "1.2.0", True),
    ("=> 1.2", "1.2.0", True),
    (">=11", "11.1.2", True),
    (">=11.1", "11.0.2", False),
    (">=1.1", "4.1.0-beta", False),
    (">=0", "0.0.1-alpha", False),
    (">=0-0", "0.0.1-alpha", True),
    (">=0.0-0", "0.0.1-alpha", True),
    (">=0.0.0-0", "1.2.3", True),
    (">=0.0.0-0", "3.4.5-beta.1", True),
    ("<11", "0.1.0", True),
    ("<11", "11.1.0", False),
    ("<1.1", "1.1.0", False),
    ("<1.1", "1.1.1", False),
    ("<1.x", "1.1.1", False),
    ("<1.x", "0.1.1", True),
    ("<1.1.x", "1.1.500", False),
    ("<1.1.x", "1.0.500", True),
    ("<0", "0.0.0-alpha", False),
    ("<0-z", "0.0.0-alpha", True),
    ("<=11", "11.2.3", True),
    ("<=11", "12.2.3", False),
    ("=< 1.2", "1.2.9", True),
    ("<=1.1", "1.1.1", True),
    ("<=1.1", "1.2.3", False),
    ("<=1.1", "0.1.0-alpha", False),
    ("<=1.1-a", "0.1.0-alpha", True),
    ("<=1.x", "1.1.0", True),
    ("<=2.x", "3.0.0", False),
    ("<=1.1.x", "1.2.500", False),
    ("<=4.5", "3.7.0", True),
    ("<=4.5", "4.6.3", False),
    # tilde
    ("~1.2.3", "1.2.4", True),
    ("~1.2.3", "1.2.2", False),
    ("~1.2.3", "1.3.4", False),
    ("~1.2", "1.2.4", True),
    ("~1.2", "1.3.4", False),
    ("~1", "1.2.4", True),
    ("~1", "2.3.4", False),
    ("~> 1.2", "1.2.9", True),
    ("~1.x", "1.4", True),
    ("~1.x", "1.3.5-beta", False),
    ("~0.2.3", "0.2.5", True),
    ("~0.2.3", "0.3.5", False),
    ("~0.0.0", "1.2.3", True),
    ("~*", "2.1.1", True),
    ("~1.1", "1.1.1-alpha", False),
    ("~1.1-alpha", "1.1.1-beta", True),
    ("~1.1.1-beta", "1.1.1-alpha", False),
    ("~1.1.1-beta", "1.1.1", True),
    ("~1.2.3-beta.2", "1.2.3-beta.4", True),
    ("~1.2.3-beta.2", "1.2.4-beta.2", True),  # not npm: no same-patch rule for prereleases
    ("~1.2.3-beta.2", "1.3.4-beta.2", False),
    ("~1.3.6-alpha", "1.3.5-beta", False),
    # caret, including the ^0.x rules
    ("^1.2.3", "1.8.9", True),
    ("^1.2.3", "2.8.9", False),
    ("^1.2.3", "1.2.1", False),
    ("^1.2.0", "1.2.1-alpha.1", False),
    ("^1.2.0-alpha.0", "1.2.1-alpha.1", True),
    ("^1.2.0-alpha.2", "1.2.0-alpha.1", False),
    ("^1.2", "1.8.9", True),
    ("^1", "2.8.9", False),
    ("^1.x", "1.1.1", True),
    ("^1.x", "1.1.1-beta1", False),
    ("^1.x-0", "1.9.0-rc.1", True),
    ("^1.1.2-alpha", "1.2.1-beta1", True),
    ("^1.2.x-alpha", "1.1.1-beta1", False),
    ("^2.x", "1.1.1", False),
    ("^0.2.3", "0.2.5", True),
    ("^0.2.3", "0.5.6", False),
    ("^0.2", "0.2.5", True),
    ("^0.2", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.3", True),
    ("^0.0", "0.1.4", False),
    ("^0", "0.2.3", True),
    ("^0", "1.1.4", False),
    ("^0.0.0", "1.2.3", False),
    ("^0.2.3-beta.2", "0.2.4-beta.2", True),
    ("^0.2.3-beta.2", "0.3.4-beta.2", False),
    # Masterminds quirks kept for parity
    ("^*", "0.0.0", True),
    ("^*", "1.0.0", False),
    ("<=*", "0.0.5", True),
    ("<=*", "0.1.0", False),
    ("!=*", "0.0.0", False),
    ("!=*", "1.0.0", True),
    # "|" is a version-part character in Masterminds' constraint regexes ([0-9|x|X|\*]): ignored after a
    # wildcard, and a hyphen range's first end can swallow a "||" (the split on "||" comes after the rewrite)
    ("1.x.|", "1.5.0", True),
    ("*.|", "3.0.0", True),
    ("0||0 - 0", "1.0.0", True),  # >=0 || (0, <=0)
    ("0||0 - 0", "0.0.0", True),
    # AND (comma or space) and OR
    (">1.1, <2", "1.1.1", False),
    (">1.1, <2", "1.2.1", True),
    (">1.1 <3", "4.3.2", False),
    (">=1.1    <2    !=1.2.3", "1.2.3", False),
    (">= 1.1, <2, != 1.2.3 || > 3", "4.1.2", True),
    (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", False),
    (">=1.1 <2 !=1.2.3 || >= 3", "3.0.0", True),
    (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", False),
    ("12.3.34 ~1.2.3", "1.2.4", False),
    # hyphen ranges
    ("1.1 - 2", "1.1.1", True),
    ("1.1 - 2", "2.9.9", True),
    ("1.1 - 2", "3.0.0", False),
    ("1.5.0 - 4.5", "3.7.0", True),
    ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", True),
    ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", True),
    ("1.1-3", "4.3.2", False),  # no spaces: version 1.1 with prerelease 3
    ("1.0.0 - 2.0.0 || 3 - 4", "4.5.0", True),
    # prereleases are admitted per || branch, by any comparator of that branch
    (">=1.0.0-0, <2.0.0", "1.5.0-beta", True),
    (">=1.0.0, <2.0.0-0", "1.5.0-beta", True),
    (">=1.0.0, <2.0.0 || >=3.0.0-0", "1.5.0-beta", False),
    (">=1.0.0, <2.0.0 || >=3.0.0-0", "3.1.0-rc.1", True),
    (">=1.0.0-0", "2.0.0-rc.1", True),
    # loose versions are accepted by matches()
    (">=1", "v1", True),
    (">=1.2", "01.02.03", True),
    # non-versions never match
    ("*", "latest", False),
    ("*", "", False),
    ("*", "1.2.3.4", False),
    ("*", "1.2.3-01", False),
    ("*", "V1.2.3", False),
    ("*", "18446744073709551616", False),
]


@pytest.mark.parametrize(("text", "version", "expected"), MATCHES)
def test_matches(text: str, version: str, expected: bool) -> None:
    assert Constraint(text).matches(version) is expected


INVALID = [
    "",
    "   ",
    "foo",
    ">= bar",
    "BAR >= 1.2.3",
    "12.3.4.1234",
    "12.3.34~ 1.2.3",
    "1 ||",
    "|| 1",
    "1 | 2",
    "==1.2",
    ">=1.2,",
    "1.2.3-01",
    "1x",
    ">=1.0 - 2",
    "18446744073709551616",
    "1|2",
    "0 0||0 - 0",  # "0>= 0||0, <= 0 " after the range rewrite
    "1.2.|",
    " || ".join(["1"] * 33),  # Masterminds' MaxConstraintGroups is 32
    " ".join([">=1"] * 128) + "  ",  # 513 characters; MaxConstraintLen is 512
    "1.2.3-" + "a" * 251,  # a 257-character version; MaxVersionLen is 256
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_constraints_raise(text: str) -> None:
    with pytest.raises(ValueError, match="constraint"):
        Constraint(text)


VALID = [
    ">= 1.1",
    ">40.50.60, < 50.70",
    "v2.3.5-20161202202307-sha.e8fc5e5",
    "3 - 4 || => 3.0, < 4",
    "~>1",
    " || ".join(["1"] * 32),
    " ".join([">=1"] * 128) + " ",
    "1.2.3-" + "a" * 250,
]


@pytest.mark.parametrize("text", VALID)
def test_valid_constraints_parse(text: str) -> None:
    assert repr(Constraint(text)) == f"Constraint({text!r})"


@pytest.mark.parametrize(
    ("text", "major", "minor", "patch", "pre", "build"),
    [
        ("1.2.3", 1, 2, 3, (), ""),
        ("v1.2.3", 1, 2, 3, (), ""),
        ("1.2", 1, 2, 0, (), ""),
        ("v1", 1, 0, 0, (), ""),
        ("01.02.03", 1, 2, 3, (), ""),
        ("1.2.3-beta.1+build.5", 1, 2, 3, ("beta", "1"), "build.5"),
        ("1-rc.1", 1, 0, 0, ("rc", "1"), ""),
        ("1.0.0+001", 1, 0, 0, (), "001"),
        ("1.2.3-" + "a" * 250, 1, 2, 3, ("a" * 250,), ""),  # 256 characters, Masterminds' MaxVersionLen
    ],
)
def test_parse_version_loose(
    text: str, major: int, minor: int, patch: int, pre: tuple[str, ...], build: str
) -> None:
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build, v.original) == (
        major,
        minor,
        patch,
        pre,
        build,
        text,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v",
        "V1.2.3",
        "1.2.3.4",
        "1.2.3-",
        "1.2.3-a..b",
        "1.2.3-01",
        "1.2.3+",
        "a1.2.3",
        " 1.2.3",
        "1.2.3\n",
        "1.2.3-" + "a" * 251,
    ],
)
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid version"):
        parse_version(text)


# (tag, what fluxcd/pkg/version.ParseVersion reads, or None): e2e/test_go_oracle_version.py found that Flux
# takes any text with two dots that the loose parser reads, not StrictNewVersion's X.Y.Z.
FLUX_VERSIONS: list[tuple[str, str, str | None]] = [
    ("plain", "1.2.3", "1.2.3"),
    ("v-prerelease-build", "v1.2.3-rc.1+b", "1.2.3-rc.1+b"),
    ("zero-padded-calver", "v2025.07.03", "2025.7.3"),
    ("leading-zero-major", "01.2.3", "1.2.3"),
    ("second-dot-in-prerelease", "1.2-rc.1", "1.2.0-rc.1"),
    ("both-dots-in-prerelease", "1-a.b.c", "1.0.0-a.b.c"),
    ("second-dot-in-build", "1.2+b.c", "1.2.0+b.c"),
    ("flux-table", "v1.2.0-x.Y.0+metadata-width-hypen", "1.2.0-x.Y.0+metadata-width-hypen"),
    ("one-dot", "1.2", None),
    ("no-dot", "v1", None),
    ("one-dot-prerelease", "v1.2-beta5", None),
    ("four-parts", "v1.2.3.4", None),
    ("leading-zero-prerelease", "1.2.3-01", None),
    ("capital-v", "V1.2.3", None),
    ("newline", "\nv1.2", None),
]


@pytest.mark.parametrize(("text", "parsed"), [pytest.param(*row[1:], id=row[0]) for row in FLUX_VERSIONS])
def test_parse_flux_version(text: str, parsed: str | None) -> None:
    if parsed is not None:
        assert str(parse_flux_version(text)) == parsed
    else:
        with pytest.raises(ValueError, match="invalid version"):
            parse_flux_version(text)


SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
]


@pytest.mark.parametrize("i", range(len(SPEC_ORDER) - 1))
def test_spec_precedence(i: int) -> None:
    lower, higher = SPEC_ORDER[i], SPEC_ORDER[i + 1]
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1


@pytest.mark.parametrize(
    ("a", "b"), [("1.0.0+a", "1.0.0+b"), ("v1.2.3", "1.2.3"), ("1.2", "1.2.0"), ("01.2.3", "1.2.3")]
)
def test_equal_precedence(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0


@pytest.mark.parametrize(("a", "b"), [("latest", "1.0.0"), ("1.0.0", "1.2.3.4")])
def test_compare_invalid_raises(a: str, b: str) -> None:
    with pytest.raises(ValueError):
        compare_versions(a, b)


identifier = st.one_of(st.integers(0, 30).map(str), st.text("abz-", min_size=1, max_size=3))
versions = st.builds(
    lambda ma, mi, pa, pre, build: f"{ma}.{mi}.{pa}" + ("-" + ".".join(pre) if pre else "") + build,
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.lists(identifier, max_size=3),
    st.sampled_from(["", "+b", "+c.1"]),
)


@given(st.lists(versions, min_size=1, max_size=8), versions, versions, versions)
def test_compare_is_a_total_order(batch: list[str], a: str, b: str, c: str) -> None:
    assert compare_versions(a, a) == 0
    assert compare_versions(a, b) == -compare_versions(b, a)
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0
    ordered = sorted(batch, key=functools.cmp_to_key(compare_versions))
    assert all(compare_versions(x, y) <= 0 for x, y in itertools.pairwise(ordered))
    assert ordered == sorted(batch, key=lambda v: parse_version(v).precedence)
