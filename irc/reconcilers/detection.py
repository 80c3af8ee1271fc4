"""The detection reconciler (controller name `detection`): scans ECR for each ImageResourcePolicy the
policy controller found valid, and records what its policy selects as ImageDetected objects.

    policy Ready for this generation, not suspended, scan due (interval), or asked for
      ──▶ credentials (secretRef | default chain, then roleArn) ──▶ irc.ecr.scan within scanTimeout
      ──▶ one ImageDetected per selection (created once; same name on every scan and restart)
      ──▶ status: lastScanTime, counts, latestImages, Scanned condition; requeue after interval + jitter

A scan is due when the last successful one is older than spec.interval, the spec changed since, or
the annotation automation.gitops.io/reconcile-requested-at carries a value not yet handled. A
restarted manager therefore does not rescan every policy at once. Failures set Scanned=False with
the reason from irc.ecr.scan (AccessDenied, Throttled, ScanTimeout, NetworkError, ...) and are
retried with backoff (when not terminal) or at the next interval (terminal: someone must fix
credentials, permissions or the policy).

ImageDetected names follow the seed: `<last repository segment>-<tag, ≤20>-<digest[:8]>`, DNS-safe.
If another image already holds that name, a hash of policy and image is appended.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Counter, Histogram

from irc.api import API_VERSION, GROUP, IMAGE_DETECTED, IMAGE_RESOURCE_POLICY
from irc.api.conditions import get_condition, parse_rfc3339, rfc3339, set_condition
from irc.api.durations import parse_duration
from irc.api.imagepolicy import (
    MANAGED_BY,
    POLICY_LABEL,
    PREFIX_LABEL,
    REPOSITORY_ANNOTATION,
    REQUESTED_AT,
    aws_secret_ref,
)
from irc.ecr import AwsClients, AwsCredentials, ScanResult, ScanSpec, Selection
from irc.ecr.credentials import session_name
from irc.ecr.scan import classify
from irc.reconcilers.settings import Settings
from irc.runtime import (
    ApiClient,
    Clock,
    ControllerBuilder,
    EventRecorder,
    Manager,
    Obj,
    PolicyRule,
    PredicateFuncs,
    Reader,
    ReconcileError,
    Request,
    Result,
    UpdateEvent,
    errors,
    summarize,
)

NAME = "detection"
KIND, DETECTED = "ImageResourcePolicy", "ImageDetected"
DEFAULT_INTERVAL = 300.0
JITTER = 0.1  # requeue after interval * [1, 1.1): policies created together drift apart
RETRY_FIRST, CONFLICT_RETRIES = 15.0, 5
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metrics:
    scans: Counter
    duration: Histogram
    calls: Counter
    created: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            Counter(
                "irc_ecr_scans_total",
                "ECR scans, by result (success or reason)",
                ["result"],
                registry=registry,
            ),
            Histogram(
                "irc_ecr_scan_duration_seconds",
                "Wall time of one policy's ECR scan",
                buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                registry=registry,
            ),
            Counter(
                "irc_ecr_api_calls_total", "ECR requests made by scans, retries included", registry=registry
            ),
            Counter("irc_image_detected_created_total", "ImageDetected objects created", registry=registry),
        )


def _dns(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def detected_name(repository: str, tag: str, digest: str) -> str:
    """`<last repository segment>-<tag sanitised, ≤20>-<digest[:8]>` as a DNS-1123 name."""
    hex_digest = digest.partition(":")[2] or digest
    parts = (
        _dns(repository.rpartition("/")[2])[:200].rstrip("-"),
        _dns(tag)[:20].strip("-"),
        _dns(hex_digest[:8]),
    )
    return "-".join(p for p in parts if p) or "image"


def _disambiguated(name: str, policy: str, full_name: str) -> str:
    return f"{name}-{hashlib.sha256(f'{policy}/{full_name}'.encode()).hexdigest()[:6]}"


def _interval(spec: dict[str, Any]) -> float:
    try:
        return max(parse_duration(str(spec["interval"]), "interval"), 1.0)
    except (KeyError, ValueError):
        return DEFAULT_INTERVAL


def next_scan_in(policy: Obj, interval: float, now: float) -> float:
    """Seconds until `policy` is due for a scan; 0 when it is due now (see the module docstring)."""
    meta, status = policy["metadata"], policy.get("status") or {}
    scanned = get_condition(status, "Scanned")
    if not scanned or scanned.get("observedGeneration") != meta.get("generation"):
        return 0.0
    requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
    if requested is not None and requested != status.get("lastHandledReconcileAt"):
        return 0.0
    if scanned.get("status") != "True":
        return 0.0  # failed: retried on the backoff the failure set, or at once after a restart
    last = parse_rfc3339(status.get("lastScanTime"))
    return 0.0 if last is None else max(0.0, last + interval - now)


class DetectionReconciler:
    """`aws` makes the ECR and STS clients (AwsClients in a manager; a fake of `scan` and
    `assume_role` in a unit test)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        reader: Reader,
        recorder: EventRecorder,
        clock: Clock,
        metrics: Metrics,
        settings: Settings,
        aws: AwsClients,
    ) -> None:
        self.client, self.cache, self.recorder, self.clock = client, reader, recorder, clock
        self.metrics, self.settings, self.clients = metrics, settings, aws
        self._failures: dict[tuple[str, str], int] = {}
        self._random = random.Random()

    async def reconcile(self, request: Request) -> Result | None:
        key = (request.namespace or "", request.name)
        try:
            policy = self.cache.get(API_VERSION, KIND, request.name, request.namespace)
        except errors.NotFound:
            self.clients.forget(session_name(*key))
            self._failures.pop(key, None)
            return None
        meta, spec = policy["metadata"], policy.get("spec") or {}
        status = policy.get("status") or {}
        generation = meta.get("generation")
        ready = get_condition(status, "Ready")
        if meta.get("deletionTimestamp") or spec.get("suspend"):
            return None
        if not ready or ready.get("status") != "True" or ready.get("observedGeneration") != generation:
            return None  # not validated (yet) for this generation; its Ready change brings us back
        interval = _interval(spec)
        wait = next_scan_in(policy, interval, self.clock.wall())
        if wait > 0:
            return Result(requeue_after=wait)
        try:
            scan_spec = ScanSpec.from_policy(spec)
        except ValueError:
            return None  # the policy controller reports it
        try:
            credentials = await self._credentials(policy, scan_spec.region)
            result = await self.clients.scan(
                scan_spec, credentials, concurrency=self.settings.ecr_concurrency
            )
        except ReconcileError as e:
            return await self._failed(policy, e, interval)
        self.metrics.scans.labels("success").inc()
        self.metrics.duration.observe(result.duration)
        self.metrics.calls.inc(result.api_calls)
        self._failures.pop(key, None)
        created: list[str] = []
        names = [await self._ensure(policy, s, created) for s in result.selections]
        if created:  # one Event per scan: a first scan of 1,000 repositories must not be 1,000 Events
            self.recorder.event(policy, "Normal", "Detected", f"{len(created)} new: {summarize(created)}")
        await self._succeeded(policy, result, names)
        return Result(requeue_after=interval * (1 + JITTER * self._random.random()))

    async def _credentials(self, policy: Obj, region: str) -> AwsCredentials | None:
        aws = (policy.get("spec") or {}).get("aws") or {}
        namespace = policy["metadata"]["namespace"]
        source = None
        try:
            ref = aws_secret_ref(policy)
        except ValueError as e:  # the policy controller refuses it first; never read it regardless
            raise ReconcileError("CrossNamespaceSecretRef", str(e), terminal=True) from None
        if ref is not None:
            try:
                secret = await self.client.get("v1", "Secret", ref.name, ref.namespace)
                source = AwsCredentials.from_secret_data(secret.get("data") or {}, str(ref))
            except errors.NotFound:
                message = f"Secret {ref} not found (spec.aws.secretRef)"
                raise ReconcileError("SecretNotFound", message, terminal=True) from None
            except ValueError as e:
                raise ReconcileError("SecretInvalid", str(e), terminal=True) from None
        if not aws.get("roleArn"):
            return source
        try:
            return await self.clients.assume_role(
                aws["roleArn"], source, region, session_name(namespace, policy["metadata"]["name"])
            )
        except (ClientError, BotoCoreError) as e:
            classified = classify(e)
            if classified.reason in ("NoCredentials", "Throttled", "NetworkError"):
                raise classified from e  # no source credentials, or STS busy or unreachable
            message = f"STS AssumeRole {aws['roleArn']}: {e}"
            raise ReconcileError("AssumeRoleFailed", message, terminal=classified.terminal) from e

    # ---- ImageDetected

    async def _ensure(self, policy: Obj, selection: Selection, created: list[str]) -> str:
        """The name of the ImageDetected for `selection`, created (and appended to `created`) if missing.
        An object this image already has, under either name, is kept: were the plain name tried
        first, an image moved to the hashed name by a collision would get a second object once the
        plain name's holder is gone."""
        image, meta = selection.image, policy["metadata"]
        plain = detected_name(image.repository, image.tag, image.digest)
        candidates = (plain, _disambiguated(plain, meta["name"], image.full_name))
        holders = {c: await self._existing(c, meta["namespace"]) for c in candidates}
        for candidate, holder in holders.items():
            if holder is not None and _same(holder, meta["name"], image.full_name):
                return candidate
        for candidate, holder in holders.items():
            if holder is not None:
                continue
            try:
                await self.client.create(self._detected(policy, selection, candidate))
            except errors.AlreadyExists:  # created since the cache last heard
                holder = await self.client.get(API_VERSION, DETECTED, candidate, meta["namespace"])
                if _same(holder, meta["name"], image.full_name):
                    return candidate
            else:
                self.metrics.created.inc()
                created.append(f"{image.full_name} → {candidate}")
                return candidate
        raise errors.Conflict(409, "Conflict", f"ImageDetected names for {image.full_name} are taken")

    async def _existing(self, name: str, namespace: str) -> Obj | None:
        try:
            return self.cache.get(API_VERSION, DETECTED, name, namespace)
        except errors.NotFound:
            return None

    def _detected(self, policy: Obj, selection: Selection, name: str) -> Obj:
        image, meta = selection.image, policy["metadata"]
        labels = {MANAGED_BY[0]: MANAGED_BY[1]}
        if _LABEL_VALUE.match(meta["name"]):
            labels[POLICY_LABEL] = meta["name"]
        if selection.prefix and _LABEL_VALUE.match(selection.prefix):
            labels[PREFIX_LABEL] = selection.prefix
        spec: dict[str, Any] = {
            "imageName": image.repository.replace("/", "-"),
            "imageTag": image.tag,
            "imageDigest": image.digest,
            "fullImageName": image.full_name,
            "sourcePolicy": {"name": meta["name"], "namespace": meta["namespace"]},
            "detectedAt": rfc3339(self.clock.wall()),
        }
        if selection.prefix is not None:
            spec["tagPrefix"] = selection.prefix
        if image.pushed_at:
            spec["pushedAt"] = rfc3339(image.pushed_at)
        return {
            "apiVersion": API_VERSION,
            "kind": DETECTED,
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": {REPOSITORY_ANNOTATION: image.repository},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": KIND,
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": spec,
        }

    # ---- status

    async def _failed(self, policy: Obj, error: ReconcileError, interval: float) -> Result:
        key = (policy["metadata"]["namespace"], policy["metadata"]["name"])
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        self.metrics.scans.labels(error.reason).inc()
        self.recorder.event(policy, "Warning", error.reason, str(error))

        def mutate(status: dict[str, Any], generation: int | None) -> None:
            set_condition(
                status,
                "Scanned",
                "False",
                error.reason,
                str(error),
                observed_generation=generation,
                now=self.clock.wall(),
            )

        await self._write_status(policy, mutate)
        retry = min(interval, RETRY_FIRST * 2 ** min(failures - 1, 20)) if not error.terminal else interval
        return Result(requeue_after=retry)

    async def _succeeded(self, policy: Obj, result: ScanResult, names: list[str]) -> None:
        now = self.clock.wall()
        message = (
            f"scanned {result.repositories_scanned} repositories ({result.images_scanned} images) "
            f"in {result.duration:.1f}s, selected {len(names)}"
        )
        if result.repositories_matched > result.repositories_scanned:
            message += (
                f"; {result.repositories_matched} repositories matched, only the first "
                f"{result.repositories_scanned} by name were scanned (ecrRepository.maxRepositories)"
            )
            self.recorder.event(policy, "Warning", "RepositoryLimitReached", message)
        log.info("%s", message, extra={"api_calls": result.api_calls, "images_detected": len(names)})
        latest = []
        for selection, name in zip(result.selections, names, strict=True):
            entry = {
                "repository": selection.image.repository,
                "tag": selection.image.tag,
                "digest": selection.image.digest,
                "imageDetected": name,
            }
            if selection.prefix is not None:
                entry["tagPrefix"] = selection.prefix
            if selection.image.pushed_at:
                entry["pushedAt"] = rfc3339(selection.image.pushed_at)
            latest.append(entry)

        def mutate(status: dict[str, Any], generation: int | None) -> None:
            set_condition(
                status, "Scanned", "True", "Succeeded", message, observed_generation=generation, now=now
            )
            status |= {
                "lastScanTime": rfc3339(now),
                "lastScanDuration": f"{result.duration:.3f}s",
                "repositoriesMatched": result.repositories_matched,
                "repositoriesScanned": result.repositories_scanned,
                "imagesScanned": result.images_scanned,
                "imagesDetected": len(names),
                "apiCalls": result.api_calls,
                "latestImages": latest,
            }

        await self._write_status(policy, mutate)

    async def _write_status(self, policy: Obj, mutate: Callable[[dict[str, Any], int | None], None]) -> None:
        """Apply `mutate` to the latest status and write it with a resourceVersion precondition:
        the policy controller writes its conditions into the same status, and neither may clobber
        the other. On a conflict re-read and retry (client-go's RetryOnConflict), not rescan."""
        meta = policy["metadata"]
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)  # the request this scan handled
        current = policy
        for attempt in range(CONFLICT_RETRIES):
            status = copy.deepcopy(current.get("status") or {})  # cached objects are shared
            mutate(status, meta.get("generation"))
            if requested is not None:
                status["lastHandledReconcileAt"] = requested
            patch = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": status,
            }
            try:
                await self.client.patch(
                    API_VERSION, KIND, meta["name"], patch, namespace=meta["namespace"], subresource="status"
                )
                return
            except errors.Conflict:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
            except errors.NotFound:
                return
            try:  # re-read outside the handler, so a policy deleted meanwhile ends it quietly too
                current = await self.client.get(API_VERSION, KIND, meta["name"], meta["namespace"])
            except errors.NotFound:
                return


