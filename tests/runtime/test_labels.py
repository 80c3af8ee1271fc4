from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irc.runtime.labels import Requirement, Selector, parse


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("", ()),
        ("   ", ()),
        ("app", (Requirement("app", "exists"),)),
        ("!app", (Requirement("app", "!exists"),)),
        ("app=web", (Requirement("app", "in", frozenset({"web"})),)),
        ("app==web", (Requirement("app", "in", frozenset({"web"})),)),
        ("app!=web", (Requirement("app", "notin", frozenset({"web"})),)),
        ("app=", (Requirement("app", "in", frozenset({""})),)),
        ("app in (web,db)", (Requirement("app", "in", frozenset({"web", "db"})),)),
        ("app notin (web)", (Requirement("app", "notin", frozenset({"web"})),)),
        (
            "app.kubernetes.io/name=irc,tier,!canary,env notin (dev,test)",
            (
                Requirement("app.kubernetes.io/name", "in", frozenset({"irc"})),
                Requirement("tier", "exists"),
                Requirement("canary", "!exists"),
                Requirement("env", "notin", frozenset({"dev", "test"})),
            ),
        ),
    ],
)
def test_parse_forms(text: str, requirements: tuple[Requirement, ...]) -> None:
    assert parse(text) == Selector(requirements)


@pytest.mark.parametrize(
    ("spaced", "compact"),
    [
        ("  app = web ,  tier  ", "app=web,tier"),
        ("app == web", "app==web"),
        ("app  !=  web", "app!=web"),
        ("! canary", "!canary"),
        ("app in ( web , db )", "app in (web,db)"),
        ("app in(web)", "app in (web)"),
        ("app\tnotin\t(dev)", "app notin (dev)"),
    ],
)
def test_whitespace_between_tokens_does_not_matter(spaced: str, compact: str) -> None:
    assert parse(spaced) == parse(compact)


@pytest.mark.parametrize(
    "text",
    [
        ",",
        ",app",
        "app,",
        "app, ",
        "app,,tier",
        "app web",
        "app in web",
        "app in (web",
        "app in (web))",
        "app in (web db)",
        "app in (a=b)",
        "app notin (web) tier",
        "=web",
        "app=web=db",
        "app=(web)",
        "app=web db",
        "!",
        "!app=web",
        "app!",
        "app<3",
        "in (web)",
        "(app)",
    ],
)
def test_malformed_selectors_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="invalid label selector"):
        parse(text)


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("", None, True),
        ("", {"a": "1"}, True),
        ("app", {"app": ""}, True),
        ("app", {"other": "x"}, False),
        ("app", None, False),
        ("!app", {"app": "web"}, False),
        ("!app", {}, True),
        ("!app", None, True),
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app=", {"app": ""}, True),
        ("app=", {}, False),  # an empty value still needs the key
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {"app": "web"}, False),
        ("app!=web", {}, True),  # apimachinery: != matches a missing key
        ("app in (web,db)", {"app": "db"}, True),
        ("app in (web,db)", {"app": "cache"}, False),
        ("app in (web,db)", {}, False),
        ("app notin (web,db)", {"app": "cache"}, True),
        ("app notin (web,db)", {"app": "web"}, False),
        ("app notin (web,db)", {}, True),  # apimachinery: notin matches a missing key
        ("app=web,tier", {"app": "web"}, False),
        ("app=web,tier", {"app": "web", "tier": "front"}, True),
        ("app=web,!canary", {"app": "web", "canary": "true"}, False),
    ],
)
def test_matching(text: str, labels: dict[str, str] | None, matches: bool) -> None:
    assert parse(text).matches(labels) is matches


KEYS = st.from_regex(r"[a-z]([a-z0-9.-]{0,8}/)?[a-z0-9]{1,8}", fullmatch=True)
VALUES = st.from_regex(r"([A-Za-z0-9]([A-Za-z0-9_.-]{0,8}[A-Za-z0-9])?)?", fullmatch=True)
LABEL_SETS = st.dictionaries(KEYS, VALUES, max_size=6)


def other_than(value: str) -> st.SearchStrategy[str]:
    return VALUES.filter(lambda v: v != value)


@given(LABEL_SETS, st.data())
def test_a_selector_built_from_a_label_set_matches_it(labels: dict[str, str], data: st.DataObject) -> None:
    parts = []
    for key, value in labels.items():
        other = data.draw(other_than(value), label="other value")
        form = data.draw(st.sampled_from(["exists", "=", "==", "in", "notin"]), label="form")
        parts.append(
            {
                "exists": key,
                "=": f"{key}={value}",
                "==": f"{key} == {value}",
                "in": f"{key} in ({other}, {value})" if value else f"{key}={value}",
                "notin": f"{key} notin ({other})" if other else f"{key}!={other}",
            }[form]
        )
    absent = data.draw(KEYS.filter(lambda k: k not in labels), label="absent key")
    parts.append(f"!{absent}")
    selector = parse(",".join(parts))
    assert selector.matches(labels)
    assert not parse(absent).matches(labels)
    if labels:
        key = data.draw(st.sampled_from(sorted(labels)), label="changed key")
        assert not parse(f"{key}={labels[key]}").matches({**labels, key: labels[key] + "x"})
        assert not parse(f"!{key}").matches(labels)


@given(KEYS, st.lists(VALUES.filter(bool), min_size=1, max_size=4), LABEL_SETS)
def test_notin_is_the_negation_of_in(key: str, values: list[str], labels: dict[str, str]) -> None:
    listed = ",".join(values)
    assert parse(f"{key} notin ({listed})").matches(labels) is not parse(f"{key} in ({listed})").matches(
        labels
    )
    assert parse(f"{key}!={values[0]}").matches(labels) is not parse(f"{key}={values[0]}").matches(labels)
