"""The workload-rewrite reconciler (controller name `workload-rewrite`): backs up every external
image a Deployment, DaemonSet or StatefulSet runs (CronJobs with `--rewrite-kinds`), then switches
the workload to the copies once they are complete and the workload is healthy.

    workload ──▶ excluded? (kube-system, the manager's namespace, --exclude-namespaces, a namespace
       │         matching --exclude-namespace-selector, annotation automation.gitops.io/backup=false)
       ▼
    external images (parsed references not in the backup registry nor --exclude-images)
       ──▶ one ImageBackup per source image (create-if-absent, shared by every workload using it;
           lastReferencedAt kept fresh, at most one write an hour)
       ──▶ every backup Completed with a target digest, the workload healthy (--rewrite-when)
           and the source pullable by the workload's own namespace (SourceAccessDenied otherwise)
       ──▶ one strategic-merge patch under a resourceVersion precondition: every container at
           once, change-cause and the original images (JSON) annotated; Event ImagesRewritten

`automation.gitops.io/backup: "restore"` puts the original images back in one patch and leaves the
workload alone until the annotation is removed. A switch reverted by someone else (Argo CD or
Flux applying Git) is counted; after `revert_limit` reverts within `revert_window` the workload
is left alone, with a Warning Event and the annotation automation.gitops.io/backup-stopped.

Jobs (immutable templates), bare Pods (not owned by a workload) and ephemeral containers (not part
of a pod template) are left alone. Events: BackupRequested, ImagesRewritten, RewriteDeferred (with
the reason), RewriteReverted, ImagesRestored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from irc.api import API_VERSION, GROUP, IMAGE_BACKUP
from irc.api.conditions import get_condition, parse_rfc3339, rfc3339
from irc.api.imagepolicy import MANAGED_BY
from irc.api.secrets import SecretRef, is_secret_name
from irc.api.workloads import KINDS, REWRITABLE, Container, WorkloadKind, containers, healthy, pod_spec, slim
from irc.images import ImageReference, backup_object_name, parse_reference
from irc.reconcilers.access import RegistryAccess, SourceAccess
from irc.reconcilers.settings import Settings
from irc.runtime import (
    ApiClient,
    Clock,
    ControllerBuilder,
    EnqueueMapped,
    EventRecorder,
    Index,
    IndexFunc,
    Manager,
    Obj,
    PolicyRule,
    PredicateFuncs,
    Reader,
    ReconcileError,
    Request,
    Result,
    errors,
    labels,
)

NAME = "workload-rewrite"
BACKUP_KIND = "ImageBackup"
BACKUP_ANNOTATION = f"{GROUP}/backup"  # "false": never touched; "restore": put the originals back
ORIGINAL_IMAGES = f"{GROUP}/original-images"  # JSON {"containers/app": "nginx:1.25", ...}
STOPPED = f"{GROUP}/backup-stopped"  # why irc stopped switching this workload
REVERTS = f"{GROUP}/backup-reverts"  # the reverts seen, `<switch number>/<RFC 3339 time>`, comma-separated
SWITCHES = f"{GROUP}/backup-switches"  # how many times irc switched the workload (numbers the reverts)
CHANGE_CAUSE = "kubernetes.io/change-cause"
SOURCE_INDEX = "workloadSourceImage"
REFERENCED_EVERY = 3600.0  # lastReferencedAt is written at most this often per backup
ALWAYS_EXCLUDED = ("kube-system",)


@dataclass(frozen=True)
class Metrics:
    external: Gauge
    rewrites: Counter
    deferred: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            Gauge(
                "irc_workload_external_images",
                "Images of the last reconciled workloads not yet in the backup registry",
                ["kind"],
                registry=registry,
            ),
            Counter(
                "irc_workload_rewrites_total",
                "Workloads switched to backup images",
                ["kind"],
                registry=registry,
            ),
            Counter(
                "irc_workload_rewrite_deferred_total",
                "Switches deferred, by reason",
                ["reason"],
                registry=registry,
            ),
        )


def source_images(kind: WorkloadKind) -> IndexFunc:
    """The index function: the normalised references a workload's containers run."""

    def index(obj: Obj) -> list[str]:
        out = []
        for c in containers(kind, obj):
            try:
                out.append(str(parse_reference(c.image).with_default_tag()))
            except ValueError:
                continue
        return out

    return index


