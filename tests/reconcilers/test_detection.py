"""The detection reconciler through reconcile() when a scan succeeds: which ImageDetected objects it
creates (names, labels, annotations, owner, spec; kept across scans; name collisions and create races
with a cache that has not heard yet), what it writes to the policy's status, its Events, metrics and
requeue; and the pure rules of when to scan (next_scan_in, wakes).

When a policy is (not) scanned, failures, credentials and status Conflicts are in
test_detection_failures.py, which builds its worlds with the helpers here.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.conditions import get_condition, rfc3339
from irc.api.imagepolicy import MANAGED_BY, POLICY_LABEL, PREFIX_LABEL, REPOSITORY_ANNOTATION, REQUESTED_AT
from irc.ecr import AwsClients, AwsCredentials, Image, ScanResult, ScanSpec, Selection
from irc.ecr.scan import DEFAULT_CONCURRENCY
from irc.reconcilers import detection
from irc.reconcilers.detection import DetectionReconciler, next_scan_in, wakes
from irc.reconcilers.settings import Settings
from irc.runtime import Obj, Request, Result, errors
from irc.runtime.informer import UpdateEvent
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder

NS, NAME, UID = "team", "webapp", "uid-webapp"
KIND, DETECTED = "ImageResourcePolicy", "ImageDetected"
HOUR = 3600.0
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:abc12345" + "0" * 56
PUSHED = 1_699_000_000.0
READY = {"type": "Ready", "status": "True", "reason": "Valid", "message": "ok", "observedGeneration": 1}
ASSUMED = AwsCredentials("ASIAASSUMED", "assumed-secret", "assumed-token")


# ---- building a world


def policy(
    name: str = NAME,
    *,
    generation: int = 1,
    ready: tuple[str, int] | None = ("True", 1),
    scanned: tuple[str, int] | None = None,
    last_scan: float | None = None,
    requested: str | None = None,
    handled: str | None = None,
    interval: str | None = "1h",
    aws: dict[str, Any] | None = None,
    **spec: Any,
) -> Obj:
    """An ImageResourcePolicy in NS as the policy controller leaves it: Ready for `ready`'s generation,
    Scanned (when given) as the last scan left it."""
    conditions = []
    if ready is not None:
        conditions.append(READY | {"status": ready[0], "observedGeneration": ready[1]})
    if scanned is not None:
        conditions.append(
            {
                "type": "Scanned",
                "status": scanned[0],
                "reason": "r",
                "message": "m",
                "observedGeneration": scanned[1],
            }
        )
    status: dict[str, Any] = {"conditions": conditions}
    if last_scan is not None:
        status["lastScanTime"] = rfc3339(last_scan)
    if handled is not None:
        status["lastHandledReconcileAt"] = handled
    full_spec: dict[str, Any] = {
        "ecrRepository": {"region": "us-east-1", "repositoryPattern": "webapp/*"},
        "policy": {"perRepository": True, "semver": {"range": ">=1.0.0"}},
        "templateRef": {"name": "webapp-template"},
        **spec,
    }
    if interval is not None:
        full_spec["interval"] = interval
    if aws is not None:
        full_spec["aws"] = aws
    metadata: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": generation}
    if requested is not None:
        metadata["annotations"] = {REQUESTED_AT: requested}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": full_spec,
        "status": status,
    }


def selection(
    repository: str = "webapp/frontend",
    tag: str = "v1.2.3",
    digest: str = DIGEST,
    *,
    prefix: str | None = None,
    pushed_at: float = PUSHED,
) -> Selection:
    return Selection(Image(repository, tag, digest, f"{REGISTRY}/{repository}", pushed_at), prefix)


def scanned(
    *selections: Selection,
    matched: int | None = None,
    images: int = 17,
    calls: int = 3,
    duration: float = 0.4,
) -> ScanResult:
    repositories = len({s.image.repository for s in selections}) or 1
    return ScanResult(
        list(selections),
        repositories_matched=repositories if matched is None else matched,
        repositories_scanned=repositories,
        images_scanned=images,
        api_calls=calls,
        duration=duration,
    )


class FakeAws(AwsClients):
    """AwsClients whose `scan` answers the next of `outcomes` (a ScanResult, or an exception to raise;
    the last one repeats) and whose `assume_role` answers `role` likewise; each records its calls.
    `during_scan`, if set, runs inside each scan: what other writers do meanwhile."""

    def __init__(self, *outcomes: ScanResult | Exception, role: AwsCredentials | Exception = ASSUMED) -> None:
        super().__init__()
        self.outcomes = list(outcomes) or [scanned(selection())]
        self.role = role
        self.scans: list[tuple[ScanSpec, AwsCredentials | None, int]] = []
        self.assumed: list[tuple[str, AwsCredentials | None, str, str]] = []
        self.forgotten: list[str] = []
        self.during_scan: Callable[[], Awaitable[None]] | None = None

    async def scan(
        self, spec: ScanSpec, credentials: AwsCredentials | None, *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> ScanResult:
        self.scans.append((spec, credentials, concurrency))
        if self.during_scan is not None:
            await self.during_scan()
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return copy.deepcopy(outcome)

    async def assume_role(
        self, role_arn: str, source: AwsCredentials | None, region: str, session_name: str
    ) -> AwsCredentials:
        self.assumed.append((role_arn, source, region, session_name))
        if isinstance(self.role, Exception):
            raise self.role
        return self.role

    def forget(self, session_name: str) -> None:
        self.forgotten.append(session_name)


class StaleReader:
    """The cache of a manager that has not yet heard of the ImageDetected objects created lately."""

    def __init__(self, client: FakeClient) -> None:
        self._cache = client.cache

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        if kind == DETECTED:
            raise errors.NotFound(404, "NotFound", f"{kind} {name} not in the cache yet")
        return self._cache.get(api_version, kind, name, namespace, **kw)

    def list(self, *args: Any, **kwargs: Any) -> builtins.list[Obj]:
        raise AssertionError("detection lists nothing")

    def by_index(self, *args: Any, **kwargs: Any) -> builtins.list[Obj]:
        raise AssertionError("detection uses no index")


@dataclass
class World:
    """A DetectionReconciler over a FakeClient, with everything a test asserts on."""

    objects: list[Obj]
    aws: FakeAws = field(default_factory=FakeAws)
    settings: Settings = field(default_factory=Settings)
    stale_cache: bool = False
    """Read ImageDetected objects through a cache that has not heard of any (StaleReader)."""
    clock: FakeClock = field(default_factory=FakeClock)
    recorder: FakeRecorder = field(default_factory=FakeRecorder)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.client = FakeClient(self.objects, clock=self.clock)
        self.reconciler = DetectionReconciler(
            client=self.client,
            reader=StaleReader(self.client) if self.stale_cache else self.client.cache,
            recorder=self.recorder,
            clock=self.clock,
            metrics=detection.Metrics.register(self.registry),
            settings=self.settings,
            aws=self.aws,
        )

    async def reconcile(self, name: str = NAME) -> Result | None:
        return await self.reconciler.reconcile(Request(NS, name))

    def policy(self, name: str = NAME) -> Obj:
        return self.client.get_now(API_VERSION, KIND, name, NS)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.policy().get("status") or {}
        return status

    def scanned_condition(self) -> dict[str, Any]:
        return dict(get_condition(self.status(), "Scanned") or {})

    def detected(self) -> dict[str, Obj]:
        return {o["metadata"]["name"]: o for o in self.client.objects(API_VERSION, DETECTED, NS)}

    def creates(self) -> list[str]:
        return [a.name for a in self.client.actions if (a.verb, a.kind) == ("create", DETECTED)]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def world(*objects: Obj, aws: FakeAws | None = None, **kwargs: Any) -> World:
    return World(list(objects) or [policy()], aws or FakeAws(), **kwargs)


def hashed(plain: str, image: Selection, policy_name: str = NAME) -> str:
    """The name an image gets when another holds its plain one: stable for a policy and image."""
    return f"{plain}-{hashlib.sha256(f'{policy_name}/{image.image.full_name}'.encode()).hexdigest()[:6]}"


def assert_requeued_with_jitter(result: Result | None, interval: float) -> None:
    assert result is not None and result.requeue_after is not None
    assert interval <= result.requeue_after < interval * 1.1


# ---- a first scan


async def test_a_scan_creates_one_image_detected_per_selection_as_the_seed_names_it() -> None:
    envs = selection("webapp/envs", "dev-1.4.0", "sha256:4615a839" + "1" * 56, prefix="dev")
    w = world(aws=FakeAws(scanned(selection(), envs, images=17, calls=3, duration=0.4)))
    assert_requeued_with_jitter(await w.reconcile(), HOUR)

    ((spec, credentials, concurrency),) = w.aws.scans
    assert spec.region == "us-east-1" and spec.per_repository
    assert credentials is None and w.aws.assumed == []  # no secretRef, no roleArn: the default chain
    assert concurrency == Settings().ecr_concurrency
    now = rfc3339(w.clock.wall())
    owner = {"apiVersion": API_VERSION, "kind": KIND, "name": NAME, "uid": UID, "controller": True}
    frontend, dev = w.detected()["frontend-v1-2-3-abc12345"], w.detected()["envs-dev-1-4-0-4615a839"]
    assert frontend["metadata"]["labels"] == {MANAGED_BY[0]: MANAGED_BY[1], POLICY_LABEL: NAME}
    assert frontend["metadata"]["annotations"] == {REPOSITORY_ANNOTATION: "webapp/frontend"}
    assert frontend["metadata"]["ownerReferences"] == [owner]
    assert frontend["spec"] == {
        "imageName": "webapp-frontend",
        "imageTag": "v1.2.3",
        "imageDigest": DIGEST,
        "fullImageName": f"{REGISTRY}/webapp/frontend:v1.2.3",
        "sourcePolicy": {"name": NAME, "namespace": NS},
        "detectedAt": now,
        "pushedAt": rfc3339(PUSHED),
    }
    assert dev["metadata"]["labels"] == {
        MANAGED_BY[0]: MANAGED_BY[1],
        POLICY_LABEL: NAME,
        PREFIX_LABEL: "dev",
    }
    assert dev["metadata"]["annotations"] == {REPOSITORY_ANNOTATION: "webapp/envs"}
    assert dev["spec"]["tagPrefix"] == "dev" and dev["spec"]["imageName"] == "webapp-envs"
    assert w.metric("irc_image_detected_created_total") == 2


async def test_a_scan_writes_its_figures_and_selections_to_the_status_beside_ready() -> None:
    envs = selection("webapp/envs", "dev-1.4.0", "sha256:4615a839" + "1" * 56, prefix="dev", pushed_at=0)
    w = world(aws=FakeAws(scanned(selection(), envs, images=17, calls=3, duration=0.4)))
    await w.reconcile()
    now = rfc3339(w.clock.wall())
    assert w.status() == {
        "conditions": [
            READY,
            {
                "type": "Scanned",
                "status": "True",
                "reason": "Succeeded",
                "message": "scanned 2 repositories (17 images) in 0.4s, selected 2",
                "observedGeneration": 1,
                "lastTransitionTime": now,
            },
        ],
        "lastScanTime": now,
        "lastScanDuration": "0.400s",
        "repositoriesMatched": 2,
        "repositoriesScanned": 2,
        "imagesScanned": 17,
        "imagesDetected": 2,
        "apiCalls": 3,
        "latestImages": [
            {
                "repository": "webapp/frontend",
                "tag": "v1.2.3",
                "digest": DIGEST,
                "imageDetected": "frontend-v1-2-3-abc12345",
                "pushedAt": rfc3339(PUSHED),
            },
            {  # no push time known: no pushedAt
                "repository": "webapp/envs",
                "tag": "dev-1.4.0",
                "digest": envs.image.digest,
                "imageDetected": "envs-dev-1-4-0-4615a839",
                "tagPrefix": "dev",
            },
        ],
    }
    assert "pushedAt" not in w.detected()["envs-dev-1-4-0-4615a839"]["spec"]
    # one status write, under the resourceVersion it read (Conflict tests below)
    assert [(a.verb, a.kind, a.subresource) for a in w.client.writes() if a.kind == KIND] == [
        ("patch", KIND, "status")
    ]


async def test_a_scan_records_one_detected_event_and_its_metrics() -> None:
    w = world(aws=FakeAws(scanned(selection(), calls=4, duration=2.5)))
    await w.reconcile()
    (event,) = w.recorder.events
    assert (event.kind, event.namespace, event.name, event.type, event.reason) == (
        KIND,
        NS,
        NAME,
        "Normal",
        "Detected",
    )
    assert event.message == f"1 new: {REGISTRY}/webapp/frontend:v1.2.3 → frontend-v1-2-3-abc12345"
    assert w.metric("irc_ecr_scans_total", result="success") == 1
    assert w.metric("irc_ecr_scan_duration_seconds_count") == 1
    assert w.metric("irc_ecr_scan_duration_seconds_sum") == 2.5
    assert w.metric("irc_ecr_api_calls_total") == 4


async def test_every_scan_is_one_info_line_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="irc.reconcilers.detection")
    w = world(aws=FakeAws(scanned(selection(), calls=4, duration=2.5)))
    await w.reconcile()
    lines = [r for r in caplog.records if r.name == "irc.reconcilers.detection"]
    assert [(r.levelname, r.getMessage(), r.__dict__["api_calls"]) for r in lines] == [
        ("INFO", "scanned 1 repositories (17 images) in 2.5s, selected 1", 4)
    ]


async def test_a_large_first_scan_is_one_event_naming_ten_images() -> None:
    many = [selection(f"webapp/svc{i:02}") for i in range(12)]
    w = world(aws=FakeAws(scanned(*many)))
    await w.reconcile()
    assert len(w.detected()) == 12 and w.recorder.reasons() == ["Detected"]
    message = w.recorder.events[0].message
    assert message.startswith("12 new: ") and message.endswith(" and 2 more")
    assert message.count("→") == 10


async def test_labels_are_left_out_when_their_value_could_not_be_a_label() -> None:
    """Object names may be 253 characters, label values 63: such a policy gets no policy label."""
    long_name = "p" * 70
    w = world(policy(long_name), aws=FakeAws(scanned(selection(prefix="dev.")), scanned()))
    await w.reconcile(long_name)
    (obj,) = w.detected().values()
    assert obj["metadata"]["labels"] == {MANAGED_BY[0]: MANAGED_BY[1]}  # "dev." ends in a dot
    assert obj["spec"]["tagPrefix"] == "dev." and obj["spec"]["sourcePolicy"]["name"] == long_name


async def test_the_repository_limit_is_a_warning_and_part_of_the_message() -> None:
    w = world(aws=FakeAws(scanned(selection(), matched=60)))
    await w.reconcile()
    assert w.recorder.reasons() == ["Detected", "RepositoryLimitReached"]
    warning = w.recorder.events[1]
    assert warning.type == "Warning"
    assert warning.message == w.scanned_condition()["message"]
    assert "60 repositories matched, only the first 1 by name were scanned" in warning.message
    assert w.scanned_condition()["status"] == "True" and w.status()["repositoriesMatched"] == 60


async def test_a_scan_selecting_nothing_still_records_the_scan() -> None:
    w = world(aws=FakeAws(scanned(images=0, calls=1)))
    assert_requeued_with_jitter(await w.reconcile(), HOUR)
    assert w.detected() == {} and w.recorder.events == []
    assert w.status()["latestImages"] == [] and w.status()["imagesDetected"] == 0
    assert w.scanned_condition()["reason"] == "Succeeded"


async def test_requeue_jitter_stays_within_a_tenth_of_the_interval() -> None:
    w = world(policy(interval="10m"))
    results = []
    for _ in range(20):
        w.clock.advance(600)
        results.append(await w.reconcile())
    for result in results:
        assert_requeued_with_jitter(result, 600)
    assert len({r.requeue_after for r in results if r is not None}) > 1  # jittered, not constant
    assert len(w.aws.scans) == 20


async def test_a_policy_without_an_interval_is_scanned_every_five_minutes() -> None:
    w = world(policy(interval=None))
    assert_requeued_with_jitter(await w.reconcile(), detection.DEFAULT_INTERVAL)


# ---- later scans


async def test_a_second_scan_creates_nothing_new_and_keeps_the_names() -> None:
    w = world(aws=FakeAws(scanned(selection(), selection("webapp/api", "v2.0.0"))))
    await w.reconcile()
    first = copy.deepcopy(w.detected())
    names = [i["imageDetected"] for i in w.status()["latestImages"]]
    w.clock.advance(HOUR)
    w.client.actions.clear()
    assert_requeued_with_jitter(await w.reconcile(), HOUR)

    assert len(w.aws.scans) == 2 and w.creates() == []
    assert w.detected() == first  # not rewritten either (detectedAt is the first detection's)
    assert [i["imageDetected"] for i in w.status()["latestImages"]] == names
    assert w.status()["lastScanTime"] == rfc3339(w.clock.wall())
    assert w.recorder.reasons() == ["Detected"]  # the first scan's only
    assert w.metric("irc_image_detected_created_total") == 2
    assert w.metric("irc_ecr_scans_total", result="success") == 2


async def test_a_new_image_in_a_later_scan_is_the_only_one_created_and_announced() -> None:
    newer = selection(tag="v1.3.0", digest="sha256:def67890" + "0" * 56)
    w = world(aws=FakeAws(scanned(selection()), scanned(newer)))
    await w.reconcile()
    w.clock.advance(HOUR)
    w.client.actions.clear()
    await w.reconcile()
    assert w.creates() == ["frontend-v1-3-0-def67890"]
    assert set(w.detected()) == {"frontend-v1-2-3-abc12345", "frontend-v1-3-0-def67890"}  # GC is not ours
    assert (
        w.recorder.events[-1].message
        == f"1 new: {REGISTRY}/webapp/frontend:v1.3.0 → frontend-v1-3-0-def67890"
    )
    assert [i["imageDetected"] for i in w.status()["latestImages"]] == ["frontend-v1-3-0-def67890"]


# ---- names that collide


async def test_an_image_keeps_its_name_when_the_collision_that_gave_it_is_gone() -> None:
    """Same last segment, tag and digest in two repositories: the second gets the hashed name, and
    keeps it (no second object) after the first's object is deleted; the first comes back under its
    own name."""
    a, b = selection("team-a/frontend"), selection("team-b/frontend")
    plain = "frontend-v1-2-3-abc12345"
    w = world(aws=FakeAws(scanned(a, b), scanned(b), scanned(a, b)))
    await w.reconcile()
    assert [i["imageDetected"] for i in w.status()["latestImages"]] == [plain, hashed(plain, b)]
    assert w.detected()[hashed(plain, b)]["spec"]["fullImageName"] == b.image.full_name

    await w.client.delete(API_VERSION, DETECTED, plain, NS)  # expired, or deleted by hand
    w.clock.advance(HOUR)
    await w.reconcile()
    assert [i["imageDetected"] for i in w.status()["latestImages"]] == [hashed(plain, b)]
    assert set(w.detected()) == {hashed(plain, b)}

    w.clock.advance(HOUR)
    await w.reconcile()
    assert [i["imageDetected"] for i in w.status()["latestImages"]] == [plain, hashed(plain, b)]
    assert w.creates() == [plain, hashed(plain, b), plain]
    assert w.metric("irc_image_detected_created_total") == 3


async def test_an_image_another_policy_already_holds_gets_the_hashed_name() -> None:
    """Two policies of a namespace selecting the same image get one object each."""
    other = world(policy("other"), aws=FakeAws(scanned(selection())))
    await other.reconcile("other")
    held = other.detected()["frontend-v1-2-3-abc12345"]
    w = world(policy(), held)
    await w.reconcile()
    name = hashed("frontend-v1-2-3-abc12345", selection())
    assert w.creates() == [name]
    assert w.detected()["frontend-v1-2-3-abc12345"]["spec"]["sourcePolicy"]["name"] == "other"
    assert w.detected()[name]["spec"]["sourcePolicy"] == {"name": NAME, "namespace": NS}
    assert w.status()["latestImages"][0]["imageDetected"] == name


async def test_an_image_whose_both_names_are_taken_fails_the_reconcile_without_a_status() -> None:
    plain = "frontend-v1-2-3-abc12345"
    foreign = {
        "apiVersion": API_VERSION,
        "kind": DETECTED,
        "spec": {"fullImageName": "elsewhere:v1", "sourcePolicy": {"name": "q"}},
    }
    taken = [
        foreign | {"metadata": {"name": n, "namespace": NS}} for n in (plain, hashed(plain, selection()))
    ]
    w = world(policy(), *taken)
    with pytest.raises(errors.Conflict, match=r"names for .* are taken"):
        await w.reconcile()
    assert w.creates() == [] and w.scanned_condition() == {}


async def test_an_own_object_the_cache_has_not_heard_of_is_kept_not_duplicated() -> None:
    first = world()
    await first.reconcile()  # created through an up-to-date cache
    w = world(first.policy(), *first.client.objects(API_VERSION, DETECTED, NS), stale_cache=True)
    w.clock.advance(HOUR)
    await w.reconcile()
    assert w.creates() == ["frontend-v1-2-3-abc12345"]  # AlreadyExists, then read: ours
    assert set(w.detected()) == {"frontend-v1-2-3-abc12345"} and w.recorder.events == []
    assert w.status()["latestImages"][0]["imageDetected"] == "frontend-v1-2-3-abc12345"
    assert w.metric("irc_image_detected_created_total") == 0


async def test_a_name_taken_since_the_cache_heard_moves_to_the_hashed_name() -> None:
    plain = "frontend-v1-2-3-abc12345"
    foreign = {
        "apiVersion": API_VERSION,
        "kind": DETECTED,
        "metadata": {"name": plain, "namespace": NS},
        "spec": {"fullImageName": "x", "sourcePolicy": {"name": "q"}},
    }
    w = world(policy(), foreign, stale_cache=True)
    await w.reconcile()
    name = hashed(plain, selection())
    assert w.creates() == [plain, name]
    assert w.detected()[name]["spec"]["sourcePolicy"]["name"] == NAME
    assert w.detected()[plain]["spec"]["fullImageName"] == "x"
    assert w.status()["latestImages"][0]["imageDetected"] == name
    assert w.recorder.events[0].message.endswith(f"→ {name}")


# ---- pure rules: next_scan_in and wakes

NOW = 1_800_000_000.0


def status_only(
    *,
    generation: int = 2,
    scanned: tuple[str, int] | None = ("True", 2),
    last_scan: float | None = NOW - 600,
    requested: str | None = None,
    handled: str | None = None,
    ready: tuple[str, int] = ("True", 2),
) -> Obj:
    return policy(
        generation=generation,
        ready=ready,
        scanned=scanned,
        last_scan=last_scan,
        requested=requested,
        handled=handled,
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (status_only(), HOUR - 600),  # scanned 10 minutes ago: due in 50
        (status_only(last_scan=NOW - 2 * HOUR), 0.0),  # overdue
        (status_only(scanned=None, last_scan=None), 0.0),  # never scanned
        (status_only(scanned=("True", 1)), 0.0),  # the spec changed since the scan
        (status_only(requested="a"), 0.0),  # a scan request not handled yet
        (status_only(requested="a", handled="a"), HOUR - 600),  # ... and once handled
        (status_only(scanned=("False", 2)), 0.0),  # the last scan failed (a restart retries at once)
        (status_only(last_scan=None), 0.0),
    ],
)
def test_next_scan_in(obj: Obj, expected: float) -> None:
    assert next_scan_in(obj, HOUR, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("new", "wake"),
    [
        (status_only(last_scan=NOW), False),  # our own status write: lastScanTime moved
        (status_only(scanned=("False", 2)), False),  # ... or the Scanned condition changed
        (status_only(generation=3), True),  # a spec change
        (status_only(ready=("False", 2)), True),  # the policy controller's verdict changed
        (status_only(ready=("True", 3)), True),  # ... or now covers a newer generation
        (status_only(requested="now"), True),  # a scan request
    ],
)
def test_wakes_on_spec_ready_and_requests_only(new: Obj, wake: bool) -> None:
    assert wakes(UpdateEvent(status_only(), new)) is wake
