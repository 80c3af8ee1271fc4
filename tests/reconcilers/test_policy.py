"""The policy reconciler, through `await reconciler.reconcile(Request(...))` only.

Each test builds `PolicyReconciler` from irc.runtime.testing (FakeClient as the API server and,
through `FakeClient.cache`, as the informers' cache; FakeRecorder; FakeClock), seeds objects
shaped like the seed's samples (manifests/samples/seed-examples.yaml), and judges what a user
would see: the stored objects, the policy's status and conditions, the Events, the metrics and
the returned Result. The pure rules of expiry are in test_policy_gc.py.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.conditions import get_condition, rfc3339
from irc.api.imagepolicy import MANAGED_BY, POLICY_LABEL
from irc.reconcilers.policy import DAY, INDEXES, REVALIDATE, Metrics, PolicyReconciler
from irc.runtime import Obj, Request, Result, errors
from irc.runtime.testing import FAKE_EPOCH, FakeClient, FakeClock, FakeRecorder, RecordedEvent

NS, NAME = "default", "webapp-policy"
KIND, DETECTED = "ImageResourcePolicy", "ImageDetected"
NOW = FAKE_EPOCH  # FakeClock().wall() before any advance()
MANAGED = {MANAGED_BY[0]: MANAGED_BY[1], POLICY_LABEL: NAME}
ROLE = "arn:aws:iam::123456789012:role/ECRReadRole"


# ---- objects, shaped like the seed's samples


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def policy(
    *, spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, generation: int = 3
) -> Obj:
    """The seed's webapp-policy with an AWS Secret; `spec` replaces top-level fields (None drops one)."""
    fields: dict[str, Any] = {
        "ecrRepository": {
            "region": "us-east-1",
            "repositoryPattern": "webapp/*",
            "maxRepositories": 10,
            "scanTimeout": "5m",
        },
        "policy": {"perRepository": False, "semver": {"range": ">=1.0.0"}},
        "templateRef": {"name": "webapp-template", "namespace": NS},
        "aws": {"roleArn": ROLE, "secretRef": {"name": "ecr-credentials"}},
        "ttlDays": 7,
    }
    for key, value in (spec or {}).items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    obj: Obj = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": NAME, "namespace": NS, "generation": generation},
        "spec": fields,
    }
    if status is not None:
        obj["status"] = status
    return obj


def template(namespace: str = NS) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceTemplate",
        "metadata": {"name": "webapp-template", "namespace": namespace},
        "spec": {
            "template": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .ServiceName }}\n",
            "gitRepository": {
                "url": "https://github.com/your-org/k8s-manifests.git",
                "branch": "main",
                "path": "./applications",
                "secretRef": {"name": "git-credentials"},
            },
        },
    }


def secret(data: dict[str, str] | None = None, namespace: str = NS) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "ecr-credentials", "namespace": namespace},
        "data": {"accessKeyId": b64("AKIAIOSFODNN7EXAMPLE"), "secretAccessKey": b64("wJalrXUtnFEMI/K7MDENG")}
        if data is None
        else data,
    }


def detected(
    tag: str,
    age_days: float | None,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    source: str = NAME,
    namespace: str = NS,
    created_days_ago: float = 0.0,
    deleting: bool = False,
) -> Obj:
    """An ImageDetected the detection controller would create for webapp/frontend:`tag`, detected
    `age_days` ago (None: no spec.detectedAt); `labels` None means the detection controller's;
    `deleting`: held by a finalizer, its deletion under way."""
    spec: dict[str, Any] = {
        "imageName": "webapp-frontend",
        "imageTag": tag,
        "imageDigest": "sha256:" + "ab" * 32,
        "fullImageName": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:{tag}",
        "sourcePolicy": {"name": source, "namespace": namespace},
    }
    if age_days is not None:
        spec["detectedAt"] = rfc3339(NOW - round(age_days * DAY))
    metadata: dict[str, Any] = {
        "name": name or f"webapp-frontend-{tag.replace('.', '-')}",
        "namespace": namespace,
        "labels": dict(MANAGED) if labels is None else labels,
        "creationTimestamp": rfc3339(NOW - round(created_days_ago * DAY)),
    }
    if deleting:
        metadata |= {"finalizers": ["example.com/hold"], "deletionTimestamp": rfc3339(NOW - 60)}
    return {"apiVersion": API_VERSION, "kind": DETECTED, "metadata": metadata, "spec": spec}


