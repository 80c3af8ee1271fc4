"""irc.tags.select, numerical policy: exact order for any numeric key, and no tag string ever raises."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.ecr.select import Image, ScanSpec, Selector
from irc.tags import Policy, select_tag

LOW, HIGH = "1" + "0" * 38 + "1", "1" + "0" * 38 + "2"  # 40 digits: beyond Decimal's 28-digit context

PATHOLOGICAL = [
    "1e1000000",
    "-1e1000000",
    "1e-1000000",
    "1e999999999999999999",
    "1e9999999999999999999",  # beyond libmpdec's exponent range
    "1e" + "9" * 5000,  # longer than int()'s 4300-digit limit
    "1e-" + "9" * 5000,
    "9" * 5000,
    "0." + "0" * 5000 + "1",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "-0",
    "+0",
    "0e999999999999999999999",
    "-0.0e-5",
    "1e",
    "e5",
    ".",
    "-",
    "",
    "1..2",
    "0x10",
    "١٢٣",  # Arabic-Indic digits: not ASCII, not a number here
    "1\n",
]


@pytest.mark.parametrize(("order", "expected"), [("asc", HIGH), ("desc", LOW)])
def test_long_numbers_compare_exactly(order: str, expected: str) -> None:
    assert select_tag({"numerical": {"order": order}}, [LOW, HIGH]) == expected
    assert select_tag({"numerical": {"order": order}}, [HIGH, LOW]) == expected


@pytest.mark.parametrize(
    ("order", "tags", "expected"),
    [
        ("asc", ["1e1000000", "1e999999", "7"], "1e1000000"),
        ("desc", ["1e1000000", "1e999999", "7"], "7"),
        ("desc", ["-1e1000000", "-1e999999", "7"], "-1e1000000"),
        ("asc", ["1e-1000000", "0", "-1e-1000000"], "1e-1000000"),
        ("desc", ["1e-1000000", "0", "-1e-1000000"], "-1e-1000000"),
        ("asc", ["1e999999999999999999", "1e999999999999999998"], "1e999999999999999999"),
        ("desc", ["1e999999999999999999", "1e999999999999999998"], "1e999999999999999998"),
        # an exponent past Decimal's range (10**18 and more) is no number, not a crash
        ("asc", ["1e9999999999999999999", "1e" + "9" * 5000, "7"], "7"),
        ("desc", ["1e9999999999999999999", "1e" + "9" * 5000, "7"], "7"),
        ("asc", ["9" * 5000, "9" * 4999 + "8"], "9" * 5000),
        ("desc", ["9" * 5000, "9" * 4999 + "8"], "9" * 4999 + "8"),
        ("asc", ["-0", "0", "+0", "0.0e7"], "0"),  # all zero: the shortest tag, then the smallest
        ("desc", ["-0", "+0", "0.0e7"], "+0"),
        ("desc", ["-1.2", "-1.23", "-1.20"], "-1.23"),
        ("asc", ["-1.2", "-1.23", "-1.20"], "-1.2"),  # -1.2 == -1.20: the shorter tag
        ("asc", ["10e-1", "1", "1.000"], "1"),
        ("asc", ["NaN", "Infinity", "-Infinity", "sNaN"], None),
    ],
)
def test_extreme_exponents_and_signs(order: str, tags: list[str], expected: str | None) -> None:
    assert select_tag({"numerical": {"order": order}}, tags) == expected
    assert select_tag({"numerical": {"order": order}}, list(reversed(tags))) == expected


@pytest.mark.parametrize("kind", ["semver", "alphabetical", "numerical"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pathological_tags_never_raise(kind: str, order: str) -> None:
    spec: dict[str, object] = {"range": "*"} if kind == "semver" else {"order": order}
    policy = Policy.parse({kind: spec})
    for tag in PATHOLOGICAL:
        policy.rank(tag)
        select_tag(policy, [tag])
        select_tag(policy, [tag, "1", "1.0.0"])
    select_tag(policy, PATHOLOGICAL)
    select_tag(policy, list(reversed(PATHOLOGICAL)))


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pathological_ranks_are_mutually_comparable(order: str) -> None:
    policy = Policy("numerical", order="asc" if order == "asc" else "desc")
    ranks = [r for r in (policy.rank(t) for t in PATHOLOGICAL) if r is not None]
    assert len(ranks) > 5
    for a in ranks:
        for b in ranks:
            assert (a > b) + (a == b) + (b > a) == 1  # type: ignore[operator]


def test_selector_survives_pathological_tags() -> None:
    spec = ScanSpec.from_policy(
        {"ecrRepository": {"region": "us-east-1", "repositoryPattern": "**"}, "policy": {"numerical": {}}}
    )
    selector = Selector(spec)
    images = [Image("app", tag, f"sha256:{i:064x}", "r/app") for i, tag in enumerate([*PATHOLOGICAL, HIGH])]
    selector.offer(images)
    assert [s.image.tag for s in selector.selections()] == ["1e999999999999999999"]


_NUMBER = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "+", "-"]),
    st.from_regex(r"[0-9]{0,45}", fullmatch=True),
    st.sampled_from(["", "."]) | st.from_regex(r"\.[0-9]{1,45}", fullmatch=True),
    st.just("") | st.integers(-60, 60).map(lambda e: f"e{e}"),
).filter(lambda s: any(c.isdigit() for c in s.split("e")[0]))


@settings(max_examples=300)
@given(st.lists(_NUMBER, min_size=1, max_size=6))
def test_matches_exact_rational_order(tags: list[str]) -> None:
    values = {tag: Fraction(tag.lstrip("+")) for tag in tags}
    greatest = min(tags, key=lambda t: (-values[t], len(t), t))  # ties: shortest, then lexically smallest
    least = min(tags, key=lambda t: (values[t], len(t), t))
    assert select_tag({"numerical": {"order": "asc"}}, tags) == greatest
    assert select_tag({"numerical": {"order": "desc"}}, tags) == least
