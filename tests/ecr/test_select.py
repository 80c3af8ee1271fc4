"""irc.ecr.select: parsing an ImageResourcePolicy spec (ScanSpec) and what a Selector keeps."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.ecr.select import (
    DEFAULT_MAX_REPOSITORIES,
    DEFAULT_SCAN_TIMEOUT,
    Image,
    ScanSpec,
    Selection,
    Selector,
)

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
SIG = "sha256-" + "0123456789abcdef" * 4


def policy_spec(
    policy: dict[str, Any], *, filter_tags: dict[str, Any] | None = None, **ecr: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ecrRepository": {"region": "us-east-1", "repositoryPattern": "**", **ecr},
        "policy": policy,
    }
    if filter_tags is not None:
        spec["filterTags"] = filter_tags
    return spec


def make_spec(policy: dict[str, Any], *, filter_tags: dict[str, Any] | None = None, **ecr: Any) -> ScanSpec:
    return ScanSpec.from_policy(policy_spec(policy, filter_tags=filter_tags, **ecr))


def image(repository: str, tag: str, pushed_at: float = 0.0, digest: str | None = None) -> Image:
    digest = digest or "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    return Image(repository, tag, digest, f"{REGISTRY}/{repository}", pushed_at)


def select(spec: ScanSpec, images: list[Image]) -> list[tuple[str, str, str | None]]:
    """(repository, tag, prefix) of the selections, offered in the given order."""
    selector = Selector(spec)
    selector.offer(images)
    return [(s.image.repository, s.image.tag, s.prefix) for s in selector.selections()]


def select_both_ways(spec: ScanSpec, images: list[Image]) -> list[tuple[str, str, str | None]]:
    forward = select(spec, images)
    assert select(spec, list(reversed(images))) == forward
    return forward


# ---- ScanSpec.from_policy


def test_from_policy_defaults() -> None:
    spec = make_spec({"pattern": {"regex": "^v"}})
    assert spec.region == "us-east-1"
    assert spec.registry_id is None
    assert spec.max_repositories == DEFAULT_MAX_REPOSITORIES == 50
    assert spec.timeout == DEFAULT_SCAN_TIMEOUT == 300.0
    assert spec.per_repository is False
    assert spec.order is None
    assert spec.filter_tags is None
    assert spec.pattern is not None and spec.pattern.pattern == "^v"
    assert spec.extract_prefix is False
    assert spec.matcher.repository_matches("any/thing")


def test_from_policy_reads_every_field() -> None:
    spec = ScanSpec.from_policy(
        {
            "ecrRepository": {
                "region": "eu-west-1",
                "registryId": "210987654321",
                "imagePattern": "team-a/*:v1.*",
                "exclude": ["team-a/old"],
                "maxRepositories": 7,
                "scanTimeout": "1m30s",
            },
            "policy": {
                "numerical": {"order": "desc"},
                "perRepository": True,
                "pattern": {"regex": "^(dev|prod)-", "extractPrefix": True},
            },
            "filterTags": {"pattern": "-(\\d+)$", "extract": "$1"},
        }
    )
    assert (spec.region, spec.registry_id, spec.max_repositories, spec.timeout) == (
        "eu-west-1",
        "210987654321",
        7,
        90.0,
    )
    assert spec.per_repository is True
    assert spec.order is not None and (spec.order.kind, spec.order.order) == ("numerical", "desc")
    assert spec.filter_tags is not None and spec.filter_tags.key("dev-42") == "42"
    assert spec.extract_prefix is True
    assert spec.matcher.repository_matches("team-a/api")
    assert not spec.matcher.repository_matches("team-a/old")
    assert spec.matcher.tag_matches("v1.0") and not spec.matcher.tag_matches("v2.0")


INVALID_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"policy": {"semver": {"range": "*"}}}, "ecrRepository.region: required"),
    (
        {"ecrRepository": {"repositoryPattern": "a"}, "policy": {"semver": {"range": "*"}}},
        "ecrRepository.region",
    ),
    ({"ecrRepository": {"region": "", "repositoryPattern": "a"}, "policy": {}}, "ecrRepository.region"),
    ({"ecrRepository": "us-east-1", "policy": {"semver": {"range": "*"}}}, "ecrRepository.region"),
    (
        {
            "ecrRepository": {"region": "r", "repositoryPattern": "a", "maxConcurrentScans": 0},
            "policy": {"numerical": {}},
        },
        "ecrRepository.maxConcurrentScans: must be a positive integer, got 0",
    ),
    (  # botocore would refuse it when the client is made
        {
            "ecrRepository": {"region": "us east-1", "repositoryPattern": "a"},
            "policy": {"semver": {"range": "*"}},
        },
        "ecrRepository.region: 'us east-1' is not a region name",
    ),
    (policy_spec({}), "policy: one of semver, alphabetical, numerical or pattern is required"),
    ({"ecrRepository": {"region": "r", "repositoryPattern": "a"}}, "policy: one of"),
    (policy_spec({"perRepository": True}), "policy: one of"),
    (policy_spec({"semver": {"range": "not a range"}}), "policy.semver.range: "),
    (policy_spec({"semver": {}}), "policy.semver.range: "),
    (policy_spec({"semver": {"range": "*"}, "numerical": {}}), "policy: exactly one of"),
    (policy_spec({"numerical": {"order": "up"}}), "policy.numerical.order: "),
    (policy_spec({"alphabetical": {}, "sorting": 1}), "policy: unknown field"),
    (policy_spec({"pattern": {"regex": "(unclosed"}}), "policy.pattern.regex: invalid regular expression"),
    (
        policy_spec({"pattern": {"regex": "^dev-", "extractPrefix": True}}),
        "policy.pattern.regex: extractPrefix",
    ),
    (policy_spec({"semver": {"range": "*"}}, filter_tags={"pattern": "[a-"}), "filterTags.pattern: "),
    (policy_spec({"semver": {"range": "*"}}, filter_tags={"regex": "x"}), "filterTags: unknown field"),
    (
        policy_spec({"semver": {"range": "*"}}, filter_tags={"pattern": "x", "extract": 1}),
        "filterTags.extract",
    ),
    (
        policy_spec({"semver": {"range": "*"}}, scanTimeout="soon"),
        "ecrRepository.scanTimeout: invalid duration",
    ),
    (policy_spec({"semver": {"range": "*"}}, scanTimeout="5 minutes"), "ecrRepository.scanTimeout: "),
    (
        policy_spec({"semver": {"range": "*"}}, scanTimeout="0s"),
        "ecrRepository.scanTimeout: must be positive",
    ),
    (policy_spec({"semver": {"range": "*"}}, maxRepositories=0), "ecrRepository.maxRepositories: "),
    (policy_spec({"semver": {"range": "*"}}, maxRepositories=-3), "ecrRepository.maxRepositories: "),
    (policy_spec({"semver": {"range": "*"}}, maxRepositories="5"), "ecrRepository.maxRepositories: "),
    (policy_spec({"semver": {"range": "*"}}, maxRepositories=2.5), "ecrRepository.maxRepositories: "),
    (policy_spec({"semver": {"range": "*"}}, repositoryPattern="[x"), "ecrRepository.repositoryPattern: "),
    (policy_spec({"semver": {"range": "*"}}, imageNamePattern="x"), "ecrRepository: exactly one of"),
    (policy_spec({"semver": {"range": "*"}}, maxRepositories=True), "ecrRepository.maxRepositories: "),
    (policy_spec({"semver": {"range": "*"}}, scanTimeout=""), "ecrRepository.scanTimeout: invalid"),
    (policy_spec({"pattern": "^dev-"}), "policy.pattern: must be a mapping"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID_SPECS)
def test_from_policy_names_the_field_in_every_error(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        ScanSpec.from_policy(spec)
    assert str(raised.value).startswith(message)


# ---- Selector


def test_across_repositories_one_selection_in_all() -> None:
    spec = make_spec({"semver": {"range": "*"}})
    images = [image("a/x", "v1.0.0"), image("b/y", "v2.0.0"), image("c/z", "v1.5.0"), image("c/z", "latest")]
    assert select_both_ways(spec, images) == [("b/y", "v2.0.0", None)]


def test_per_repository_one_selection_each_ordered_by_repository() -> None:
    spec = make_spec({"semver": {"range": "*"}, "perRepository": True})
    images = [
        image("c/z", "v1.5.0"),
        image("a/x", "v1.0.0"),
        image("b/y", "v2.0.0"),
        image("a/x", "v1.1.0"),
        image("d/none", "latest"),  # nothing qualifies: no selection
    ]
    assert select_both_ways(spec, images) == [
        ("a/x", "v1.1.0", None),
        ("b/y", "v2.0.0", None),
        ("c/z", "v1.5.0", None),
    ]


def test_selections_carry_the_offered_image() -> None:
    spec = make_spec({"semver": {"range": "*"}})
    winner = Image("team-a/api", "v2.0.0", "sha256:" + "ab" * 32, f"{REGISTRY}/team-a/api", 1_700_000_000.5)
    selector = Selector(spec)
    selector.offer([image("team-a/api", "v1.0.0"), winner])
    assert selector.selections() == [Selection(winner, None)]
    assert winner.full_name == f"{REGISTRY}/team-a/api:v2.0.0"


def test_no_qualifying_tag_selects_nothing() -> None:
    spec = make_spec({"semver": {"range": ">=5"}})
    assert select(spec, [image("a", "v1.0.0"), image("a", "latest")]) == []
    assert Selector(spec).selections() == []


def test_prefixes_with_an_ordering_policy() -> None:
    spec = make_spec(
        {"numerical": {"order": "asc"}, "pattern": {"regex": "^(dev|prod)-", "extractPrefix": True}},
        filter_tags={"pattern": "-(\\d+)$", "extract": "$1"},
    )
    tags = ["dev-1", "dev-10", "dev-9", "prod-3", "prod-20", "qa-100", "prod-latest", "dev-x"]
    images = [image("app", t, pushed_at=100 - n) for n, t in enumerate(tags)]
    assert select_both_ways(spec, images) == [("app", "dev-10", "dev"), ("app", "prod-20", "prod")]


def test_prefixes_per_repository() -> None:
    spec = make_spec(
        {"alphabetical": {}, "perRepository": True, "pattern": {"regex": "^([a-z]+)-", "extractPrefix": True}}
    )
    images = [
        image(r, f"{p}-{d}") for r in ("b", "a") for p in ("dev", "prod") for d in ("2024-01", "2024-02")
    ]
    assert select_both_ways(spec, images) == [
        ("a", "dev-2024-02", "dev"),
        ("a", "prod-2024-02", "prod"),
        ("b", "dev-2024-02", "dev"),
        ("b", "prod-2024-02", "prod"),
    ]


def test_prefixes_without_an_ordering_policy_pick_the_most_recent_push() -> None:
    spec = make_spec({"pattern": {"regex": "^(dev|prod)-", "extractPrefix": True}})
    images = [
        image("app", "dev-a", pushed_at=10),
        image("app", "dev-b", pushed_at=20),
        image("app", "dev-c", pushed_at=15),
        image("app", "prod-z", pushed_at=1),
        image("app", "prod-y", pushed_at=5),
        image("app", "qa-new", pushed_at=99),
    ]
    assert select_both_ways(spec, images) == [("app", "dev-b", "dev"), ("app", "prod-y", "prod")]


def test_a_prefix_group_that_did_not_take_part_is_skipped() -> None:
    spec = make_spec({"pattern": {"regex": "^(dev-)?v", "extractPrefix": True}})
    images = [image("app", "v9", pushed_at=50), image("app", "dev-v1", pushed_at=10)]
    assert select_both_ways(spec, images) == [("app", "dev-v1", "dev-")]


def test_pattern_only_picks_the_most_recently_pushed() -> None:
    spec = make_spec({"pattern": {"regex": "^v"}})
    images = [
        image("a", "v1", pushed_at=100),
        image("b", "v3", pushed_at=50),
        image("a", "v2", pushed_at=200),
        image("b", "latest", pushed_at=300),  # does not match the pattern
    ]
    assert select_both_ways(spec, images) == [("a", "v2", None)]


def test_pattern_is_searched_not_anchored() -> None:
    spec = make_spec({"pattern": {"regex": "rc"}})
    images = [image("a", "v1-rc1", pushed_at=1), image("a", "v2", pushed_at=2)]
    assert select_both_ways(spec, images) == [("a", "v1-rc1", None)]


def test_image_pattern_tag_glob_filters_tags() -> None:
    spec = make_spec({"semver": {"range": "*"}}, repositoryPattern=None, imagePattern="team-a/*:v1.*")
    images = [image("team-a/api", t) for t in ("v1.2.0", "v1.10.0", "v2.0.0", "1.11.0")]
    assert select_both_ways(spec, images) == [("team-a/api", "v1.10.0", None)]


@pytest.mark.parametrize("suffix", [".sig", ".att", ".sbom"])
def test_signature_tags_are_never_selected(suffix: str) -> None:
    newest = make_spec({"pattern": {"regex": ""}})
    images = [image("app", "v1", pushed_at=1), image("app", SIG + suffix, pushed_at=2)]
    assert select_both_ways(newest, images) == [("app", "v1", None)]
    greatest = make_spec({"alphabetical": {"order": "asc"}})  # "sha256-…" > "1.0" alphabetically
    assert select_both_ways(greatest, [image("app", "1.0"), image("app", SIG + suffix)]) == [
        ("app", "1.0", None)
    ]


def test_only_real_signature_tags_are_dropped() -> None:
    spec = make_spec({"pattern": {"regex": ""}})
    for tag in ("sha256-abc.sig", SIG.upper() + ".sig", SIG + ".sig2", SIG + ".txt"):
        assert select(spec, [image("app", "v1", pushed_at=1), image("app", tag, pushed_at=2)]) == [
            ("app", tag, None)
        ]


@pytest.mark.parametrize(("order", "expected"), [("asc", "build-12"), ("desc", "build-7")])
def test_filter_tags_extract_feeds_the_numerical_policy(order: str, expected: str) -> None:
    spec = make_spec(
        {"numerical": {"order": order}}, filter_tags={"pattern": "^build-(\\d+)$", "extract": "$1"}
    )
    tags = ["build-7", "build-12", "build-9", "latest", "build-x", "build-100-rc"]
    assert select_both_ways(spec, [image("app", t) for t in tags]) == [("app", expected, None)]


def test_filter_tags_without_extract_keys_by_the_tag() -> None:
    spec = make_spec({"alphabetical": {"order": "desc"}}, filter_tags={"pattern": "^rel-"})
    tags = ["rel-b", "rel-a", "rel-c", "0-before-everything"]
    assert select_both_ways(spec, [image("app", t) for t in tags]) == [("app", "rel-a", None)]


def test_tie_on_the_same_tag_across_repositories_goes_to_the_later_push() -> None:
    spec = make_spec({"semver": {"range": "*"}})
    images = [image("a/x", "v1.0.0", pushed_at=200), image("b/y", "v1.0.0", pushed_at=100)]
    assert select_both_ways(spec, images) == [("a/x", "v1.0.0", None)]


def test_tie_on_tag_and_push_goes_to_the_greater_repository() -> None:
    spec = make_spec({"semver": {"range": "*"}})
    images = [image("b/y", "v1.0.0", pushed_at=100), image("a/x", "v1.0.0", pushed_at=100)]
    assert select_both_ways(spec, images) == [("b/y", "v1.0.0", None)]


def test_tie_on_rank_goes_to_the_shorter_tag_before_the_push() -> None:
    spec = make_spec({"numerical": {}})
    images = [image("z", "1.0", pushed_at=300), image("a", "1", pushed_at=100)]
    assert select_both_ways(spec, images) == [("a", "1", None)]
    images = [
        image("z", "02", pushed_at=300),
        image("a", "01", pushed_at=100),
        image("b", "1.0", pushed_at=400),
    ]
    assert select_both_ways(spec, images) == [("z", "02", None)]


def test_pattern_only_tie_on_push_goes_to_the_shorter_then_smaller_tag_then_repository() -> None:
    spec = make_spec({"pattern": {"regex": ""}})
    assert select_both_ways(spec, [image("z", "a", pushed_at=5), image("a", "b", pushed_at=5)]) == [
        ("z", "a", None)
    ]
    assert select_both_ways(spec, [image("z", "aa", pushed_at=5), image("a", "b", pushed_at=5)]) == [
        ("a", "b", None)
    ]
    assert select_both_ways(spec, [image("z", "a", pushed_at=5), image("y", "a", pushed_at=5)]) == [
        ("z", "a", None)
    ]


# ---- order independence

REPOSITORIES = ["a/x", "a/y", "b"]
TAGS = [
    "v1.0.0",
    "1.0.0",
    "v1.2.0",
    "v2.0.0-rc.1",
    "dev-1",
    "dev-10",
    "prod-2",
    "prod-1.0",
    "1",
    "1.0",
    "latest",
]
SPECS = [
    make_spec({"semver": {"range": "*"}}),
    make_spec({"semver": {"range": "*"}, "perRepository": True}),
    make_spec({"numerical": {}}),
    make_spec({"numerical": {"order": "desc"}, "perRepository": True}),
    make_spec({"alphabetical": {"order": "desc"}}),
    make_spec({"pattern": {"regex": ""}}),
    make_spec({"pattern": {"regex": "^(dev|prod)-", "extractPrefix": True}, "perRepository": True}),
    make_spec(
        {"numerical": {}, "pattern": {"regex": "^(dev|prod)-", "extractPrefix": True}},
        filter_tags={"pattern": "-([0-9.]+)$", "extract": "$1"},
    ),
    make_spec({"semver": {"range": "*"}}, repositoryPattern=None, imagePattern="**:v*"),
]

# In ECR a tag names one image per repository, so (repository, tag) is unique; few push times make ties.
IMAGES = st.dictionaries(
    st.tuples(st.sampled_from(REPOSITORIES), st.sampled_from([*TAGS, SIG + ".sig"])),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
    max_size=25,
).map(
    lambda found: [
        Image(r, t, f"sha256:{d:064x}", f"{REGISTRY}/{r}", float(p))
        for (r, t), (d, p) in sorted(found.items())
    ]
)


@given(st.sampled_from(SPECS), IMAGES, st.data())
@settings(max_examples=300, deadline=None)
def test_selection_does_not_depend_on_the_order_or_batching_of_images(
    spec: ScanSpec, images: list[Image], data: st.DataObject
) -> None:
    reference = Selector(spec)
    reference.offer(images)
    expected = reference.selections()

    shuffled = data.draw(st.permutations(images))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(images)), max_size=4)))
    selector = Selector(spec)
    for start, end in zip([0, *cuts], [*cuts, len(images)], strict=True):
        selector.offer(iter(shuffled[start:end]))
    assert selector.selections() == expected
    assert all(s.image in images for s in expected)
    groups = [(s.image.repository if spec.per_repository else None, s.prefix) for s in expected]
    assert len(groups) == len(set(groups))