def detection_status() -> dict[str, Any]:
    """What the detection controller writes into a policy's status after a scan."""
    return {
        "conditions": [
            {
                "type": "Scanned",
                "status": "True",
                "reason": "Succeeded",
                "message": "scanned 2 repositories (14 images) in 0.8s, selected 1",
                "observedGeneration": 3,
                "lastTransitionTime": rfc3339(NOW - 600),
            }
        ],
        "lastScanTime": rfc3339(NOW - 600),
        "lastScanDuration": "0.812s",
        "repositoriesMatched": 2,
        "repositoriesScanned": 2,
        "imagesScanned": 14,
        "imagesDetected": 1,
        "apiCalls": 4,
        "latestImages": [
            {
                "repository": "webapp/frontend",
                "tag": "v1.2.3",
                "digest": "sha256:" + "ab" * 32,
                "imageDetected": "webapp-frontend-v1-2-3",
            }
        ],
        "lastHandledReconcileAt": "2023-11-14T22:00:00Z",
    }


@dataclass
class Env:
    client: FakeClient
    recorder: FakeRecorder
    clock: FakeClock
    registry: CollectorRegistry
    reconciler: PolicyReconciler

    async def reconcile(self) -> Result | None:
        return await self.reconciler.reconcile(Request(NS, NAME))

    def policy(self) -> Obj:
        return self.client.get_now(API_VERSION, KIND, NAME, NS)

    def condition(self, type: str) -> dict[str, Any]:
        found = get_condition(self.policy().get("status"), type)
        assert found is not None, f"no {type} condition in {self.policy().get('status')}"
        return dict(found)

    def status_writes(self) -> int:
        return sum(1 for a in self.client.writes() if (a.kind, a.subresource) == (KIND, "status"))

    def deletions(self) -> list[str]:
        return [a.name for a in self.client.writes() if (a.verb, a.kind) == ("delete", DETECTED)]

    def remaining(self, namespace: str = NS) -> list[str]:
        return [o["metadata"]["name"] for o in self.client.objects(API_VERSION, DETECTED, namespace)]

    def deleted_total(self, reason: str) -> float | None:
        return self.registry.get_sample_value("irc_image_detected_deleted_total", {"reason": reason})

    def warning(self, reason: str, message: str) -> RecordedEvent:
        return RecordedEvent(KIND, NS, NAME, "Warning", reason, message)


def build(*objects: Obj, namespaces: Sequence[str] = ()) -> Env:
    clock = FakeClock()
    client = FakeClient(objects, indexes=INDEXES, clock=clock, namespaces=namespaces)
    recorder, registry = FakeRecorder(), CollectorRegistry()
    reconciler = PolicyReconciler(
        client=client, reader=client.cache, recorder=recorder, clock=clock, metrics=Metrics.register(registry)
    )
    return Env(client, recorder, clock, registry, reconciler)


def ready(status: str, reason: str, message: str, *, generation: int = 3, at: float = NOW) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": rfc3339(at),
    }


def suspended(value: bool, *, generation: int = 3, at: float = NOW) -> dict[str, Any]:
    return {
        "type": "Suspended",
        "status": "True" if value else "False",
        "reason": "Suspended" if value else "Active",
        "message": "scans are suspended" if value else "scans run every interval",
        "observedGeneration": generation,
        "lastTransitionTime": rfc3339(at),
    }


VALID = "the policy is valid"
NOT_FOUND = "Secret default/ecr-credentials not found (spec.aws.secretRef)"


# ---- Ready: one reason per check


