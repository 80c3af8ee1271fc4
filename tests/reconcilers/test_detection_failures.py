"""The detection reconciler through reconcile() when a scan is not made or does not succeed: policies
not due (nothing written) or due, scan requests, deleted policies, a status write that meets a
Conflict (re-read and retried, never rescanned) or a deletion, every reason of the Scanned=False
condition (from the credentials or from the scan) with its Warning, metric and retry, the backoff of
transient failures, and the credentials a scan runs with.

The world (FakeClient, FakeAws, FakeRecorder, FakeClock) is built by test_detection's helpers.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from irc.api import API_VERSION
from irc.api.conditions import rfc3339
from irc.ecr import AwsCredentials
from irc.ecr.scan import classify
from irc.reconcilers.settings import Settings
from irc.runtime import Obj, ReconcileError, errors
from irc.runtime.testing import FakeClock
from tests.reconcilers.test_detection import (
    ASSUMED,
    HOUR,
    KIND,
    NAME,
    NS,
    READY,
    FakeAws,
    World,
    assert_requeued_with_jitter,
    policy,
    scanned,
    selection,
    world,
)

ROLE = "arn:aws:iam::123456789012:role/ECRReadRole"
WALL = FakeClock().wall()


KEYS = {"accessKeyId": "AKIAKEY", "secretAccessKey": "shh"}


def secret(namespace: str = NS, data: dict[str, str] | None = None, *, encode: bool = True) -> Obj:
    """The Secret `aws` with `data` (KEYS unless given; base64-encoded unless `encode` is False)."""
    data = KEYS if data is None else data
    if encode:
        data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "aws", "namespace": namespace},
        "data": data,
    }


FROM_SECRET = AwsCredentials("AKIAKEY", "shh")


def aws_error(code: str, status: int, operation: str = "DescribeRepositories") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


# ---- when a policy is scanned


async def test_a_deleted_policy_is_nothing_to_do_and_its_assumed_role_is_forgotten() -> None:
    w = world(policy("other"))
    assert await w.reconcile() is None
    assert w.client.writes() == [] and w.aws.scans == [] and w.recorder.events == []
    assert w.aws.forgotten == ["irc-team-webapp"]


def deleting(obj: Obj) -> Obj:
    obj["metadata"] |= {"deletionTimestamp": "2023-11-14T00:00:00Z", "finalizers": ["example.com/f"]}
    return obj


NOT_SCANNED = {
    "never validated": (policy(ready=None), None),
    "invalid": (policy(ready=("False", 1)), None),
    "validated for an older generation": (policy(generation=2, ready=("True", 1)), None),
    "suspended": (policy(suspend=True), None),
    "being deleted": (deleting(policy()), None),
    "a spec the policy controller refuses": (
        policy(ecrRepository={"region": "not a region!", "repositoryPattern": "*"}),
        None,
    ),
    "scanned 10 minutes ago": (policy(scanned=("True", 1), last_scan=WALL - 600), 3000.0),
    "scan request handled": (
        policy(scanned=("True", 1), last_scan=WALL - 600, requested="a", handled="a"),
        3000.0,
    ),
}


@pytest.mark.parametrize(("obj", "requeue"), NOT_SCANNED.values(), ids=NOT_SCANNED.keys())
async def test_a_policy_not_due_is_not_scanned_nor_written(obj: Obj, requeue: float | None) -> None:
    w = world(obj)
    result = await w.reconcile()
    assert w.client.writes() == [] and w.aws.scans == [] and w.recorder.events == []
    if requeue is None:
        assert result is None  # a Ready, spec or annotation change brings it back
    else:
        assert result is not None and result.requeue_after == pytest.approx(requeue)
    assert w.metric("irc_ecr_scans_total", result="success") == 0


SCANNED = {
    "never scanned": policy(),
    "interval elapsed": policy(scanned=("True", 1), last_scan=WALL - HOUR),
    "spec changed since": policy(generation=2, ready=("True", 2), scanned=("True", 1), last_scan=WALL),
    "last scan failed": policy(scanned=("False", 1), last_scan=WALL - 60),
    "scan requested": policy(scanned=("True", 1), last_scan=WALL - 60, requested="b", handled="a"),
}


@pytest.mark.parametrize("obj", SCANNED.values(), ids=SCANNED.keys())
async def test_a_due_policy_is_scanned(obj: Obj) -> None:
    w = world(obj)
    await w.reconcile()
    assert len(w.aws.scans) == 1
    generation = obj["metadata"]["generation"]
    assert w.scanned_condition()["observedGeneration"] == generation
    assert w.status()["lastScanTime"] == rfc3339(w.clock.wall())


async def test_a_scan_request_is_handled_once() -> None:
    """Setting reconcile-requested-at scans within the interval; its value is recorded, so the
    next reconcile waits for the interval again."""
    w = world(policy(scanned=("True", 1), last_scan=WALL - 60, requested="2024-05-01T10:00:00Z"))
    assert_requeued_with_jitter(await w.reconcile(), HOUR)
    assert len(w.aws.scans) == 1
    assert w.status()["lastHandledReconcileAt"] == "2024-05-01T10:00:00Z"
    w.client.actions.clear()
    w.clock.advance(60)
    result = await w.reconcile()
    assert result is not None and result.requeue_after == pytest.approx(HOUR - 60)
    assert len(w.aws.scans) == 1 and w.client.writes() == []


async def test_a_failed_scan_handles_the_request_too() -> None:
    w = world(
        policy(scanned=("True", 1), last_scan=WALL - 60, requested="r1"),
        aws=FakeAws(ReconcileError("ScanTimeout", "too slow", terminal=False)),
    )
    await w.reconcile()
    assert w.status()["lastHandledReconcileAt"] == "r1"
    assert w.status()["lastScanTime"] == rfc3339(w.clock.wall() - 60)  # the last success's


async def test_a_restart_within_the_interval_does_not_rescan() -> None:
    """The status is all a new reconciler has: a recent success means waiting, not scanning."""
    w = world()
    await w.reconcile()
    restarted = world(w.policy())
    restarted.clock.advance(600)
    result = await restarted.reconcile()
    assert restarted.aws.scans == [] and result is not None
    assert result.requeue_after == pytest.approx(HOUR - 600)


# ---- the status write meets other writers


def concurrent_status_write(w: World) -> Callable[[], Awaitable[None]]:
    """The policy controller writes a condition while the scan runs, so ours meets a 409."""

    async def write() -> None:
        status = copy.deepcopy(w.status())
        status["conditions"].append(
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "observedGeneration": 1,
            }
        )
        await w.client.patch(API_VERSION, KIND, NAME, {"status": status}, namespace=NS, subresource="status")

    return write


@pytest.mark.parametrize("outcome", ["success", "failure"])
async def test_a_conflicting_status_write_is_retried_on_a_fresh_read_without_rescanning(outcome: str) -> None:
    answer = (
        scanned(selection()) if outcome == "success" else classify(EndpointConnectionError(endpoint_url="e"))
    )
    w = world(aws=FakeAws(answer))
    w.aws.during_scan = concurrent_status_write(w)
    await w.reconcile()
    assert len(w.aws.scans) == 1 and len(w.creates()) == (1 if outcome == "success" else 0)
    policy_calls = [(a.verb, a.subresource) for a in w.client.actions if a.kind == KIND]
    assert policy_calls == [("patch", "status"), ("patch", "status"), ("get", None), ("patch", "status")]
    types = [c["type"] for c in w.status()["conditions"]]
    assert types == ["Ready", "Suspended", "Scanned"]  # the other writer's condition survives
    assert w.scanned_condition()["status"] == ("True" if outcome == "success" else "False")


async def test_conflicts_without_end_fail_the_reconcile_after_five_tries() -> None:
    w = world()
    w.client.inject("patch", KIND, errors.Conflict(409, "Conflict", "modified"), times=5)
    with pytest.raises(errors.Conflict):
        await w.reconcile()
    assert len(w.aws.scans) == 1
    assert [a.verb for a in w.client.actions if a.kind == KIND] == ["patch", "get"] * 4 + ["patch"]
    assert w.scanned_condition() == {}


async def test_a_policy_deleted_during_the_scan_ends_the_reconcile_quietly() -> None:
    w = world()

    async def delete() -> None:
        await w.client.delete(API_VERSION, KIND, NAME, NS)

    w.aws.during_scan = delete
    assert_requeued_with_jitter(await w.reconcile(), HOUR)  # the next reconcile finds it gone
    assert await w.reconcile() is None and w.aws.forgotten == ["irc-team-webapp"]


async def test_a_policy_deleted_after_a_conflicting_status_write_ends_the_reconcile_quietly() -> None:
    w = world()
    w.client.inject("patch", KIND, errors.Conflict(409, "Conflict", "modified"))
    w.client.inject("get", KIND, errors.NotFound(404, "NotFound", "imageresourcepolicies webapp"))
    assert_requeued_with_jitter(await w.reconcile(), HOUR)


# ---- failure reasons


def assert_failed(w: World, result: Any, reason: str, terminal: bool, message: str) -> None:
    """Scanned=False with the reason, one Warning saying the same, counted; nothing created; retried
    after 15 s (transient) or at the interval (terminal, unjittered)."""
    condition = w.scanned_condition()
    assert condition == {
        "type": "Scanned",
        "status": "False",
        "reason": reason,
        "message": condition["message"],
        "observedGeneration": 1,
        "lastTransitionTime": rfc3339(w.clock.wall()),
    }
    assert message in condition["message"]
    assert w.status()["conditions"][0] == READY  # the policy controller's condition is kept
    assert "lastScanTime" not in w.status() and "latestImages" not in w.status()
    assert [(e.type, e.reason, e.message) for e in w.recorder.events] == [
        ("Warning", reason, condition["message"])
    ]
    assert w.metric("irc_ecr_scans_total", result=reason) == 1
    assert w.metric("irc_ecr_scans_total", result="success") == 0
    assert w.metric("irc_ecr_scan_duration_seconds_count") == 0
    assert w.detected() == {} and w.creates() == []
    assert result is not None and result.requeue_after == (HOUR if terminal else 15.0)


SCAN_FAILURES = {  # what AwsClients.scan raises: irc.ecr.scan.classify of the AWS error, or ScanTimeout
    "access denied": (aws_error("AccessDeniedException", 400), "AccessDenied", True, "AccessDeniedException"),
    "unknown key": (aws_error("UnrecognizedClientException", 400), "AccessDenied", True, "Unrecognized"),
    "forbidden": (aws_error("Whatever", 403), "AccessDenied", True, "DescribeRepositories"),
    "throttled": (aws_error("ThrottlingException", 400), "Throttled", False, "throttled after retries"),
    "timeout": (
        ReconcileError("ScanTimeout", "the scan took longer than scanTimeout (300s)", terminal=False),
        "ScanTimeout",
        False,
        "longer than scanTimeout",
    ),
    "unreachable": (
        EndpointConnectionError(endpoint_url="https://ecr"),
        "NetworkError",
        False,
        "cannot reach",
    ),
    "no credentials": (NoCredentialsError(), "NoCredentials", True, "set spec.aws.secretRef"),
    "unknown registry": (
        aws_error("RegistryNotFoundException", 400),
        "InvalidPolicy",
        True,
        "RegistryNotFound",
    ),
    "other client error": (aws_error("LimitExceededException", 400), "ScanFailed", True, "LimitExceeded"),
    "server error": (aws_error("ServerException", 500), "ScanFailed", False, "ServerException"),
    "botocore error": (ParamValidationError(report="bad"), "ScanFailed", False, "bad"),
}


@pytest.mark.parametrize(
    ("error", "reason", "terminal", "message"), SCAN_FAILURES.values(), ids=SCAN_FAILURES.keys()
)
async def test_a_failed_scan_sets_its_reason_and_retry(
    error: Exception, reason: str, terminal: bool, message: str
) -> None:
    if isinstance(error, ClientError | BotoCoreError):
        error = classify(error)
    w = world(aws=FakeAws(error))
    assert_failed(w, await w.reconcile(), reason, terminal, message)


def with_secret(**aws: Any) -> Obj:
    return policy(aws={"secretRef": {"name": "aws"}} | aws)


CREDENTIAL_FAILURES = {
    "secret of another namespace": (
        [
            policy(aws={"secretRef": {"name": "aws", "namespace": "kube-system"}}),
            secret("kube-system"),
        ],
        ASSUMED,
        "CrossNamespaceSecretRef",
        True,
        "Secret kube-system/aws is in another namespace; a policy may only use Secrets of its own (team)",
    ),
    "secret missing": ([with_secret()], ASSUMED, "SecretNotFound", True, "Secret team/aws not found"),
    "secret lacking a key": (
        [with_secret(), secret(data={"accessKeyId": "AKIAKEY"})],
        ASSUMED,
        "SecretInvalid",
        True,
        "Secret team/aws lacks secretAccessKey",
    ),
    "secret not base64": (
        [with_secret(), secret(data={"accessKeyId": "not base64!", "secretAccessKey": "x"}, encode=False)],
        ASSUMED,
        "SecretInvalid",
        True,
        "data is not base64",
    ),
    "role refused": (
        [policy(aws={"roleArn": ROLE})],
        aws_error("AccessDenied", 403, "AssumeRole"),
        "AssumeRoleFailed",
        True,
        f"STS AssumeRole {ROLE}: ",
    ),
    "STS failing": (
        [policy(aws={"roleArn": ROLE})],
        aws_error("InternalFailure", 500, "AssumeRole"),
        "AssumeRoleFailed",
        False,
        "InternalFailure",
    ),
    "nothing to assume the role with": (
        [policy(aws={"roleArn": ROLE})],
        NoCredentialsError(),
        "NoCredentials",
        True,
        "no AWS credentials",
    ),
    "STS throttling": (
        [policy(aws={"roleArn": ROLE})],
        aws_error("Throttling", 400, "AssumeRole"),  # STS's code for it
        "Throttled",
        False,
        "AssumeRole: throttled",
    ),
    "STS unreachable": (
        [policy(aws={"roleArn": ROLE})],
        EndpointConnectionError(endpoint_url="https://sts.example"),
        "NetworkError",
        False,
        "sts.example",
    ),
}


@pytest.mark.parametrize(
    ("objects", "role", "reason", "terminal", "message"),
    CREDENTIAL_FAILURES.values(),
    ids=CREDENTIAL_FAILURES.keys(),
)
async def test_credentials_that_fail_set_their_reason_and_nothing_is_scanned(
    objects: list[Obj], role: AwsCredentials | Exception, reason: str, terminal: bool, message: str
) -> None:
    w = world(*copy.deepcopy(objects), aws=FakeAws(role=role))
    assert_failed(w, await w.reconcile(), reason, terminal, message)
    assert w.aws.scans == []


async def test_a_secret_of_another_namespace_is_never_read() -> None:
    w = world(policy(aws={"secretRef": {"name": "aws", "namespace": "kube-system"}}), secret("kube-system"))
    await w.reconcile()
    assert [a for a in w.client.actions if a.kind == "Secret"] == []
    assert w.aws.assumed == [] and w.aws.scans == []


# ---- the credentials a scan runs with


@pytest.mark.parametrize("namespace", [None, NS], ids=["own namespace implied", "own namespace spelled out"])
async def test_a_secret_of_the_policys_namespace_gives_the_scan_its_keys(namespace: str | None) -> None:
    ref = {"name": "aws"} | ({"namespace": namespace} if namespace else {})
    w = world(policy(aws={"secretRef": ref}), secret(data=KEYS | {"sessionToken": "tok"}))
    await w.reconcile()
    ((_, credentials, _),) = w.aws.scans
    assert credentials == AwsCredentials("AKIAKEY", "shh", "tok")
    assert [(a.verb, a.namespace, a.name) for a in w.client.actions if a.kind == "Secret"] == [
        ("get", NS, "aws")
    ]
    assert w.aws.assumed == [] and w.scanned_condition()["status"] == "True"


@pytest.mark.parametrize(
    ("aws", "objects", "source"),
    [
        ({"roleArn": ROLE}, [], None),  # the default chain assumes it
        ({"roleArn": ROLE, "secretRef": {"name": "aws"}}, [secret()], FROM_SECRET),
    ],
    ids=["from the default chain", "from the secret"],
)
async def test_a_role_is_assumed_with_the_policys_session_name(
    aws: dict[str, Any], objects: list[Obj], source: AwsCredentials | None
) -> None:
    w = world(policy(aws=aws), *objects)
    await w.reconcile()
    assert w.aws.assumed == [(ROLE, source, "us-east-1", "irc-team-webapp")]
    ((_, credentials, _),) = w.aws.scans
    assert credentials == ASSUMED


async def test_an_empty_role_arn_means_none() -> None:
    """The seed accepts any string there, and templates render a missing value as ""."""
    w = world(policy(aws={"roleArn": ""}))
    await w.reconcile()
    assert w.aws.assumed == [] and w.aws.scans[0][1] is None


async def test_the_policys_max_concurrent_scans_reaches_the_scan_with_the_managers_default() -> None:
    ecr = {"region": "eu-west-1", "repositoryPattern": "webapp/*", "maxConcurrentScans": 3}
    w = world(policy(ecrRepository=ecr), settings=Settings(ecr_concurrency=5))
    await w.reconcile()
    ((spec, _, concurrency),) = w.aws.scans
    assert (spec.region, spec.concurrency(concurrency)) == ("eu-west-1", 3) and concurrency == 5


# ---- retrying


@pytest.mark.parametrize(
    ("interval", "expected"), [("5m", [15, 30, 60, 120, 240, 300, 300]), ("1m", [15, 30, 60, 60])]
)
async def test_transient_failures_back_off_doubling_up_to_the_interval(
    interval: str, expected: list[float]
) -> None:
    w = world(policy(interval=interval), aws=FakeAws(classify(aws_error("ThrottlingException", 400))))
    delays = []
    for _ in expected:
        result = await w.reconcile()
        assert result is not None and result.requeue_after is not None
        delays.append(result.requeue_after)
        w.clock.advance(result.requeue_after)
    assert delays == expected and len(w.aws.scans) == len(expected)
    assert w.metric("irc_ecr_scans_total", result="Throttled") == len(expected)


async def test_a_success_starts_the_backoff_over() -> None:
    throttled = classify(aws_error("ThrottlingException", 400))
    w = world(aws=FakeAws(throttled, throttled, scanned(selection()), throttled))
    delays = []
    for _ in range(4):
        result = await w.reconcile()
        assert result is not None and result.requeue_after is not None
        delays.append(result.requeue_after)
        w.clock.advance(result.requeue_after)
    assert delays[:2] == [15, 30] and HOUR <= delays[2] < 1.1 * HOUR and delays[3] == 15


async def test_terminal_failures_are_retried_at_the_interval_unjittered() -> None:
    w = world(aws=FakeAws(classify(aws_error("AccessDeniedException", 400))))
    for _ in range(3):
        result = await w.reconcile()
        assert result is not None and result.requeue_after == HOUR
    assert len(w.aws.scans) == 3 and w.recorder.reasons() == ["AccessDenied"] * 3


async def test_a_deleted_and_recreated_policy_starts_the_backoff_over() -> None:
    w = world(aws=FakeAws(classify(aws_error("ThrottlingException", 400))))
    first = await w.reconcile()
    await w.client.delete(API_VERSION, KIND, NAME, NS)
    assert await w.reconcile() is None
    await w.client.create(policy())
    await w.client.patch(
        API_VERSION, KIND, NAME, {"status": {"conditions": [READY]}}, namespace=NS, subresource="status"
    )
    second = await w.reconcile()
    assert first is not None and second is not None and first.requeue_after == second.requeue_after == 15


async def test_a_failure_after_a_success_keeps_the_last_success_figures() -> None:
    w = world(aws=FakeAws(scanned(selection()), classify(aws_error("ServerException", 500))))
    await w.reconcile()
    succeeded = copy.deepcopy(w.status())
    w.clock.advance(HOUR)
    await w.reconcile()
    condition = w.scanned_condition()
    assert (condition["status"], condition["reason"]) == ("False", "ScanFailed")
    assert condition["lastTransitionTime"] == rfc3339(w.clock.wall())
    for key in ("lastScanTime", "latestImages", "imagesDetected", "apiCalls"):
        assert w.status()[key] == succeeded[key]
    assert set(w.detected()) == {"frontend-v1-2-3-abc12345"}
