"""The workload-rewrite reconciler through reconcile(): which images it backs up, when it switches a
workload to the copies, how it patches, restores, refuses other namespaces' private copies and
stops fighting a GitOps tool that reverts it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.secrets import SecretRef
from irc.api.workloads import DAEMONSET, DEPLOYMENT, KINDS, STATEFULSET, WorkloadKind, slim
from irc.images import ImageReference, TargetNaming, backup_object_name, parse_reference
from irc.reconcilers import workloadrewrite as wr
from irc.reconcilers.settings import Settings
from irc.runtime import ManagerOptions, Request, Result, errors
from irc.runtime.informer import UpdateEvent
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder, RecordingManager

BACKUP = TargetNaming("backup.example.com", "mirror")
SETTINGS = Settings(backup=BACKUP)
NGINX = "nginx:1.25"
NGINX_REF = parse_reference(NGINX).with_default_tag()
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Access:
    """A SourceAccess that answers from a set of (namespace, image) pairs and records the questions."""

    allowed: set[tuple[str, str]] = field(default_factory=set)
    asked: list[tuple[str, str, tuple[SecretRef, ...]]] = field(default_factory=list)

    async def can_pull(self, namespace: str, source: ImageReference, secrets: Sequence[SecretRef]) -> bool:
        self.asked.append((namespace, str(source), tuple(secrets)))
        return (namespace, str(source)) in self.allowed


def deployment(
    name: str = "web",
    namespace: str = "shop",
    images: Sequence[str] = (NGINX,),
    init: Sequence[str] = (),
    *,
    healthy: bool = True,
    annotations: dict[str, str] | None = None,
    pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    ready = 2 if healthy else 1
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "annotations": annotations or {}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)],
                    "initContainers": [{"name": f"i{i}", "image": image} for i, image in enumerate(init)],
                    "imagePullSecrets": [{"name": s} for s in pull_secrets],
                }
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": ready,
            "availableReplicas": ready,
        },
    }


def completed(source: ImageReference, credentials: Sequence[SecretRef] = ()) -> dict[str, Any]:
    target = BACKUP.target(source)
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageBackup",
        "metadata": {"name": backup_object_name(source)},
        "spec": {
            "source": str(source),
            "sourceCredentials": [{"name": c.name, "namespace": c.namespace} for c in credentials],
        },
        "status": {
            "phase": "Completed",
            "target": str(target),
            "sourceDigest": DIGEST,
            "targetDigest": DIGEST,
            "lastReferencedAt": "2023-11-14T22:13:20Z",
        },
    }


@dataclass
class Bed:
    objects: list[dict[str, Any]]
    settings: Settings = SETTINGS
    kind: WorkloadKind = DEPLOYMENT
    access: Access = field(default_factory=Access)

    def __post_init__(self) -> None:
        self.clock = FakeClock()
        # Workloads as the manager caches them: through the informers' transform.
        cached = [slim(o) if o["kind"] in KINDS else o for o in self.objects]
        self.client = FakeClient(cached, indexes=wr.indexes(self.settings), clock=self.clock)
        self.recorder = FakeRecorder()
        self.registry = CollectorRegistry()
        self.reconciler = wr.WorkloadRewriteReconciler(
            kind=self.kind,
            client=self.client,
            reader=self.client.cache,
            recorder=self.recorder,
            clock=self.clock,
            metrics=wr.Metrics.register(self.registry),
            settings=self.settings,
            access=self.access,
        )

    def workload(self, name: str = "web", namespace: str = "shop") -> dict[str, Any]:
        return self.client.get_now(self.kind.api_version, self.kind.kind, name, namespace)

    def images(self, name: str = "web", namespace: str = "shop", field: str = "containers") -> list[str]:
        spec = self.workload(name, namespace)["spec"]["template"]["spec"]
        return [c["image"] for c in spec.get(field) or []]

    def backups(self) -> list[dict[str, Any]]:
        return self.client.objects(API_VERSION, "ImageBackup")

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


async def test_an_external_image_gets_one_backup_and_the_workload_waits_for_it() -> None:
    bed = Bed([deployment()])
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None
    [backup] = bed.backups()
    assert backup["metadata"]["name"] == backup_object_name(NGINX_REF)
    assert backup["spec"] == {"source": "docker.io/library/nginx:1.25", "sourceCredentials": []}
    assert backup["status"]["lastReferencedAt"] == "2023-11-14T22:13:20Z"
    assert bed.images() == [NGINX]  # not switched before the copy is complete
    assert bed.recorder.reasons() == ["BackupRequested"]
    assert bed.metric("irc_workload_external_images", kind="Deployment") == 1


async def test_a_completed_backup_and_a_healthy_workload_switch_every_container_in_one_patch() -> None:
    redis = parse_reference("redis@" + DIGEST)
    busybox = parse_reference("busybox:1.36")
    bed = Bed(
        [
            deployment(images=(NGINX, "redis@" + DIGEST), init=("busybox:1.36",)),
            completed(NGINX_REF),
            completed(redis),
            completed(busybox),
        ]
    )
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [
        "backup.example.com/mirror/docker.io/library/nginx:1.25",
        "backup.example.com/mirror/docker.io/library/redis@" + DIGEST,  # a digest reference keeps it
    ]
    assert bed.images(field="initContainers") == ["backup.example.com/mirror/docker.io/library/busybox:1.36"]
    assert [(a.verb, a.kind) for a in bed.client.writes()] == [("patch", "Deployment")]  # one rollout
    annotations = bed.workload()["metadata"]["annotations"]
    assert json.loads(annotations[wr.ORIGINAL_IMAGES]) == {
        "containers/c0": NGINX,
        "containers/c1": "redis@" + DIGEST,
        "initContainers/i0": "busybox:1.36",
    }
    assert annotations[wr.CHANGE_CAUSE].startswith("irc: switched to backup images")
    assert bed.recorder.reasons() == ["ImagesRewritten"]
    assert bed.metric("irc_workload_rewrites_total", kind="Deployment") == 1


async def test_pin_digest_writes_tag_at_digest() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)], settings=Settings(backup=BACKUP, pin_digest=True))
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [f"backup.example.com/mirror/docker.io/library/nginx:1.25@{DIGEST}"]


async def test_an_image_already_in_the_backup_registry_is_left_and_the_other_switched() -> None:
    mine = "backup.example.com/mirror/docker.io/library/redis:7"
    bed = Bed([deployment(images=(mine, NGINX)), completed(NGINX_REF)])
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [mine, "backup.example.com/mirror/docker.io/library/nginx:1.25"]
    assert len(bed.backups()) == 1


async def test_a_workload_with_only_backup_images_is_left_alone() -> None:
    bed = Bed([deployment(images=("backup.example.com/mirror/docker.io/library/redis:7",))])
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None
    assert bed.client.writes() == []
    assert bed.metric("irc_workload_external_images", kind="Deployment") == 0


@pytest.mark.parametrize(
    ("namespace", "annotations", "settings"),
    [
        ("kube-system", {}, SETTINGS),
        ("shop", {wr.BACKUP_ANNOTATION: "false"}, SETTINGS),
        ("shop", {}, Settings(backup=BACKUP, exclude_namespaces=("shop",))),
        ("irc-system", {}, Settings(backup=BACKUP, manager_namespace="irc-system")),
        ("shop", {}, Settings(backup=BACKUP, exclude_images=(re.compile(r"docker\.io/library/.*"),))),
        ("shop", {wr.STOPPED: "reverted 3 times"}, SETTINGS),
    ],
    ids=["kube-system", "opt-out", "excluded-namespace", "manager-namespace", "excluded-image", "stopped"],
)
async def test_excluded_workloads_are_never_touched(
    namespace: str, annotations: dict[str, str], settings: Settings
) -> None:
    bed = Bed([deployment(namespace=namespace, annotations=annotations)], settings=settings)
    assert await bed.reconciler.reconcile(Request(namespace, "web")) is None
    assert bed.client.writes() == []
    assert bed.recorder.events == []


async def test_a_namespace_matching_the_exclusion_selector_is_left_alone() -> None:
    settings = Settings(backup=BACKUP, exclude_namespace_selector="irc.dev/backup=off")
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"irc.dev/backup": "off"}},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "blog", "labels": {}}},
    ]
    bed = Bed([*namespaces, deployment(), deployment(namespace="blog")], settings=settings)
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.backups() == []
    await bed.reconciler.reconcile(Request("blog", "web"))
    assert len(bed.backups()) == 1


async def test_an_unhealthy_workload_waits_and_says_why() -> None:
    bed = Bed([deployment(healthy=False), completed(NGINX_REF)])
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None
    assert bed.images() == [NGINX]
    [event] = bed.recorder.events
    assert (event.reason, event.type) == ("RewriteDeferred", "Normal")
    assert event.message.startswith("WorkloadUnhealthy: waiting for the workload: 2 replicas desired")
    assert bed.metric("irc_workload_rewrite_deferred_total", reason="WorkloadUnhealthy") == 1


async def test_rewrite_when_always_does_not_wait_for_health() -> None:
    bed = Bed(
        [deployment(healthy=False), completed(NGINX_REF)],
        settings=Settings(backup=BACKUP, rewrite_when="always"),
    )
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]


async def test_pull_secrets_of_the_workload_and_its_service_account_become_source_credentials() -> None:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "shop"},
        "imagePullSecrets": [{"name": "sa-pull"}, {"name": "pod-pull"}],
    }
    bed = Bed([account, deployment(pull_secrets=("pod-pull",))])
    await bed.reconciler.reconcile(Request("shop", "web"))
    [backup] = bed.backups()
    assert backup["spec"]["sourceCredentials"] == [
        {"name": "pod-pull", "namespace": "shop"},
        {"name": "sa-pull", "namespace": "shop"},
    ]


async def test_pull_secret_names_no_secret_can_have_are_left_out_of_source_credentials() -> None:
    """Pod specs do not validate imagePullSecrets names: a tenant can write any string there. Asked
    for, `..%2Fx` is a 400 from the API server (which failed every reconcile of the shared
    ImageBackup, a denial of service on the namespaces whose Secrets could make the copy) and
    `team-a/pull` or `..` reach the API as other paths: none of them names a Secret."""
    reaching = [
        "team-a/pull",
        "../../team-a/secrets/pull",
        "..%2Fteam-a%2Fsecrets%2Fpull",
        "..",
        ".",
        "Pull",
        "",
    ]
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "shop"},
        "imagePullSecrets": [{"name": "sa-pull"}, {"name": "team-a/pull"}],
    }
    bed = Bed([account, deployment(pull_secrets=(*reaching, "pod-pull"))])
    await bed.reconciler.reconcile(Request("shop", "web"))
    [backup] = bed.backups()
    assert backup["spec"]["sourceCredentials"] == [
        {"name": "pod-pull", "namespace": "shop"},
        {"name": "sa-pull", "namespace": "shop"},
    ]


async def test_a_copy_made_with_another_namespaces_secret_is_not_used_unless_this_one_can_pull() -> None:
    private = completed(NGINX_REF, credentials=[SecretRef("pull", "team-a")])
    access = Access()
    bed = Bed([deployment(namespace="team-b", pull_secrets=("own",)), private], access=access)
    result = await bed.reconciler.reconcile(Request("team-b", "web"))
    assert bed.images(namespace="team-b") == [NGINX]
    assert access.asked == [("team-b", str(NGINX_REF), (SecretRef("own", "team-b"),))]
    assert result is not None and result.requeue_after == SETTINGS.access_ttl
    [event] = bed.recorder.events
    assert event.message.startswith("SourceAccessDenied: team-b cannot pull docker.io/library/nginx:1.25")

    access.allowed.add(("team-b", str(NGINX_REF)))  # team-b's own secret reaches the source
    await bed.reconciler.reconcile(Request("team-b", "web"))
    assert bed.images(namespace="team-b") == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]


async def test_a_copy_made_with_this_namespaces_own_secret_needs_no_check() -> None:
    private = completed(NGINX_REF, credentials=[SecretRef("pull", "shop")])
    bed = Bed([deployment(), private])
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.access.asked == []
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]


async def test_a_conflicting_update_fails_the_patch_and_nothing_is_half_written() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)])
    bed.client.inject("patch", "Deployment", errors.Conflict(409, "Conflict", "the object has been modified"))
    with pytest.raises(errors.Conflict):
        await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [NGINX]
    await bed.reconciler.reconcile(Request("shop", "web"))  # the controller's retry
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]


async def test_last_referenced_at_is_refreshed_at_most_hourly() -> None:
    bed = Bed([deployment(healthy=False), completed(NGINX_REF)])
    await bed.reconciler.reconcile(Request("shop", "web"))
    status_writes = [a for a in bed.client.writes() if a.subresource == "status"]
    assert status_writes == []  # written at 2023-11-14T22:13:20Z, which is now
    bed.clock.advance(3599)
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert [a for a in bed.client.writes() if a.subresource == "status"] == []
    bed.clock.advance(1)
    await bed.reconciler.reconcile(Request("shop", "web"))
    [backup] = bed.backups()
    assert backup["status"]["lastReferencedAt"] == "2023-11-14T23:13:20Z"


async def test_restore_puts_the_originals_back_in_one_patch_and_then_leaves_it_alone() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)])
    await bed.reconciler.reconcile(Request("shop", "web"))
    switched = bed.workload()
    annotated = copy.deepcopy(switched)
    annotated["metadata"]["annotations"][wr.BACKUP_ANNOTATION] = "restore"
    await bed.client.update(annotated)
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [NGINX]
    assert wr.ORIGINAL_IMAGES not in bed.workload()["metadata"]["annotations"]
    assert bed.recorder.reasons() == ["ImagesRewritten", "ImagesRestored"]
    writes = len(bed.client.writes())
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert len(bed.client.writes()) == writes


async def test_a_workload_reverted_again_and_again_is_left_alone_with_a_warning() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)], settings=Settings(backup=BACKUP, revert_limit=2))

    async def revert() -> None:
        """What a GitOps tool applying the original manifest does, then the rollout completing."""
        reverted = copy.deepcopy(bed.workload())
        reverted["spec"]["template"]["spec"]["containers"][0]["image"] = NGINX
        written = await bed.client.update(reverted)
        written["status"]["observedGeneration"] = written["metadata"]["generation"]
        await bed.client.update_status(written)

    await bed.reconciler.reconcile(Request("shop", "web"))
    await revert()
    await bed.reconciler.reconcile(Request("shop", "web"))  # first revert: switched again
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]
    await revert()
    await bed.reconciler.reconcile(Request("shop", "web"))  # second within the window: stop
    assert bed.images() == [NGINX]
    annotations = bed.workload()["metadata"]["annotations"]
    assert annotations[wr.STOPPED].startswith("reverted 2 times within 3600 s")
    assert bed.recorder.reasons() == [
        "ImagesRewritten",
        "RewriteReverted",
        "ImagesRewritten",
        "RewriteReverted",
    ]
    assert bed.recorder.events[-1].type == "Warning"


@pytest.mark.parametrize(
    ("kind", "status", "healthy"),
    [
        (DAEMONSET, {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberReady": 2}, True),
        (DAEMONSET, {"desiredNumberScheduled": 2, "updatedNumberScheduled": 1, "numberReady": 2}, False),
        (STATEFULSET, {"readyReplicas": 2, "currentRevision": "a", "updateRevision": "a"}, True),
        (STATEFULSET, {"readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}, False),
    ],
)
async def test_daemonsets_and_statefulsets_switch_when_healthy(
    kind: WorkloadKind, status: dict[str, Any], healthy: bool
) -> None:
    workload = deployment() | {"kind": kind.kind}
    workload["status"] = {"observedGeneration": 1, **status}
    bed = Bed([workload, completed(NGINX_REF)], kind=kind)
    await bed.reconciler.reconcile(Request("shop", "web"))
    expected = "backup.example.com/mirror/docker.io/library/nginx:1.25" if healthy else NGINX
    assert bed.images() == [expected]


async def test_a_deleted_workload_is_nothing_to_do() -> None:
    bed = Bed([])
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None
    assert bed.client.writes() == []


def secret(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": "e30="},
    }


async def test_the_backup_pull_secret_is_appended_and_copied_into_the_namespace_when_missing() -> None:
    settings = Settings(backup=BACKUP, backup_pull_secret="backup-pull", manager_namespace="irc-system")
    bed = Bed(
        [deployment(pull_secrets=("own",)), completed(NGINX_REF), secret("backup-pull", "irc-system")],
        settings=settings,
    )
    await bed.reconciler.reconcile(Request("shop", "web"))
    spec = bed.workload()["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "own"}, {"name": "backup-pull"}]  # the user's are kept
    copied = bed.client.get_now("v1", "Secret", "backup-pull", "shop")
    assert copied["data"] == {".dockerconfigjson": "e30="}
    assert copied["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "irc"}


async def test_a_missing_backup_pull_secret_fails_before_the_switch() -> None:
    settings = Settings(backup=BACKUP, backup_pull_secret="backup-pull", manager_namespace="irc-system")
    bed = Bed([deployment(), completed(NGINX_REF)], settings=settings)
    with pytest.raises(errors.ReconcileError, match="irc-system/backup-pull") as raised:
        await bed.reconciler.reconcile(Request("shop", "web"))
    assert raised.value.reason == "PullSecretNotFound" and not raised.value.terminal
    assert bed.images() == [NGINX]


async def test_with_a_pull_secret_per_namespace_none_is_copied_and_a_namespace_without_one_waits() -> None:
    settings = Settings(
        backup=BACKUP,
        backup_pull_secret="backup-pull",
        backup_pull_secret_per_namespace=True,
        manager_namespace="irc-system",
    )
    bed = Bed([deployment(), completed(NGINX_REF), secret("backup-pull", "irc-system")], settings=settings)
    result = await bed.reconciler.reconcile(Request("shop", "web"))
    assert result == Result(requeue_after=settings.access_ttl)  # Secrets are not watched
    assert bed.images() == [NGINX]
    assert [a for a in bed.client.writes() if a.kind == "Secret"] == []  # the manager's is not copied
    [event] = bed.recorder.events
    assert (event.reason, event.message) == (
        "RewriteDeferred",
        "PullSecretNotFound: Secret shop/backup-pull (--backup-pull-secret) does not exist, "
        "and each namespace brings its own",
    )

    await bed.client.create(secret("backup-pull", "shop"))  # the namespace's own, made by its admin
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]
    assert bed.workload()["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "backup-pull"}]
    assert "labels" not in bed.client.get_now("v1", "Secret", "backup-pull", "shop")["metadata"]


async def test_one_revert_is_counted_once_however_many_reconciles_its_rollout_brings() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)], settings=Settings(backup=BACKUP, revert_limit=2))
    await bed.reconciler.reconcile(Request("shop", "web"))
    reverted = copy.deepcopy(bed.workload())
    reverted["spec"]["template"]["spec"]["containers"][0]["image"] = NGINX
    await bed.client.update(reverted)  # a new generation, rolling out: unhealthy for a while
    for _ in range(3):
        await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.recorder.reasons().count("RewriteReverted") == 1
    assert wr.STOPPED not in bed.workload()["metadata"]["annotations"]
    assert bed.images() == [NGINX]  # waiting for its rollout before switching again


async def test_a_switched_workload_keeps_its_backup_referenced_hourly() -> None:
    bed = Bed([deployment(), completed(NGINX_REF)])
    result = await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == ["backup.example.com/mirror/docker.io/library/nginx:1.25"]
    bed.clock.advance(2 * 3600)
    result = await bed.reconciler.reconcile(Request("shop", "web"))  # nothing external any more
    assert result is not None and result.requeue_after == 3600
    [backup] = bed.backups()
    assert backup["status"]["lastReferencedAt"] == "2023-11-15T00:13:20Z"


async def test_a_workload_pointed_at_a_copy_by_someone_else_keeps_it_referenced() -> None:
    bed = Bed(
        [deployment(images=("backup.example.com/mirror/docker.io/library/nginx:1.25",)), completed(NGINX_REF)]
    )
    bed.clock.advance(2 * 3600)
    assert await bed.reconciler.reconcile(Request("shop", "web")) is None  # no annotation: no recheck
    [backup] = bed.backups()
    assert backup["status"]["lastReferencedAt"] == "2023-11-15T00:13:20Z"


async def test_a_copy_of_only_some_platforms_is_not_switched_to() -> None:
    partial = completed(NGINX_REF)
    partial["status"]["targetDigest"] = "sha256:" + "cd" * 32
    bed = Bed([deployment(), partial])
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [NGINX]
    [event] = bed.recorder.events
    assert event.message.startswith("BackupDigestMismatch: the backups of docker.io/library/nginx:1.25")


async def test_a_tag_and_digest_reference_keeps_both() -> None:
    both = parse_reference(f"nginx:1.25@{DIGEST}")
    bed = Bed([deployment(images=(f"nginx:1.25@{DIGEST}",)), completed(both)])
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert bed.images() == [f"backup.example.com/mirror/docker.io/library/nginx:1.25@{DIGEST}"]


async def test_external_images_are_counted_over_every_workload_of_the_kind() -> None:
    bed = Bed([deployment(), deployment("api", images=(NGINX, "redis:7"))])
    await bed.reconciler.reconcile(Request("shop", "web"))
    await bed.reconciler.reconcile(Request("shop", "api"))
    assert bed.metric("irc_workload_external_images", kind="Deployment") == 3
    await bed.client.delete("apps/v1", "Deployment", "api", "shop")
    await bed.reconciler.reconcile(Request("shop", "api"))
    assert bed.metric("irc_workload_external_images", kind="Deployment") == 1


async def test_secrets_lent_to_a_refused_backup_go_before_the_ones_the_source_refused() -> None:
    """The Keychain image-backup builds takes the first entry for a host: a wrong password held first
    would keep winning over the Secret lent to fix it."""
    refused = completed(NGINX_REF)
    refused["spec"]["sourceCredentials"] = [{"name": "rotated", "namespace": "other"}]
    refused["status"] = {
        "phase": "Failed",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "SourceUnauthorized", "message": "401"}
        ],
    }
    bed = Bed([deployment(pull_secrets=("pull",)), refused])
    await bed.reconciler.reconcile(Request("shop", "web"))
    [backup] = bed.backups()
    assert backup["spec"]["sourceCredentials"] == [
        {"name": "pull", "namespace": "shop"},
        {"name": "rotated", "namespace": "other"},
    ]


async def test_a_backup_the_source_refused_is_retried_with_another_namespaces_secrets() -> None:
    refused = completed(NGINX_REF)
    refused["status"] = {
        "phase": "Failed",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "SourceUnauthorized", "message": "401"}
        ],
    }
    bed = Bed([deployment(pull_secrets=("pull",)), refused])
    await bed.reconciler.reconcile(Request("shop", "web"))
    [backup] = bed.backups()
    assert backup["spec"]["sourceCredentials"] == [{"name": "pull", "namespace": "shop"}]
    assert bed.images() == [NGINX]  # not before the copy made with them is complete
    await bed.reconciler.reconcile(Request("shop", "web"))
    assert [a.verb for a in bed.client.writes() if a.kind == "ImageBackup" and a.subresource is None] == [
        "patch"
    ]


def _updated(backup: dict[str, Any], **status: Any) -> dict[str, Any]:
    changed = copy.deepcopy(backup)
    changed["status"].update(status)
    return changed


def test_only_backup_updates_that_change_a_workloads_decision_reach_its_workloads() -> None:
    done = completed(NGINX_REF)
    copying = _updated(
        done,
        phase="Copying",
        targetDigest=None,
        conditions=[{"type": "Ready", "status": "False", "reason": "Copying"}],
    )
    passes = wr.BACKUP_DECISIONS_CHANGED.update
    # Status writes that change nothing a workload decides on.
    assert not passes(UpdateEvent(done, _updated(done, lastReferencedAt="2023-11-15T22:13:20Z")))
    assert not passes(UpdateEvent(done, _updated(done, claim={"holder": "irc-1", "renewedAt": "x"})))
    assert not passes(UpdateEvent(copying, _updated(copying, progress={"bytes": 100})))
    # Those that do: completion, another digest, the source refusing, a spec change.
    assert passes(UpdateEvent(copying, done))
    assert passes(UpdateEvent(done, _updated(done, sourceDigest="sha256:" + "cd" * 32)))
    refused = [{"type": "Ready", "status": "False", "reason": "SourceUnauthorized"}]
    assert passes(UpdateEvent(copying, _updated(copying, phase="Failed", conditions=refused)))
    respecified = copy.deepcopy(done)
    respecified["metadata"]["generation"] = 2
    assert passes(UpdateEvent(done, respecified))


def test_each_kinds_controller_has_sixteen_workers_unless_the_flag_says_otherwise() -> None:
    default = RecordingManager()
    flagged = RecordingManager(ManagerOptions(max_concurrent_reconciles={"workload-rewrite": 2}))
    for mgr in (default, flagged):
        wr.setup(mgr, SETTINGS)
    names = [f"workload-rewrite-{kind.lower()}" for kind in SETTINGS.rewrite_kinds]
    workers = [
        {name: c.options.max_concurrent_reconciles for name, c in m.controllers.items()}
        for m in (default, flagged)
    ]
    assert workers == [dict.fromkeys(names, 16), dict.fromkeys(names, 2)]