@pytest.mark.parametrize(
    ("objects", "namespaces", "reason", "message"),
    [
        pytest.param([policy(), template(), secret()], (), "Valid", VALID, id="Valid"),
        pytest.param(
            [policy(spec={"aws": {"roleArn": ROLE}}), template()], (), "Valid", VALID, id="Valid-no-secretRef"
        ),
        pytest.param(
            [policy(spec={"policy": {"semver": {"range": "<<1"}}}), template(), secret()],
            (),
            "InvalidPolicy",
            "policy.semver.range: improper constraint: '<<1' in '<<1'",
            id="InvalidPolicy-range",
        ),
        pytest.param(
            [
                policy(spec={"policy": {"pattern": {"regex": "(", "extractPrefix": True}}}),
                template(),
                secret(),
            ],
            (),
            "InvalidPolicy",
            "policy.pattern.regex: invalid regular expression '(': missing ) at offset 1",
            id="InvalidPolicy-regex",
        ),
        pytest.param(
            [
                policy(spec={"ecrRepository": {"region": "us-east-1", "repositoryPattern": "webapp/[a"}}),
                template(),
                secret(),
            ],
            (),
            "InvalidPolicy",
            "ecrRepository.repositoryPattern: unclosed [ in glob 'webapp/[a'",
            id="InvalidPolicy-glob",
        ),
        pytest.param(
            [policy(spec={"filterTags": {"pattern": "[", "extract": "$1"}}), template(), secret()],
            (),
            "InvalidPolicy",
            "filterTags.pattern: invalid regular expression '[': missing closing ] at offset 1",
            id="InvalidPolicy-filter",
        ),
        pytest.param(
            [policy(), secret()],
            (),
            "TemplateNotFound",
            "ResourceTemplate default/webapp-template not found (spec.templateRef)",
            id="TemplateNotFound",
        ),
        pytest.param(
            [
                policy(spec={"templateRef": {"name": "webapp-template", "namespace": "shared"}}),
                template("shared"),
                secret(),
            ],
            (NS,),
            "TemplateNotWatched",
            "ResourceTemplate shared/webapp-template (spec.templateRef) is in namespace shared, which this "
            "manager does not watch (irc manager --namespace)",
            id="TemplateNotWatched",
        ),
        pytest.param([policy(), template()], (), "SecretNotFound", NOT_FOUND, id="SecretNotFound"),
        pytest.param(
            [policy(), template(), secret({"accessKeyId": b64("AKIAIOSFODNN7EXAMPLE")})],
            (),
            "SecretInvalid",
            "Secret default/ecr-credentials lacks secretAccessKey",
            id="SecretInvalid-missing-key",
        ),
        pytest.param(
            [policy(), template(), secret({"accessKeyId": "not base64!", "secretAccessKey": "x"})],
            (),
            "SecretInvalid",
            "Secret default/ecr-credentials: data is not base64 of UTF-8 text",
            id="SecretInvalid-not-base64",
        ),
        pytest.param(
            [policy(), template(), secret({"accessKeyId": "/w==", "secretAccessKey": b64("x")})],  # 0xff
            (),
            "SecretInvalid",
            "Secret default/ecr-credentials: data is not base64 of UTF-8 text",
            id="SecretInvalid-not-utf8",
        ),
        pytest.param(
            [
                policy(spec={"aws": {"secretRef": {"name": "ecr-credentials", "namespace": "kube-system"}}}),
                template(),
                secret(namespace="kube-system"),
            ],
            (),
            "CrossNamespaceSecretRef",
            "spec.aws.secretRef: Secret kube-system/ecr-credentials is in another namespace; a policy may "
            "only use Secrets of its own (default)",
            id="CrossNamespaceSecretRef",
        ),
    ],
)
async def test_ready_says_why(
    objects: list[Obj], namespaces: tuple[str, ...], reason: str, message: str
) -> None:
    env = build(*objects, namespaces=namespaces)

    result = await env.reconcile()

    valid = reason == "Valid"
    assert env.condition("Ready") == ready("True" if valid else "False", reason, message)
    assert env.condition("Suspended") == suspended(False)
    assert env.policy()["status"]["observedGeneration"] == 3
    assert env.recorder.events == ([] if valid else [env.warning(reason, message)])
    assert env.status_writes() == 1
    assert result == Result(requeue_after=REVALIDATE)


async def test_a_secret_in_another_namespace_is_refused_without_reading_it() -> None:
    """Whether it exists there is not revealed, so it is not even read."""
    ref = {"name": "ecr-credentials", "namespace": "kube-system"}
    env = build(policy(spec={"aws": {"secretRef": ref}}), template(), secret(namespace="kube-system"))

    await env.reconcile()

    assert env.condition("Ready")["reason"] == "CrossNamespaceSecretRef"
    assert [a for a in env.client.actions if a.kind == "Secret"] == []