def _same(existing: Obj, policy: str, full_name: str) -> bool:
    spec = existing.get("spec") or {}
    return spec.get("fullImageName") == full_name and (spec.get("sourcePolicy") or {}).get("name") == policy


def _wake_key(obj: Obj) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    ready = get_condition(status, "Ready") or {}
    annotations = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    return (
        obj["metadata"].get("generation"),
        ready.get("status"),
        ready.get("observedGeneration"),
        annotations,
    )


def wakes(event: UpdateEvent) -> bool:
    """A spec change, a Ready change or a new scan request; never our own status writes."""
    return _wake_key(event.old) != _wake_key(event.new)


RULES = (
    # get: the re-read after a status Conflict
    PolicyRule((GROUP,), (IMAGE_RESOURCE_POLICY.plural,), ("get", "list", "watch")),
    PolicyRule((GROUP,), (f"{IMAGE_RESOURCE_POLICY.plural}/status",), ("patch",)),
    # No finalizers permission: the owner reference does not set blockOwnerDeletion.
    PolicyRule((GROUP,), (IMAGE_DETECTED.plural,), ("create", "get", "list", "watch")),
    PolicyRule(("",), ("secrets",), ("get",)),  # spec.aws.secretRef, read when scanning
)


def setup(mgr: Manager, settings: Settings) -> None:
    # ImageDetected is watched for the cache only (_existing reads it, so steady-state scans make no
    # API call per selection); none of its events needs a scan: a deleted current selection is
    # re-created by the next one.
    never = PredicateFuncs(
        create=lambda e: False, update=lambda e: False, delete=lambda e: False, generic=lambda e: False
    )
    reconciler = DetectionReconciler(
        client=mgr.client,
        reader=mgr.cache,
        recorder=mgr.recorder(NAME),
        clock=mgr.clock,
        metrics=Metrics.register(mgr.metrics.registry),
        settings=settings,
        aws=AwsClients(endpoint_url=settings.aws_endpoint_url, clock=mgr.clock),
    )
    (
        ControllerBuilder(mgr, NAME)
        .for_(API_VERSION, KIND, PredicateFuncs(update=wakes))
        .owns(API_VERSION, DETECTED, never)
        .complete(reconciler)
    )
