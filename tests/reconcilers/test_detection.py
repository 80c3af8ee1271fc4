"""When the detection controller scans: next_scan_in (due by interval, spec change, scan request,
failure) and the update predicate that keeps its own status writes from waking it; and which name
each image's ImageDetected gets."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from irc.api.conditions import rfc3339
from irc.api.imagepolicy import REQUESTED_AT
from irc.ecr import Image, ScanError, Selection
from irc.reconcilers.detection import DetectionReconciler, next_scan_in, wakes
from irc.reconcilers.settings import Settings
from irc.runtime import errors
from irc.runtime.client import Client
from irc.runtime.informer import UpdateEvent
from irc.runtime.manager import Manager, ManagerOptions
from irc.runtime.testing import FakeClock
from irc.runtime.transport import MockTransport, Response
from irc.runtime.transport import Request as HttpRequest

NOW = 1_800_000_000.0
HOUR = 3600.0


def policy(
    *,
    generation: int = 2,
    scanned: tuple[str, int] | None = ("True", 2),
    last_scan: float | None = NOW - 600,
    requested: str | None = None,
    handled: str | None = None,
    ready: tuple[str, int] = ("True", 2),
) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready[0], "observedGeneration": ready[1], "reason": "x"}]
    if scanned is not None:
        conditions.append({"type": "Scanned", "status": scanned[0], "observedGeneration": scanned[1]})
    status: dict[str, Any] = {"conditions": conditions}
    if last_scan is not None:
        status["lastScanTime"] = rfc3339(last_scan)
    if handled is not None:
        status["lastHandledReconcileAt"] = handled
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "generation": generation}
    if requested is not None:
        metadata["annotations"] = {REQUESTED_AT: requested}
    return {"metadata": metadata, "status": status}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (policy(), HOUR - 600),  # scanned 10 minutes ago: due in 50
        (policy(last_scan=NOW - 2 * HOUR), 0.0),  # overdue
        (policy(scanned=None, last_scan=None), 0.0),  # never scanned
        (policy(scanned=("True", 1)), 0.0),  # the spec changed since the scan
        (policy(requested="a"), 0.0),  # a scan request not handled yet
        (policy(requested="a", handled="a"), HOUR - 600),  # ... and once handled
        (policy(scanned=("False", 2)), 0.0),  # the last scan failed (a restart retries at once)
        (policy(last_scan=None), 0.0),
    ],
)
def test_next_scan_in(obj: dict[str, Any], expected: float) -> None:
    assert next_scan_in(obj, HOUR, NOW) == pytest.approx(expected)


def test_a_restart_within_the_interval_does_not_rescan() -> None:
    """The status is all a new manager has: a recent success means waiting, not scanning."""
    assert next_scan_in(policy(last_scan=NOW - 1), HOUR, NOW) == pytest.approx(HOUR - 1)


def update(old: dict[str, Any], new: dict[str, Any]) -> UpdateEvent:
    return UpdateEvent(old, new)


@pytest.mark.parametrize(
    ("new", "wake"),
    [
        (policy(last_scan=NOW), False),  # our own status write: lastScanTime moved
        (policy(scanned=("False", 2)), False),  # ... or the Scanned condition changed
        (policy(generation=3), True),  # a spec change
        (policy(ready=("False", 2)), True),  # the policy controller's verdict changed
        (policy(ready=("True", 3)), True),  # ... or now covers a newer generation
        (policy(requested="now"), True),  # a scan request
    ],
)
def test_wakes_on_spec_ready_and_requests_only(new: dict[str, Any], wake: bool) -> None:
    assert wakes(update(policy(), new)) is wake


class Objects:
    """ImageDetected objects by name, behind the two faces `_ensure` uses: the cache's get and the
    client's create and get (AlreadyExists, NotFound as the API server answers)."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}
        self.creates = 0

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if name not in self.by_name:
            raise errors.NotFound(404, "NotFound", name)
        return self.by_name[name]

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        if name in self.by_name:
            raise errors.AlreadyExists(409, "AlreadyExists", name)
        self.creates += 1
        self.by_name[name] = obj
        return obj