async def test_the_secret_is_checked_on_a_fresh_read_not_in_the_cache() -> None:
    """Secrets are cached metadata-only, so their keys can only be checked at the API server."""
    env = build(policy(), template())
    env.client.cache.freeze()  # the informer has not seen the Secret yet
    await env.client.create(secret())

    await env.reconcile()

    assert env.condition("Ready") == ready("True", "Valid", VALID)


# ---- Ready flips back once the reference is fixed


async def _create_template(env: Env) -> None:
    await env.client.create(template())


async def _create_secret(env: Env) -> None:
    await env.client.create(secret())


async def _complete_secret(env: Env) -> None:
    await env.client.patch("v1", "Secret", "ecr-credentials", {"data": secret()["data"]}, namespace=NS)


async def _fix_range(env: Env) -> None:
    await env.client.patch(
        API_VERSION, KIND, NAME, {"spec": {"policy": {"semver": {"range": ">=1.0.0"}}}}, namespace=NS
    )


@pytest.mark.parametrize(
    ("objects", "reason", "fix", "generation"),
    [
        pytest.param([policy(), secret()], "TemplateNotFound", _create_template, 3, id="template-created"),
        pytest.param([policy(), template()], "SecretNotFound", _create_secret, 3, id="secret-created"),
        pytest.param(
            [policy(), template(), secret({"accessKeyId": b64("AKIAIOSFODNN7EXAMPLE")})],
            "SecretInvalid",
            _complete_secret,
            3,
            id="secret-completed",
        ),
        pytest.param(
            [policy(spec={"policy": {"semver": {"range": "<<1"}}}), template(), secret()],
            "InvalidPolicy",
            _fix_range,
            4,
            id="spec-fixed",
        ),
    ],
)
async def test_ready_returns_to_valid_once_fixed(
    objects: list[Obj], reason: str, fix: Callable[[Env], Awaitable[None]], generation: int
) -> None:
    env = build(*objects)
    await env.reconcile()
    assert env.condition("Ready")["reason"] == reason
    warning = env.recorder.events[0]

    await fix(env)
    env.clock.advance(60)
    result = await env.reconcile()

    assert env.condition("Ready") == ready("True", "Valid", VALID, generation=generation, at=NOW + 60)
    assert env.policy()["status"]["observedGeneration"] == generation
    assert env.recorder.events == [warning]  # a recovery records no Event
    assert env.status_writes() == 2
    assert result == Result(requeue_after=REVALIDATE)


async def test_each_new_failure_warns_again() -> None:
    env = build(policy(), template(), secret())
    await env.reconcile()
    await env.client.delete("v1", "Secret", "ecr-credentials", NS)
    await env.reconcile()
    await env.client.create(secret())
    await env.reconcile()
    await env.client.delete("v1", "Secret", "ecr-credentials", NS)
    env.clock.advance(60)
    await env.reconcile()

    assert env.condition("Ready") == ready("False", "SecretNotFound", NOT_FOUND, at=NOW + 60)
    assert env.recorder.events == [env.warning("SecretNotFound", NOT_FOUND)] * 2


async def test_a_new_reason_warns_again_and_keeps_the_transition_time() -> None:
    env = build(policy(), template())
    await env.reconcile()
    await env.client.create(secret({"accessKeyId": b64("AKIAIOSFODNN7EXAMPLE")}))
    env.clock.advance(60)
    await env.reconcile()

    lacks = "Secret default/ecr-credentials lacks secretAccessKey"
    assert env.condition("Ready") == ready("False", "SecretInvalid", lacks)  # still False since NOW
    assert env.recorder.events == [
        env.warning("SecretNotFound", NOT_FOUND),
        env.warning("SecretInvalid", lacks),
    ]


# ---- Suspended


async def test_suspended_follows_spec_suspend() -> None:
    env = build(policy(spec={"suspend": True}), template(), secret())
    await env.reconcile()
    assert env.condition("Suspended") == suspended(True)
    assert env.condition("Ready") == ready("True", "Valid", VALID)  # a suspended policy is still validated

    await env.client.patch(API_VERSION, KIND, NAME, {"spec": {"suspend": False}}, namespace=NS)
    env.clock.advance(30)
    result = await env.reconcile()

    assert env.condition("Suspended") == suspended(False, generation=4, at=NOW + 30)
    # Same status, newer generation: the time of the transition stays.
    assert env.condition("Ready") == ready("True", "Valid", VALID, generation=4)
    assert env.policy()["status"]["observedGeneration"] == 4
    assert env.recorder.events == []
    assert result == Result(requeue_after=REVALIDATE)


