"""The pure rules of ImageDetected garbage collection in the policy reconciler: which objects belong
to a policy, which have expired, and when the next one does."""

from __future__ import annotations

from typing import Any

from irc.api.conditions import rfc3339
from irc.api.imagepolicy import MANAGED_BY
from irc.reconcilers.policy import DAY, current_selection, expired, source_policy_key, ttl_days

NOW = 1_800_000_000.0


def detected(
    name: str,
    detected_at: str | None = None,
    *,
    created: str = rfc3339(NOW),
    labels: dict[str, str] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"sourcePolicy": source if source is not None else {"name": "p"}}
    if detected_at is not None:
        spec["detectedAt"] = detected_at
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "labels": dict([MANAGED_BY]) if labels is None else labels,
        },
        "spec": spec,
    }


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def test_only_managed_objects_of_a_policy_in_its_namespace_are_indexed() -> None:
    assert source_policy_key(detected("a")) == ["ns/p"]
    assert source_policy_key(detected("a", source={"name": "p", "namespace": "ns"})) == ["ns/p"]
    assert source_policy_key(detected("a", labels={})) == []
    assert source_policy_key(detected("a", labels={MANAGED_BY[0]: "someone-else"})) == []
    assert source_policy_key(detected("a", source={})) == []
    assert source_policy_key(detected("a", source={"name": "p", "namespace": "other"})) == []


def test_expired_objects_are_those_past_ttl_except_the_current_selection() -> None:
    objects = [
        detected("old", rfc3339(NOW - 2 * DAY)),
        detected("fresh", rfc3339(NOW - 3600)),
        detected("current", rfc3339(NOW - 2 * DAY)),
        detected("exactly", rfc3339(NOW - DAY)),
    ]
    stale, soonest = expired(objects, {"current"}, 1, NOW)
    assert names(stale) == ["old", "exactly"]
    assert soonest == NOW - 3600 + DAY


def test_ttl_zero_keeps_everything() -> None:
    assert expired([detected("old", rfc3339(NOW - 400 * DAY))], set(), 0, NOW) == ([], None)


def test_detected_at_falls_back_to_the_creation_timestamp() -> None:
    old = rfc3339(NOW - 10 * DAY)
    objects = [
        detected("absent", created=old),
        detected("garbage", "yesterday", created=old),
        detected("no-offset", "2020-01-01T00:00:00", created=rfc3339(NOW)),
    ]
    stale, soonest = expired(objects, set(), 7, NOW)
    assert names(stale) == ["absent", "garbage"]
    assert soonest == NOW + 7 * DAY


def test_fractional_seconds_and_offsets_parse() -> None:
    objects = [detected("a", "2020-01-01T00:00:00.123456Z"), detected("b", "2020-01-01T02:00:00+02:00")]
    assert names(expired(objects, set(), 1, NOW)[0]) == ["a", "b"]


def test_ttl_days_defaults_to_seven() -> None:
    assert ttl_days({}) == 7
    assert ttl_days({"ttlDays": None}) == 7
    assert ttl_days({"ttlDays": 0}) == 0
    assert ttl_days({"ttlDays": 30}) == 30


def test_current_selection_reads_latest_images() -> None:
    policy = {
        "status": {
            "latestImages": [
                {"repository": "team-a/api", "imageDetected": "api-1"},
                {"repository": "team-a/web"},
                {"repository": "team-a/db", "imageDetected": "db-2"},
            ]
        }
    }
    assert current_selection(policy) == {"api-1", "db-2"}
    assert current_selection({}) == set()
