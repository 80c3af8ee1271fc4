"""irc.tags.select: Flux ImagePolicy semantics for each policy, filters, signature tags, ties, prefixes."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

import irc.tags
from irc.tags import Policy, TagFilter, group_by_prefix, select_per_prefix, select_tag, tag_prefix

SIG = "sha256-" + "ab" * 32

SEMVER = [
    (">=1.0.0", ["1.0.0", "1.2.0", "0.9.0", "latest"], "1.2.0"),
    ("~1.2", ["1.2.0", "1.2.9", "1.3.0"], "1.2.9"),
    ("^0.2.3", ["0.2.3", "0.2.9", "0.3.0"], "0.2.9"),
    ("*", ["v1.0.0", "v2.0.0", "1.5.0"], "v2.0.0"),  # returned as written
    ("*", ["1.2", "1", "1.0.0"], "1.0.0"),  # Flux wants two dots: 1.2 and 1 are skipped
    ("*", ["01.2.3", "1.0.0"], "01.2.3"),  # leading zeros are read as numbers: 1.2.3
    ("*", ["2.0.0-rc.1", "1.9.0"], "1.9.0"),  # prereleases need a prerelease in the range
    (">=1.0.0-0", ["2.0.0-rc.1", "1.9.0"], "2.0.0-rc.1"),
    ("1.x-0 || >=3", ["1.5.0-beta.11", "1.5.0-beta.2", "2.0.0"], "1.5.0-beta.11"),
    (">=5", ["1.0.0", "2.0.0"], None),
    (">=1", [], None),
    ("*", [SIG + ".sig", "1.0.0"], "1.0.0"),
]


# Found by e2e/test_go_oracle_version.py: Flux's version.ParseVersion is not StrictNewVersion; it takes
# any text with two dots that Masterminds' loose NewVersion reads.
FLUX_VERSION_FINDINGS: list[tuple[str, str, list[str], str]] = [
    ("zero-padded-calver", "*", ["v2025.07.03", "v2025.06.30"], "v2025.07.03"),
    ("calver-compares-numerically", "*", ["v2025.07.03", "v2025.7.10"], "v2025.7.10"),
    ("calver-in-a-range", ">=2025.7.0", ["2025.06.01", "2025.07.01"], "2025.07.01"),
    ("two-dots-in-the-prerelease-counts", "*", ["1.0.0", "1.2-rc.1"], "1.0.0"),
    ("short-prerelease-version", ">=1.2.0-0", ["1.2-rc.1"], "1.2-rc.1"),
    ("two-dots-in-the-build-counts", "*", ["1.2+b.c", "1.1.0"], "1.2+b.c"),
    ("one-dot-is-no-version", "*", ["1.2-rc1", "v1.1", "0.9.0"], "0.9.0"),
    ("leading-zeros-compare-as-numbers", "<2", ["01.02.03", "1.2.4"], "1.2.4"),
]

# Equal precedence: the shortest tag, then the lexically smallest, whatever the listing order.
SEMVER_TIES: list[tuple[str, list[str], str]] = [
    ("v-prefix-and-build", ["1.0.0", "v1.0.0", "1.0.0+b"], "1.0.0"),
    ("build-metadata-only", ["1.0.0+b", "1.0.0+a"], "1.0.0+a"),
    ("same-length", ["v1.0.0", "1.0.0+b"], "v1.0.0"),
    ("leading-zeros", ["01.0.0", "1.00.0", "1.0.00"], "01.0.0"),
    ("calver-padding", ["v2025.07.03", "2025.7.3"], "2025.7.3"),
]


@pytest.mark.parametrize(
    ("rng", "tags", "expected"),
    [*SEMVER, *(pytest.param(*row[1:], id=row[0]) for row in FLUX_VERSION_FINDINGS)],
)
def test_semver(rng: str, tags: list[str], expected: str | None) -> None:
    assert select_tag({"semver": {"range": rng}}, tags) == expected
    assert select_tag({"semver": {"range": rng}}, list(reversed(tags))) == expected


@pytest.mark.parametrize(("tags", "expected"), [pytest.param(*row[1:], id=row[0]) for row in SEMVER_TIES])
def test_semver_ties(tags: list[str], expected: str) -> None:
    for order in (tags, list(reversed(tags)), sorted(tags)):
        assert select_tag({"semver": {"range": "*"}}, order) == expected


ORDERED = [
    ("alphabetical", "asc", ["2024-01-02", "2024-01-10", "2023-12-31"], "2024-01-10"),
    ("alphabetical", "desc", ["2024-01-02", "2024-01-10", "2023-12-31"], "2023-12-31"),
    ("alphabetical", None, ["a", "c", "b"], "c"),  # asc is the default, and selects the highest
    ("alphabetical", "ASC", ["a", "c", "b"], "c"),
    ("alphabetical", "asc", ["3d-dev-1.0.9", "3d-dev-1.0.63"], "3d-dev-1.0.9"),  # byte order, as Flux
    ("alphabetical", "asc", ["B", "a"], "a"),
    ("numerical", "asc", ["1", "10", "9", "latest"], "10"),  # non-numeric tags are skipped
    ("numerical", "desc", ["1", "10", "9", "latest"], "1"),
    ("numerical", None, ["-5", "2.5", "1e1", ".5"], "1e1"),
    ("numerical", "asc", ["9007199254740993", "9007199254740992"], "9007199254740993"),  # exact, not float64
    ("numerical", "asc", ["NaN", "Inf", "0x1p4", "1_000", " 7", "3"], "3"),
    ("numerical", "asc", ["20260528-153652"], None),
    ("numerical", "asc", [], None),
]


NUMERICAL_TIES = [
    pytest.param("asc", ["1", "1.0", "01"], "1", id="equal-numbers"),
    pytest.param("desc", ["1.0", "01", "1"], "1", id="equal-numbers-desc"),
    pytest.param("asc", ["10", "1e1", "010"], "10", id="same-length-lexically-smallest"),
    pytest.param("asc", ["-0", "0", "+0", "0.0e7"], "0", id="zeros"),
]


@pytest.mark.parametrize(("order", "tags", "expected"), NUMERICAL_TIES)
def test_numerical_ties(order: str, tags: list[str], expected: str) -> None:
    for listed in (tags, list(reversed(tags)), sorted(tags)):
        assert select_tag({"numerical": {"order": order}}, listed) == expected


@pytest.mark.parametrize(("kind", "order", "tags", "expected"), ORDERED)
def test_alphabetical_and_numerical(
    kind: str, order: str | None, tags: list[str], expected: str | None
) -> None:
    spec: dict[str, object] = {} if order is None else {"order": order}
    assert select_tag({kind: spec}, tags) == expected
    assert select_tag({kind: spec}, list(reversed(tags))) == expected


FILTERED = [
    # Flux's documented filter: main-<sha>-<timestamp>, ordered by the extracted timestamp
    (
        {"numerical": {"order": "asc"}},
        {"pattern": r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
        ["main-abc123-100", "main-def456-99", "feature-aaa-500", "main-bbb-7"],
        "main-abc123-100",
    ),
    (
        {"semver": {"range": ">=1.0.0"}},
        {"pattern": r"^prod-(v[0-9.]+)$", "extract": "$1"},
        ["prod-v1.2.0", "prod-v1.10.0", "dev-v9.0.0", "prod-v0.1.0"],
        "prod-v1.10.0",
    ),
    ({"alphabetical": {}}, {"pattern": "^rc-"}, ["rc-1", "rc-2", "zz"], "rc-2"),  # no extract: tag itself
    ({"alphabetical": {}}, {"pattern": "x-(?<n>[0-9])", "extract": "${n}"}, ["x-1", "x-3", "x-2"], "x-3"),
    ({"alphabetical": {}}, {"pattern": "^nomatch$"}, ["a", "b"], None),
    ({"alphabetical": {}}, {}, ["a", "b"], "b"),  # an empty filter keeps every tag
]


# Several tags extracting the same key: the shortest original tag, then the lexically smallest.
EXTRACT_TIES = [
    pytest.param(
        {"alphabetical": {}},
        {"pattern": r"^(x-[0-9.]+)", "extract": "$1"},
        ["x-1.2-debug", "x-1.2"],
        "x-1.2",
        id="suffixed-variant",
    ),
    pytest.param(
        {"semver": {"range": "*"}},
        {"pattern": r"^[a-z]+-(.*)$", "extract": "$1"},
        ["b-2.0.0", "a-2.0.0", "c-1.0.0"],
        "a-2.0.0",
        id="same-length-lexically-smallest",
    ),
    pytest.param(
        {"numerical": {}},
        {"pattern": r"-([0-9]+)$", "extract": "$1"},
        ["main-7", "feature-x-7", "pr-3"],
        "main-7",
        id="numerical-key",
    ),
    pytest.param(
        {"semver": {"range": "*"}},
        {"pattern": r"(v?[0-9.]+)$", "extract": "$1"},
        ["app-v1.0.0", "app-1.0.0"],
        "app-1.0.0",
        id="equal-precedence-keys",
    ),
]


@pytest.mark.parametrize(("policy", "filter_tags", "tags", "expected"), EXTRACT_TIES)
def test_extract_ties(
    policy: Mapping[str, object], filter_tags: Mapping[str, object], tags: list[str], expected: str
) -> None:
    for listed in (tags, list(reversed(tags)), sorted(tags)):
        assert select_tag(policy, listed, filter_tags) == expected


@pytest.mark.parametrize(("policy", "filter_tags", "tags", "expected"), FILTERED)
def test_filter_tags(
    policy: Mapping[str, object], filter_tags: Mapping[str, object], tags: list[str], expected: str | None
) -> None:
    assert select_tag(policy, tags, filter_tags) == expected
    assert select_tag(policy, list(reversed(tags)), filter_tags) == expected


@pytest.mark.parametrize(
    ("template", "tag", "expected"),
    [
        ("$1", "a-b", "a"),
        ("${1}x", "a-b", "ax"),
        ("$1x", "a-b", ""),  # the name is "1x", which does not exist
        ("$2-$1", "a-b", "b-a"),
        ("$0", "a-b", "a-b"),
        ("$$1", "a-b", "$1"),
        ("$9", "a-b", ""),
        ("$first.$second", "a-b", "a.b"),
        ("${first", "a-b", "${first"),
        ("$-", "a-b", "$-"),
        ("cost $", "a-b", "cost $"),
    ],
)
def test_extract_template_follows_go_expand(template: str, tag: str, expected: str) -> None:
    assert TagFilter(r"(?P<first>[a-z])-(?P<second>[a-z])", template).key(tag) == expected


def test_signature_tags_are_excluded_by_default() -> None:
    tags = [SIG + ".sig", SIG + ".att", SIG + ".sbom", "v1"]
    assert select_tag({"alphabetical": {"order": "asc"}}, tags) == "v1"
    assert select_tag({"alphabetical": {"order": "asc"}}, tags, include_signature_tags=True) == "v1"
    assert select_tag({"alphabetical": {"order": "desc"}}, tags, include_signature_tags=True) == SIG + ".att"
    assert select_tag({"alphabetical": {"order": "desc"}}, tags) == "v1"
    assert irc.tags.is_signature_tag(SIG + ".sig")
    assert not irc.tags.is_signature_tag("sha256-abc.sig")


def test_unmatched_policy_selects_nothing() -> None:
    """The seed fell back to every tag; here no qualifying tag means None."""
    assert select_tag({"semver": {"range": ">=2"}}, ["latest", "1.0.0", "main"]) is None
    assert select_tag({"numerical": {}}, ["latest", "main"]) is None


INVALID_POLICIES: list[tuple[object, str]] = [
    ({}, "exactly one"),
    ({"semver": {"range": "1"}, "alphabetical": {}}, "exactly one"),
    ({"pattern": {"regex": "x"}}, "exactly one"),
    ({"latest": {}}, "unknown"),
    ({"semver": {}}, r"policy\.semver\.range"),
    ({"semver": {"range": ""}}, r"policy\.semver\.range"),
    ({"semver": {"range": ">= bar"}}, r"policy\.semver\.range: improper constraint"),
    ({"semver": {"range": "1", "x": 1}}, r"policy\.semver"),
    ({"semver": "1.0"}, r"policy\.semver"),
    ({"alphabetical": {"order": "up"}}, r"policy\.alphabetical\.order"),
    ({"numerical": {"order": 1}}, r"policy\.numerical\.order"),
    ({"numerical": []}, r"policy\.numerical"),
    ("semver", "policy"),
]


@pytest.mark.parametrize(("policy", "message"), INVALID_POLICIES)
def test_invalid_policy_names_the_field(policy: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_tag(policy, ["1.0.0"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filter_tags", "message"),
    [
        ({"pattern": "("}, r"filterTags\.pattern"),
        ({"pattern": 5}, r"filterTags\.pattern"),
        ({"pattern": "x", "extract": 1}, r"filterTags\.extract"),
        ({"pattern": "x", "replace": "$1"}, "filterTags: unknown"),
        ("x", "filterTags"),
    ],
)
def test_invalid_filter_names_the_field(filter_tags: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_tag({"alphabetical": {}}, ["x"], filter_tags)  # type: ignore[arg-type]


def test_policy_parse_is_reusable_and_ignores_seed_keys() -> None:
    policy = Policy.parse({"perRepository": True, "semver": {"range": "~1.2.0"}})
    assert policy.kind == "semver"
    assert select_tag(policy, ["1.2.5", "1.3.0"], TagFilter()) == "1.2.5"
    assert Policy.parse({"numerical": {"order": "desc"}}) == Policy("numerical", order="desc")


PREFIX = r"^(dev|staging|prod)-v\d+\.\d+\.\d+$"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("dev-v1.2.3", "dev"), ("prod-v10.0.0", "prod"), ("qa-v1.0.0", None), ("dev-latest", None)],
)
def test_tag_prefix(tag: str, expected: str | None) -> None:
    assert tag_prefix(tag, PREFIX) == expected


def test_tag_prefix_optional_group_and_errors() -> None:
    assert tag_prefix("v1", r"^(dev-)?v1$") is None
    with pytest.raises(ValueError, match=r"pattern\.regex.*capture group"):
        tag_prefix("dev-1", r"^dev-1$")
    with pytest.raises(ValueError, match=r"pattern\.regex"):
        tag_prefix("dev-1", r"^(dev")


def test_select_per_prefix() -> None:
    tags = ["dev-v1.2.0", "dev-v1.10.0", "staging-v1.1.0", "prod-v1.0.0", "prod-v0.9.0", "qa-v9.9.9", "dev-x"]
    assert group_by_prefix(tags, PREFIX) == {
        "dev": ["dev-v1.2.0", "dev-v1.10.0"],
        "staging": ["staging-v1.1.0"],
        "prod": ["prod-v1.0.0", "prod-v0.9.0"],
    }
    semver = {"semver": {"range": ">=1.0.0"}}
    extract = {"pattern": r"-(v.*)$", "extract": "$1"}
    assert select_per_prefix(semver, tags, PREFIX, extract) == {
        "dev": "dev-v1.10.0",
        "staging": "staging-v1.1.0",
        "prod": "prod-v1.0.0",
    }
    assert select_per_prefix({"alphabetical": {"order": "asc"}}, tags, PREFIX) == {
        "dev": "dev-v1.2.0",
        "staging": "staging-v1.1.0",
        "prod": "prod-v1.0.0",
    }


def test_public_api_is_sorted_and_complete() -> None:
    assert irc.tags.__all__ == sorted(irc.tags.__all__)
    public = {n for n in vars(irc.tags) if not n.startswith("_") and n not in ("goregex", "select", "semver")}
    assert public == set(irc.tags.__all__)