# ---- the status is shared with the detection controller


async def test_the_status_write_carries_only_the_policy_controllers_fields() -> None:
    env = build(policy(status=detection_status()), template(), secret())
    version = env.policy()["metadata"]["resourceVersion"]

    await env.reconcile()

    scanned = detection_status()["conditions"][0]
    assert [(a.verb, a.kind, a.subresource, a.body) for a in env.client.writes()] == [
        (
            "patch",
            KIND,
            "status",
            {
                "metadata": {"resourceVersion": version},
                "status": {
                    "conditions": [scanned, ready("True", "Valid", VALID), suspended(False)],
                    "observedGeneration": 3,
                },
            },
        )
    ]
    assert env.policy()["status"] == {
        **detection_status(),
        "conditions": [scanned, ready("True", "Valid", VALID), suspended(False)],
        "observedGeneration": 3,
    }


async def _detection_scans(env: Env) -> dict[str, Any]:
    """The detection controller's status write, as it makes it (with a resourceVersion precondition)."""
    current = env.policy()
    status = detection_status()
    await env.client.patch(
        API_VERSION,
        KIND,
        NAME,
        {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}, "status": status},
        namespace=NS,
        subresource="status",
    )
    return status


async def test_a_write_over_a_newer_status_fails_with_conflict_instead_of_dropping_its_fields() -> None:
    """The cache still has the policy from before the detection controller's write: writing its
    conditions list would drop Scanned, so the write must fail and the retry, on the newer copy, keep it."""
    env = build(policy(), template())  # SecretNotFound: a Warning is due
    env.client.cache.freeze()
    theirs = await _detection_scans(env)

    with pytest.raises(errors.Conflict):
        await env.reconcile()
    assert env.policy()["status"] == theirs
    assert env.recorder.events == []  # not before its condition is written

    env.client.cache.catch_up()  # the informer delivers the new copy; the controller retries
    await env.reconcile()
    await env.reconcile()

    assert env.policy()["status"] == {
        **theirs,
        "conditions": [
            theirs["conditions"][0],
            ready("False", "SecretNotFound", NOT_FOUND),
            suspended(False),
        ],
        "observedGeneration": 3,
    }
    assert env.recorder.events == [env.warning("SecretNotFound", NOT_FOUND)]


@pytest.mark.parametrize("conflicts", [1, 3])
async def test_a_conflict_on_the_status_write_is_retried_and_warns_once(conflicts: int) -> None:
    env = build(policy(), template())
    env.client.inject(
        "patch", KIND, errors.Conflict(409, "Conflict", "the object has been modified"), times=conflicts
    )

    for _ in range(conflicts):  # the controller retries with backoff
        with pytest.raises(errors.Conflict):
            await env.reconcile()
        assert env.recorder.events == []
        assert "status" not in env.policy()

    assert await env.reconcile() == Result(requeue_after=REVALIDATE)
    await env.reconcile()  # nothing left to do

    assert env.condition("Ready") == ready("False", "SecretNotFound", NOT_FOUND)
    assert env.recorder.events == [env.warning("SecretNotFound", NOT_FOUND)]
    assert env.status_writes() == conflicts + 1


@pytest.mark.parametrize(
    "objects", [[policy(), template(), secret()], [policy(), template()]], ids=["valid", "invalid"]
)
async def test_no_status_write_when_nothing_changed(objects: list[Obj]) -> None:
    env = build(*objects)
    await env.reconcile()
    status, events = copy.deepcopy(env.policy()["status"]), list(env.recorder.events)

    env.clock.advance(REVALIDATE)  # the periodic re-validation
    assert await env.reconcile() == Result(requeue_after=REVALIDATE)

    assert env.status_writes() == 1
    assert env.policy()["status"] == status
    assert env.recorder.events == events


async def test_a_restarted_manager_rewrites_nothing() -> None:
    """The status an earlier manager wrote is current: no write, no Event, times kept."""
    earlier = NOW - 3 * DAY
    status = {
        **detection_status(),
        "conditions": [
            *detection_status()["conditions"],
            ready("False", "SecretNotFound", NOT_FOUND, at=earlier),
            suspended(False, at=earlier),
        ],
        "observedGeneration": 3,
    }
    env = build(policy(status=status), template())

    assert await env.reconcile() == Result(requeue_after=REVALIDATE)

    assert env.client.writes() == []
    assert env.policy()["status"] == status
    assert env.recorder.events == []