def rewritten(source: ImageReference, backup: Obj, pin_digest: bool) -> str:
    """The backup image a container running `source` switches to: a tag reference gets the backup's
    tag, a digest reference keeps its digest (and its tag, when it has one), `pin_digest` writes
    tag@digest."""
    status = backup.get("status") or {}
    target = parse_reference(status["target"])
    name = f"{target.registry}/{target.repository}"
    if source.digest is not None:
        return f"{name}:{source.tag}@{source.digest}" if source.tag else f"{name}@{source.digest}"
    tag = target.tag or source.tag or "latest"
    return f"{name}:{tag}@{status['targetDigest']}" if pin_digest else f"{name}:{tag}"


class WorkloadRewriteReconciler:
    """One per workload kind. `access` decides whether a namespace may use a copy made with another
    namespace's credentials (see SourceAccess)."""

    def __init__(
        self,
        *,
        kind: WorkloadKind,
        client: ApiClient,
        reader: Reader,
        recorder: EventRecorder,
        clock: Clock,
        metrics: Metrics,
        settings: Settings,
        access: SourceAccess,
    ) -> None:
        if settings.backup is None:
            raise ValueError(f"{NAME} needs a backup registry (--backup-registry)")
        self.kind, self.client, self.cache, self.recorder = kind, client, reader, recorder
        self.clock, self.metrics, self.settings, self.access = clock, metrics, settings, access
        self.naming = settings.backup
        self._external_counts: dict[tuple[str | None, str], int] = {}
        self._excluded_selector = (
            labels.parse(settings.exclude_namespace_selector) if settings.exclude_namespace_selector else None
        )

    async def reconcile(self, request: Request) -> Result | None:
        try:
            obj = self.cache.get(self.kind.api_version, self.kind.kind, request.name, request.namespace)
        except errors.NotFound:
            self._count_external(request, 0)
            return None
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or self._excluded(meta):
            self._count_external(request, 0)
            return None
        choice = annotations.get(BACKUP_ANNOTATION)
        if choice == "restore":
            await self._restore(obj)
            return None
        if choice == "false" or STOPPED in annotations:
            return None
        if ORIGINAL_IMAGES in annotations:
            current = await self._count_revert(obj)
            if current is None:
                return None
            obj = current
        external = self._external(obj)
        self._count_external(request, len(external))
        # Backups this workload already runs are referenced too (retention), and looked at hourly.
        for source in self._switched_sources(obj):
            await self._touch(source)
        recheck = Result(requeue_after=REFERENCED_EVERY) if ORIGINAL_IMAGES in annotations else None
        if not external:
            return recheck
        backups = {source: await self._backup(obj, source) for source in {s for _, s in external}}
        pending = sorted(str(s) for s, b in backups.items() if not _complete(b))
        if pending:
            return recheck  # each backup's progress is watched: its completion brings us back
        differ = sorted(str(s) for s, b in backups.items() if not _same_digest(b))
        if differ:
            message = (
                f"the backups of {', '.join(differ)} hold another digest than their source (spec.platforms?)"
            )
            await self._defer(obj, "BackupDigestMismatch", message)
            return recheck
        if self.settings.rewrite_when == "healthy":
            why = healthy(self.kind, obj)
            if why is not None:
                await self._defer(obj, "WorkloadUnhealthy", f"waiting for the workload: {why}")
                return None  # its status changes are watched
        denied = [str(s) for s, b in backups.items() if not await self._may_use(meta["namespace"], obj, s, b)]
        if denied:
            message = f"{meta['namespace']} cannot pull {', '.join(sorted(denied))} with its own credentials"
            await self._defer(obj, "SourceAccessDenied", message)
            return Result(requeue_after=self.settings.access_ttl)
        if self.settings.backup_pull_secret and not await self._ensure_pull_secret(meta["namespace"]):
            name = f"{meta['namespace']}/{self.settings.backup_pull_secret}"
            message = (
                f"Secret {name} (--backup-pull-secret) does not exist, and each namespace brings its own"
            )
            await self._defer(obj, "PullSecretNotFound", message)
            return Result(requeue_after=self.settings.access_ttl)  # Secrets are not watched
        await self._switch(obj, external, backups)
        return None

    # ---- decisions

    def _count_external(self, request: Request, count: int) -> None:
        """irc_workload_external_images{kind}: external images of every workload of this kind,
        as of each one's last reconcile."""
        if count:
            self._external_counts[(request.namespace, request.name)] = count
        else:
            self._external_counts.pop((request.namespace, request.name), None)
        self.metrics.external.labels(self.kind.kind).set(sum(self._external_counts.values()))

    def _switched_sources(self, obj: Obj) -> set[ImageReference]:
        """The sources of the backup images the workload runs: the originals irc switched from, and
        for backup images set by someone else (Git pointed at the copies) the name's own source."""
        annotations = obj["metadata"].get("annotations") or {}
        originals = json.loads(annotations.get(ORIGINAL_IMAGES) or "{}")
        out = set()
        for c in containers(self.kind, obj):
            try:
                ref = parse_reference(c.image)
                if not self.naming.is_target(ref):
                    continue
                source = (
                    parse_reference(originals[c.key]) if c.key in originals else self.naming.source_of(ref)
                )
            except ValueError:
                continue
            out.add(source.with_default_tag() if source.digest is None else source)
        return out

    async def _touch(self, source: ImageReference) -> None:
        """Refresh the ImageBackup of `source`'s lastReferencedAt when it is an hour old (never create)."""
        try:
            backup = self.cache.get(API_VERSION, BACKUP_KIND, backup_object_name(source))
        except errors.NotFound:
            return
        await self._refresh(backup)

    def _excluded(self, meta: Mapping[str, Any]) -> bool:
        namespace = meta.get("namespace") or ""
        if namespace in ALWAYS_EXCLUDED or namespace in self.settings.exclude_namespaces:
            return True
        if self.settings.manager_namespace and namespace == self.settings.manager_namespace:
            return True
        if self._excluded_selector is None:
            return False
        try:
            ns = self.cache.get("v1", "Namespace", namespace, metadata_only=True)
        except errors.NotFound:
            return True  # being created or gone: decide once it is cached
        return self._excluded_selector.matches(ns["metadata"].get("labels"))

    def _external(self, obj: Obj) -> list[tuple[Container, ImageReference]]:
        out = []
        for c in containers(self.kind, obj):
            try:
                ref = parse_reference(c.image)
            except ValueError:
                continue  # the kubelet will say so; nothing to back up
            if self.naming.is_target(ref) or any(p.fullmatch(str(ref)) for p in self.settings.exclude_images):
                continue
            out.append((c, ref.with_default_tag() if ref.digest is None else ref))
        return out

    async def _backup(self, workload: Obj, source: ImageReference) -> Obj:
        """The ImageBackup of `source`: the cached one (lastReferencedAt refreshed when older than an
        hour), or a new one; AlreadyExists means another workload or manager made it first."""
        name = backup_object_name(source)
        try:
            backup = self.cache.get(API_VERSION, BACKUP_KIND, name)
        except errors.NotFound:
            backup = {
                "apiVersion": API_VERSION,
                "kind": BACKUP_KIND,
                "metadata": {"name": name, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
                "spec": {"source": str(source), "sourceCredentials": await self._pull_secrets(workload)},
            }
            try:
                backup = await self.client.create(backup)
            except errors.AlreadyExists:
                return await self.client.get(API_VERSION, BACKUP_KIND, name)
            self.recorder.event(
                workload, "Normal", "BackupRequested", f"backing up {source} as ImageBackup {name}"
            )
        else:
            backup = await self._lend_credentials(workload, backup)
        return await self._refresh(backup)

    async def _lend_credentials(self, workload: Obj, backup: Obj) -> Obj:
        """A shared backup the source refused (made by a namespace without the right pull Secret)
        gets this workload's Secrets added, under a resourceVersion precondition, so it is copied
        again with them. Isolation holds: a namespace whose Secrets did not make the copy must still
        pull the source itself before it is switched (`_may_use`)."""
        ready = get_condition(backup.get("status") or {}, "Ready") or {}
        if ready.get("reason") != "SourceUnauthorized":
            return backup
        spec = backup.get("spec") or {}
        held = list(spec.get("sourceCredentials") or [])
        added = [ref for ref in await self._pull_secrets(workload) if ref not in held]
        if not added:
            return backup
        meta = backup["metadata"]
        # Lent Secrets go first: image-backup's Keychain takes the first entry for a host, and the
        # held ones are those the source just refused (a wrong or rotated password would win again).
        patch = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "spec": {"sourceCredentials": [*added, *held]},
        }
        names = ", ".join(f"{r['namespace']}/{r['name']}" for r in added)
        self.recorder.event(
            workload, "Normal", "BackupRequested", f"retrying ImageBackup {meta['name']} with {names}"
        )
        return await self.client.patch(API_VERSION, BACKUP_KIND, meta["name"], patch)

    async def _refresh(self, backup: Obj) -> Obj:
        """`backup`, its lastReferencedAt written when the stored one is an hour old or missing."""
        now = self.clock.wall()
        referenced = parse_rfc3339((backup.get("status") or {}).get("lastReferencedAt"))
        if referenced is not None and now - referenced < REFERENCED_EVERY:
            return backup
        patch = {"status": {"lastReferencedAt": rfc3339(now)}}
        name = backup["metadata"]["name"]
        return await self.client.patch(API_VERSION, BACKUP_KIND, name, patch, subresource="status")

    async def _pull_secrets(self, workload: Obj) -> list[dict[str, str]]:
        """The workload's imagePullSecrets, then its ServiceAccount's, as SecretRefs of its namespace."""
        namespace = workload["metadata"]["namespace"]
        spec = pod_spec(self.kind, workload)
        names = [s.get("name") or "" for s in spec.get("imagePullSecrets") or []]
        account = spec.get("serviceAccountName") or "default"
        try:
            sa = self.cache.get("v1", "ServiceAccount", account, namespace)
            names += [s.get("name") or "" for s in sa.get("imagePullSecrets") or []]
        except errors.NotFound:
            pass
        # A name no Secret can have (the API does not validate these) names nothing: the kubelet
        # would find no such Secret, and the shared ImageBackup must not carry it.
        return [{"name": n, "namespace": namespace} for n in dict.fromkeys(names) if is_secret_name(n)]

    async def _may_use(self, namespace: str, workload: Obj, source: ImageReference, backup: Obj) -> bool:
        """A copy made anonymously or only with this namespace's Secrets is this namespace's to use;
        otherwise the namespace must be able to pull the source itself."""
        used = [SecretRef.from_spec(r) for r in (backup.get("spec") or {}).get("sourceCredentials") or []]
        if all(ref.namespace == namespace for ref in used):
            return True
        own = [SecretRef.from_spec(r) for r in await self._pull_secrets(workload)]
        return await self.access.can_pull(namespace, source, own)

    # ---- writes

    async def _switch(
        self,
        obj: Obj,
        external: list[tuple[Container, ImageReference]],
        backups: Mapping[ImageReference, Obj],
    ) -> None:
        meta = obj["metadata"]
        changes: dict[str, list[dict[str, str]]] = {}
        originals = json.loads((meta.get("annotations") or {}).get(ORIGINAL_IMAGES) or "{}")
        for container, source in external:
            image = rewritten(source, backups[source], self.settings.pin_digest)
            changes.setdefault(container.field, []).append({"name": container.name, "image": image})
            originals[container.key] = container.image
        shown = ", ".join(
            f"{c.name}: {c.image} → {rewritten(source, backups[source], self.settings.pin_digest)}"
            for c, source in external
        )
        template: dict[str, Any] = {"spec": changes}
        if self.settings.backup_pull_secret:
            secrets = pod_spec(self.kind, obj).get("imagePullSecrets") or []
            if all(s.get("name") != self.settings.backup_pull_secret for s in secrets):
                template["spec"]["imagePullSecrets"] = [*secrets, {"name": self.settings.backup_pull_secret}]
        annotations = {
            ORIGINAL_IMAGES: json.dumps(originals, sort_keys=True),
            CHANGE_CAUSE: f"irc: switched to backup images ({shown})",
            SWITCHES: str(_switches(meta) + 1),
        }
        await self._patch_pod_spec(obj, template["spec"], annotations)
        self.metrics.rewrites.labels(self.kind.kind).inc()
        self.recorder.event(obj, "Normal", "ImagesRewritten", f"switched to backup images: {shown}")

    async def _ensure_pull_secret(self, namespace: str) -> bool:
        """Whether the backup registry's pull Secret is in `namespace`: one the user made is kept as
        it is; a missing one is copied from the manager's namespace, labelled as irc's, unless each
        namespace brings its own (False then). PullSecretNotFound when there is none to copy."""
        name, home = self.settings.backup_pull_secret, self.settings.manager_namespace
        assert name is not None
        try:
            await self.client.get("v1", "Secret", name, namespace)
            return True
        except errors.NotFound:
            pass
        if self.settings.backup_pull_secret_per_namespace:
            return False
        if not home or home == namespace:
            raise ReconcileError(
                "PullSecretNotFound", f"Secret {namespace}/{name} (--backup-pull-secret) does not exist"
            )
        try:
            original = await self.client.get("v1", "Secret", name, home)
        except errors.NotFound:
            raise ReconcileError(
                "PullSecretNotFound", f"Secret {home}/{name} (--backup-pull-secret) does not exist"
            ) from None
        copied = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": original.get("type", "kubernetes.io/dockerconfigjson"),
            "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
            "data": original.get("data") or {},
        }
        with contextlib.suppress(errors.AlreadyExists):
            await self.client.create(copied)
        return True

    async def _restore(self, obj: Obj) -> None:
        meta = obj["metadata"]
        originals = json.loads((meta.get("annotations") or {}).get(ORIGINAL_IMAGES) or "{}")
        if not originals:
            return
        changes: dict[str, list[dict[str, str]]] = {}
        for key, image in originals.items():
            field, _, name = key.partition("/")
            changes.setdefault(field, []).append({"name": name, "image": image})
        annotations = {
            ORIGINAL_IMAGES: None,
            REVERTS: None,
            CHANGE_CAUSE: "irc: restored the original images",
        }
        await self._patch_pod_spec(obj, changes, annotations)
        self.recorder.event(obj, "Normal", "ImagesRestored", f"restored {len(originals)} original images")

    async def _patch_pod_spec(
        self, obj: Obj, pod_spec_patch: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> None:
        """One strategic-merge patch of the pod template (containers merge by name) and annotations,
        under the resourceVersion the decision was made on: a changed workload is a 409, retried."""
        meta = obj["metadata"]
        patch: dict[str, Any] = {
            "metadata": {"resourceVersion": meta["resourceVersion"], "annotations": annotations}
        }
        node = patch
        for part in self.kind.template_path[:-1]:
            node = node.setdefault(part, {})
        node["spec"] = pod_spec_patch
        await self.client.patch(
            self.kind.api_version,
            self.kind.kind,
            meta["name"],
            patch,
            namespace=meta["namespace"],
            patch_type="strategic",
        )

    async def _count_revert(self, obj: Obj) -> Obj | None:
        """A switched workload running an original image again was reverted by someone else: count
        it, and stop after revert_limit within revert_window. The workload to go on with (written
        when a revert was counted), or None when irc stops here."""
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        originals = json.loads(annotations.get(ORIGINAL_IMAGES) or "{}")
        running = {c.key: c.image for c in containers(self.kind, obj)}
        if not any(running.get(k) == image for k, image in originals.items()):
            return obj
        # One revert undoes one switch: its rollout brings several reconciles (and a Deployment's
        # generation moves with annotations too), so it is counted once per switch number.
        generation = _switches(meta)
        now = self.clock.wall()
        seen = []
        for entry in filter(None, (annotations.get(REVERTS) or "").split(",")):
            counted, _, at = entry.partition("/")
            when = parse_rfc3339(at)
            if when is not None and counted.isdigit():
                seen.append((int(counted), when))
        if any(counted == generation for counted, _ in seen):
            return obj
        recent = [(g, t) for g, t in seen if now - t < self.settings.revert_window] + [(generation, now)]
        update: dict[str, str | None] = {REVERTS: ",".join(f"{g}/{rfc3339(t)}" for g, t in recent)}
        stop = len(recent) >= self.settings.revert_limit
        if stop:
            reason = (
                f"reverted {len(recent)} times within {self.settings.revert_window:.0f} s: something "
                "(a GitOps tool?) applies the original images back; point it at the backups or exclude "
                "this workload"
            )
            update[STOPPED] = reason
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"], "annotations": update}}
        written = await self.client.patch(
            self.kind.api_version, self.kind.kind, meta["name"], patch, namespace=meta["namespace"]
        )
        message = (
            update.get(STOPPED)
            or f"the backup images were reverted ({len(recent)} recently); switching again"
        )
        self.recorder.event(obj, "Warning", "RewriteReverted", message)
        return None if stop else written

    async def _defer(self, obj: Obj, reason: str, message: str) -> None:
        self.metrics.deferred.labels(reason).inc()
        self.recorder.event(obj, "Normal", "RewriteDeferred", f"{reason}: {message}")


def _switches(meta: Mapping[str, Any]) -> int:
    text = (meta.get("annotations") or {}).get(SWITCHES) or "0"
    return int(text) if text.isdigit() else 0


def _same_digest(backup: Obj) -> bool:
    """Whether the copy is the source's very manifest (every platform), as a digest reference needs."""
    status = backup.get("status") or {}
    return bool(status.get("sourceDigest")) and status.get("sourceDigest") == status.get("targetDigest")


def _complete(backup: Obj) -> bool:
    status = backup.get("status") or {}
    return (
        status.get("phase") == "Completed" and bool(status.get("targetDigest")) and bool(status.get("target"))
    )


def _workloads_using(reader: Reader, kind: WorkloadKind) -> EnqueueMapped:
    """An ImageBackup event → the workloads of `kind` running its source image."""

    def fn(backup: Obj) -> Iterable[Request]:
        try:
            source = str(parse_reference((backup.get("spec") or {}).get("source", "")).with_default_tag())
        except ValueError:
            return []
        return [
            Request.for_object(w) for w in reader.by_index(kind.api_version, kind.kind, SOURCE_INDEX, source)
        ]

    return EnqueueMapped(fn)


def _decided_on(backup: Obj) -> tuple[Any, ...]:
    """What of an ImageBackup a workload's reconcile decides on: its spec (by generation), whether
    it is complete and to what, its digests, and whether the source refused its credentials."""
    status = backup.get("status") or {}
    ready = get_condition(status, "Ready") or {}
    return (
        backup.get("metadata", {}).get("generation"),
        _complete(backup),
        status.get("target"),
        status.get("targetDigest"),
        status.get("sourceDigest"),
        ready.get("reason") == "SourceUnauthorized",
    )


BACKUP_DECISIONS_CHANGED = PredicateFuncs(update=lambda e: _decided_on(e.old) != _decided_on(e.new))
"""A backup's update reaches its workloads only when it changes what they decide on: its other status
writes (lastReferencedAt, the claim's renewals, Copying) each sent every workload running the image
through a reconcile that found nothing to do, 4.5 reconciles per Deployment before its switch."""


def _workloads_in(reader: Reader, kind: WorkloadKind) -> EnqueueMapped:
    """A Namespace event (its labels may now match --exclude-namespace-selector) → its workloads."""

    def fn(namespace: Obj) -> Iterable[Request]:
        name = namespace["metadata"]["name"]
        return [Request.for_object(w) for w in reader.list(kind.api_version, kind.kind, name)]

    return EnqueueMapped(fn)


def _nothing(_: Obj) -> Iterable[Request]:
    return []


def indexes(settings: Settings) -> tuple[Index, ...]:
    return tuple(
        Index(k.api_version, k.kind, SOURCE_INDEX, source_images(k))
        for k in map(KINDS.__getitem__, settings.rewrite_kinds)
    )


RULES = (
    PolicyRule(("apps",), ("daemonsets", "deployments", "statefulsets"), ("list", "patch", "watch")),
    PolicyRule(("batch",), ("cronjobs",), ("list", "patch", "watch")),  # with --rewrite-kinds=...,CronJob
    # get: the re-read after a create that met AlreadyExists
    # patch: another namespace's pull Secrets added to a backup its source refused
    PolicyRule((GROUP,), (IMAGE_BACKUP.plural,), ("create", "get", "list", "patch", "watch")),
    PolicyRule((GROUP,), (f"{IMAGE_BACKUP.plural}/status",), ("patch",)),  # lastReferencedAt
    PolicyRule(("",), ("namespaces", "serviceaccounts"), ("list", "watch")),
    # get: a namespace's own pull Secrets (the access check) and --backup-pull-secret; create: its copies
    PolicyRule(("",), ("secrets",), ("create", "get")),
)


WORKERS = 16
"""Each workload kind's controller's default workers: a switch waits on its PATCH, not on this
process. 1,000 Deployments over 50 images were all switched after 15.9 s with 4 workers, 9.3 s with
8, 8.6 s with 16 and 6.6 s with 32 (by hand, one run each; docs/performance.md)."""


def setup(mgr: Manager, settings: Settings) -> None:
    unknown = sorted(set(settings.rewrite_kinds) - set(REWRITABLE))
    if unknown:
        raise ValueError(
            f"--rewrite-kinds: cannot rewrite {', '.join(unknown)}; known: {', '.join(REWRITABLE)}"
        )
    for index in indexes(settings):
        mgr.add_index(index)
    for kind in map(KINDS.__getitem__, settings.rewrite_kinds):
        mgr.set_transform(kind.api_version, kind.kind, slim)  # 10k workloads cached in a few MB
    metrics = Metrics.register(mgr.metrics.registry)
    access = RegistryAccess(client=mgr.client, clock=mgr.clock, settings=settings)
    for kind in map(KINDS.__getitem__, settings.rewrite_kinds):
        reconciler = WorkloadRewriteReconciler(
            kind=kind,
            client=mgr.client,
            reader=mgr.cache,
            recorder=mgr.recorder(NAME),
            clock=mgr.clock,
            metrics=metrics,
            settings=settings,
            access=access,
        )
        # Every workload event counts (its status says when it is healthy); a backup's progress and,
        # with a selector, a namespace's labels come in through mapped watches; ServiceAccounts are
        # cached for their imagePullSecrets only.
        builder = (
            ControllerBuilder(mgr, f"{NAME}-{kind.kind.lower()}")
            .for_(kind.api_version, kind.kind)
            .watches(API_VERSION, BACKUP_KIND, _workloads_using(mgr.cache, kind), BACKUP_DECISIONS_CHANGED)
            .watches("v1", "ServiceAccount", EnqueueMapped(_nothing))
        )
        if settings.exclude_namespace_selector:
            builder.watches("v1", "Namespace", _workloads_in(mgr.cache, kind), metadata_only=True)
        # One flag for every kind's controller.
        workers = mgr.options.max_concurrent_reconciles.get(NAME, WORKERS)
        builder.with_options(max_concurrent_reconciles=workers).complete(reconciler)