def detection(objects: Objects) -> DetectionReconciler:
    async def no_api(request: HttpRequest) -> Response:
        raise AssertionError(f"unexpected request {request.method} {request.path}")

    clock = FakeClock()
    mgr = Manager(Client(MockTransport(no_api), clock=clock), ManagerOptions(), clock=clock)
    reconciler = DetectionReconciler(mgr, Settings())
    reconciler.cache = reconciler.client = objects  # type: ignore[assignment]
    return reconciler


def owner(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}}


def image(repository: str) -> Selection:
    digest = "sha256:" + "ab" * 32
    return Selection(
        Image(repository, "v1.2.3", digest, f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}")
    )


async def test_an_image_keeps_its_name_when_the_collision_that_gave_it_is_gone() -> None:
    """Same last segment, tag and digest in two repositories: the second gets the hashed name, and
    keeps it (no second object) after the first's object is deleted."""
    objects = Objects()
    reconciler = detection(objects)
    created: list[str] = []
    first = await reconciler._ensure(owner("p"), image("team-a/frontend"), created)
    second = await reconciler._ensure(owner("p"), image("team-b/frontend"), created)
    assert first == "frontend-v1-2-3-abababab" and second.startswith(f"{first}-")
    del objects.by_name[first]  # expired, or deleted by hand
    assert await reconciler._ensure(owner("p"), image("team-b/frontend"), created) == second
    assert objects.creates == 2 and len(created) == 2
    # the first image comes back under its own name
    assert await reconciler._ensure(owner("p"), image("team-a/frontend"), created) == first
    assert objects.creates == 3


async def test_a_name_taken_since_the_cache_heard_moves_to_the_hashed_name() -> None:
    objects = Objects()
    reconciler = detection(objects)
    plain = "frontend-v1-2-3-abababab"
    stale_cache = Objects()  # the cache has not seen another policy's object yet
    reconciler.cache = stale_cache  # type: ignore[assignment]
    await objects.create(
        {"metadata": {"name": plain}, "spec": {"fullImageName": "x", "sourcePolicy": {"name": "q"}}}
    )
    name = await reconciler._ensure(owner("p"), image("team-a/frontend"), [])
    assert name.startswith(f"{plain}-") and objects.by_name[name]["spec"]["sourcePolicy"]["name"] == "p"


def _sts_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "AssumeRole",
    )


@pytest.mark.parametrize(
    ("error", "reason", "transient"),
    [
        (NoCredentialsError(), "NoCredentials", False),  # nothing to assume the role with
        (_sts_error("AccessDenied", 403), "AssumeRoleFailed", False),
        (_sts_error("Throttling", 400), "Throttled", True),  # STS's code for it
        (_sts_error("InternalFailure", 500), "AssumeRoleFailed", True),
        (EndpointConnectionError(endpoint_url="https://sts.example"), "NetworkError", True),
    ],
)
async def test_assume_role_failures_get_the_reason_and_retry_of_their_cause(
    error: Exception, reason: str, transient: bool
) -> None:
    reconciler = detection(Objects())

    class Refusing:
        async def assume_role(self, *args: Any) -> None:
            raise error

    reconciler.clients = Refusing()  # type: ignore[assignment]
    policy = owner("p") | {"spec": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}
    with pytest.raises(ScanError) as raised:
        await reconciler._credentials(policy, "us-east-1")
    assert (raised.value.reason, raised.value.transient) == (reason, transient)


async def test_a_secret_of_another_namespace_is_refused_unread() -> None:
    objects = Objects()
    reconciler = detection(objects)
    policy = owner("p") | {"spec": {"aws": {"secretRef": {"name": "aws", "namespace": "kube-system"}}}}
    with pytest.raises(ScanError) as raised:
        await reconciler._credentials(policy, "us-east-1")
    assert raised.value.reason == "CrossNamespaceSecretRef" and not raised.value.transient
    assert "kube-system/aws is in another namespace" in str(raised.value)
    # its own namespace, spelled out, is the same as leaving it out
    policy["spec"]["aws"]["secretRef"]["namespace"] = "ns"
    with pytest.raises(ScanError, match="Secret ns/aws not found"):
        await reconciler._credentials(policy, "us-east-1")