# ---- TTL garbage collection


async def test_expired_image_detected_are_deleted_and_named_in_an_event() -> None:
    objects = [
        detected("v1.0.0", 10),  # expired
        detected("v1.1.0", 8),  # expired
        detected("v1.1.1", None, created_days_ago=9),  # no detectedAt: its creation time counts
        detected("v1.2.3", 9),  # expired, but status.latestImages names it
        detected("v1.3.0-rc.1", 1),  # fresh
        detected("v0.9.0", 30, name="webapp-frontend-pinned", labels={}),  # hand-made (no managed-by)
        detected("v0.8.0", 30, name="webapp-frontend-argo", labels={MANAGED_BY[0]: "argocd"}),
        detected("v0.7.0", 30, name="other-policy-v0-7-0", source="other-policy"),
        detected("v0.6.0", 30, name="webapp-frontend-finalizing", deleting=True),
        detected("v0.5.0", 30, namespace="team-b"),  # names webapp-policy, but in another namespace
    ]
    env = build(policy(status=detection_status()), template(), secret(), *objects)
    assert (env.deleted_total("expired"), env.deleted_total("policy_deleted")) == (0.0, 0.0)  # series exist

    result = await env.reconcile()

    expired = ["webapp-frontend-v1-0-0", "webapp-frontend-v1-1-0", "webapp-frontend-v1-1-1"]
    assert env.remaining() == [
        "other-policy-v0-7-0",
        "webapp-frontend-argo",
        "webapp-frontend-finalizing",
        "webapp-frontend-pinned",
        "webapp-frontend-v1-2-3",
        "webapp-frontend-v1-3-0-rc-1",
    ]
    assert env.remaining("team-b") == ["webapp-frontend-v0-5-0"]
    assert env.deletions() == expired
    assert env.recorder.events == [
        RecordedEvent(
            KIND,
            NS,
            NAME,
            "Normal",
            "Expired",
            f"ttlDays 7: deleted 3 expired ImageDetected: {', '.join(expired)}",
        )
    ]
    assert (env.deleted_total("expired"), env.deleted_total("policy_deleted")) == (3.0, 0.0)
    assert result == Result(requeue_after=REVALIDATE)  # the next expiry (v1.3.0-rc.1) is 6 days away


@pytest.mark.parametrize(
    ("expires_in", "requeue_after"),
    [(120.0, 120.0), (REVALIDATE - 1, REVALIDATE - 1), (REVALIDATE + 1, REVALIDATE), (3 * DAY, REVALIDATE)],
)
async def test_the_policy_is_requeued_at_the_next_expiry_when_it_comes_first(
    expires_in: float, requeue_after: float
) -> None:
    age = (7 * DAY - expires_in) / DAY
    env = build(policy(), template(), secret(), detected("v1.0.0", age), detected("v1.1.0", age - 2))

    result = await env.reconcile()

    assert result == Result(requeue_after=requeue_after)
    assert env.recorder.events == [] and env.deletions() == []

    env.clock.advance(expires_in)
    result = await env.reconcile()

    assert env.remaining() == ["webapp-frontend-v1-1-0"]
    assert env.recorder.reasons() == ["Expired"]
    assert env.deleted_total("expired") == 1.0
    assert result == Result(requeue_after=REVALIDATE)  # the next, v1.1.0, is 2 days away


async def test_ttl_days_defaults_to_seven() -> None:
    env = build(
        policy(spec={"ttlDays": None}), template(), secret(), detected("v1.0.0", 7.5), detected("v1.1.0", 6.5)
    )

    await env.reconcile()

    assert env.remaining() == ["webapp-frontend-v1-1-0"]
    assert (
        env.recorder.events[0].message == "ttlDays 7: deleted 1 expired ImageDetected: webapp-frontend-v1-0-0"
    )


async def test_ttl_days_zero_keeps_everything() -> None:
    env = build(
        policy(spec={"ttlDays": 0}),
        template(),
        secret(),
        detected("v1.0.0", 400),
        detected("v1.1.0", None, created_days_ago=400),
    )

    result = await env.reconcile()

    assert env.remaining() == ["webapp-frontend-v1-0-0", "webapp-frontend-v1-1-0"]
    assert env.recorder.events == [] and env.deletions() == []
    assert env.deleted_total("expired") == 0.0
    assert result == Result(requeue_after=REVALIDATE)


async def test_an_object_changed_since_the_cache_saw_it_is_decided_again() -> None:
    """Someone removes the managed-by label to keep an object; the cache still shows it labelled.
    The delete's resourceVersion precondition makes it a Conflict, what was deleted before is still
    reported, and the retry, on the new copy, keeps it."""
    env = build(policy(), template(), secret(), detected("v1.0.0", 10), detected("v1.1.0", 10))
    env.client.cache.freeze()
    await env.client.patch(
        API_VERSION,
        DETECTED,
        "webapp-frontend-v1-1-0",
        {"metadata": {"labels": {MANAGED_BY[0]: None}}},
        namespace=NS,
    )

    with pytest.raises(errors.Conflict):
        await env.reconcile()

    assert env.remaining() == ["webapp-frontend-v1-1-0"]
    expired = "ttlDays 7: deleted 1 expired ImageDetected: webapp-frontend-v1-0-0"
    assert env.recorder.events == [RecordedEvent(KIND, NS, NAME, "Normal", "Expired", expired)]
    assert env.deleted_total("expired") == 1.0

    env.client.cache.catch_up()
    assert await env.reconcile() == Result(requeue_after=REVALIDATE)

    assert env.remaining() == ["webapp-frontend-v1-1-0"]
    assert env.recorder.reasons() == ["Expired"]
    assert env.deleted_total("expired") == 1.0


async def test_an_object_already_gone_is_neither_counted_nor_reported() -> None:
    env = build(policy(), template(), secret(), detected("v1.0.0", 10), detected("v1.1.0", 10))
    env.client.cache.freeze()  # the cache has not seen the deletion yet
    await env.client.delete(API_VERSION, DETECTED, "webapp-frontend-v1-0-0", NS)

    await env.reconcile()

    assert env.remaining() == []
    assert (
        env.recorder.events[0].message == "ttlDays 7: deleted 1 expired ImageDetected: webapp-frontend-v1-1-0"
    )
    assert env.deleted_total("expired") == 1.0


# ---- orphans: the policy is gone


async def test_the_managed_image_detected_of_a_deleted_policy_are_deleted() -> None:
    env = build(
        detected("v1.0.0", 10),
        detected("v1.2.3", 0.1),  # fresh ones go too
        detected("v0.9.0", 30, name="webapp-frontend-pinned", labels={}),  # hand-made: stays
        detected("v0.8.0", 30, name="other-policy-v0-8-0", source="other-policy"),
        detected("v0.5.0", 30, namespace="team-b"),
    )

    result = await env.reconcile()

    assert result is None
    assert env.remaining() == ["other-policy-v0-8-0", "webapp-frontend-pinned"]
    assert env.remaining("team-b") == ["webapp-frontend-v0-5-0"]
    assert ("get", KIND, NS, NAME) in [(a.verb, a.kind, a.namespace, a.name) for a in env.client.actions]
    assert (env.deleted_total("policy_deleted"), env.deleted_total("expired")) == (2.0, 0.0)
    assert env.recorder.events == []  # there is no policy left to record them on


async def test_nothing_is_deleted_while_the_api_server_still_has_the_policy() -> None:
    """The policy's informer lags behind the ImageDetected one: the policy was just created."""
    env = build(template(), secret(), detected("v1.2.3", 0.1))
    env.client.cache.freeze()
    await env.client.create(policy())

    assert await env.reconcile() is None

    assert env.remaining() == ["webapp-frontend-v1-2-3"]
    assert env.deleted_total("policy_deleted") == 0.0
    assert env.status_writes() == 0

    env.client.cache.catch_up()  # its own event comes next
    assert await env.reconcile() == Result(requeue_after=REVALIDATE)
    assert env.condition("Ready")["reason"] == "Valid"
    assert env.remaining() == ["webapp-frontend-v1-2-3"]


async def test_a_deleted_policy_without_objects_costs_no_api_call() -> None:
    env = build(detected("v0.9.0", 30, name="webapp-frontend-pinned", labels={}))

    assert await env.reconcile() is None

    assert env.client.actions == []
    assert env.remaining() == ["webapp-frontend-pinned"]
