"""The policy reconciler (controller name `policy`): validates each ImageResourcePolicy and says
so in a Ready condition with a precise reason, so a bad policy is visible before any scan, and
garbage-collects the ImageDetected objects the detection controller created for it.

    Ready=True   Valid             every check passed
    Ready=False  InvalidPolicy     a glob, range, regex or filter does not parse (the message names the field)
                 TemplateNotFound  spec.templateRef names no ResourceTemplate
                 TemplateNotWatched  it is in a namespace this manager does not watch
                 SecretNotFound    spec.aws.secretRef names no Secret
                 SecretInvalid     that Secret lacks accessKeyId or secretAccessKey
                 CrossNamespaceSecretRef  the Secret is in another namespace (refused unread)
    Suspended    True/False        spec.suspend

A policy is re-validated when its spec changes, when the ResourceTemplate or Secret it references
changes (mapped watches; Secrets through a metadata-only informer, so no Secret's data is cached),
and every `REVALIDATE` seconds. The status patch carries the cached resourceVersion and
only the fields this controller owns: the detection controller writes the same status, and a stale
write fails with 409 Conflict (retried with backoff) instead of dropping its fields.

Garbage collection touches only ImageDetected objects labelled app.kubernetes.io/managed-by=irc
whose spec.sourcePolicy names the policy (in the policy's namespace); hand-made ones are never
deleted.

- TTL: with spec.ttlDays > 0 (default 7; 0 keeps everything), an object is deleted once
  spec.detectedAt (else metadata.creationTimestamp) is ttlDays days old, unless the policy's
  status.latestImages names it: deleting the current selection would only make the next scan
  detect it again. The policy is requeued at its next expiry when that comes before REVALIDATE.
- Policy gone: its objects are deleted. Owner references let KCM's garbage collector do this too;
  this covers clusters without it and objects whose owner reference was stripped.

ImageDetected creations (the initial list included, so orphans found at startup are collected)
and deletions enqueue their policy; their updates do not, so status writes by other controllers
do not re-validate it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from irc.api import API_VERSION, GROUP, IMAGE_DETECTED, IMAGE_RESOURCE_POLICY, RESOURCE_TEMPLATE
from irc.api.conditions import parse_rfc3339, set_condition
from irc.api.imagepolicy import MANAGED_BY, aws_secret_ref
from irc.ecr.credentials import AwsCredentials
from irc.ecr.select import ScanSpec
from irc.reconcilers.settings import Settings
from irc.runtime import (
    ApiClient,
    Clock,
    ControllerBuilder,
    EnqueueMapped,
    EventRecorder,
    Index,
    Manager,
    Obj,
    PolicyRule,
    PredicateFuncs,
    Reader,
    ReconcileError,
    Request,
    Result,
    errors,
    generation_changed,
    summarize,
)

NAME = "policy"
KIND, TEMPLATE, DETECTED = "ImageResourcePolicy", "ResourceTemplate", "ImageDetected"
TEMPLATE_INDEX, SECRET_INDEX = "templateRef", "awsSecretRef"
SOURCE_INDEX = "managedSourcePolicy"  # managed objects only; a name no other controller's index takes
REVALIDATE = 300.0
DEFAULT_TTL_DAYS = 7
DAY = 86400.0

log = logging.getLogger(__name__)


def _ref_key(policy: Obj, ref: dict[str, Any]) -> list[str]:
    namespace = ref.get("namespace") or policy["metadata"].get("namespace", "")
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


def _template_key(policy: Obj) -> list[str]:
    return _ref_key(policy, (policy.get("spec") or {}).get("templateRef") or {})


def _secret_key(policy: Obj) -> list[str]:
    return _ref_key(policy, ((policy.get("spec") or {}).get("aws") or {}).get("secretRef") or {})


def source_policy_key(detected: Obj) -> list[str]:
    """The "namespace/name" of the policy a managed ImageDetected came from; [] for any other object
    (no managed-by label, no sourcePolicy, or a sourcePolicy outside the object's own namespace,
    where the detection controller never puts one)."""
    metadata = detected["metadata"]
    if (metadata.get("labels") or {}).get(MANAGED_BY[0]) != MANAGED_BY[1]:
        return []
    ref = (detected.get("spec") or {}).get("sourcePolicy") or {}
    namespace = metadata.get("namespace", "")
    if not ref.get("name") or (ref.get("namespace") or namespace) != namespace:
        return []
    return [f"{namespace}/{ref['name']}"]


def ttl_days(spec: dict[str, Any]) -> int:
    days = spec.get("ttlDays")
    return DEFAULT_TTL_DAYS if days is None else int(days)


def current_selection(policy: Obj) -> set[str]:
    """The ImageDetected names the policy's status.latestImages lists."""
    latest = (policy.get("status") or {}).get("latestImages") or []
    return {e["imageDetected"] for e in latest if isinstance(e, dict) and e.get("imageDetected")}


def expired(objects: Iterable[Obj], keep: set[str], days: int, now: float) -> tuple[list[Obj], float | None]:
    """The objects past `days` days since detection (those named in `keep` excepted), and the earliest
    expiry among the rest (None if there is none). `days` 0 keeps everything."""
    if days <= 0:
        return [], None
    out, soonest = [], None
    for obj in objects:
        metadata = obj["metadata"]
        if metadata["name"] in keep:
            continue
        detected = parse_rfc3339((obj.get("spec") or {}).get("detectedAt"))
        if detected is None:
            detected = parse_rfc3339(metadata.get("creationTimestamp"))
        if detected is None:  # the apiserver always sets creationTimestamp; nothing to go by otherwise
            continue
        expiry = detected + days * DAY
        if expiry <= now:
            out.append(obj)
        elif soonest is None or expiry < soonest:
            soonest = expiry
    return out, soonest


def check_selection(spec: dict[str, Any]) -> None:
    """The scan parts of a policy spec, parsed as the detection controller parses them; a
    ReconcileError (InvalidPolicy) naming the field when one does not parse."""
    try:
        ScanSpec.from_policy(spec)
    except ValueError as e:
        raise ReconcileError("InvalidPolicy", str(e)) from None


@dataclass(frozen=True)
class Metrics:
    deleted: Counter
    """irc_image_detected_deleted_total{reason}: ImageDetected objects garbage-collected."""

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Metrics:
        counter = Counter(
            "irc_image_detected_deleted_total",
            "ImageDetected objects garbage-collected, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in ("expired", "policy_deleted"):  # series start at zero
            counter.labels(reason)
        return cls(counter)


class PolicyReconciler:
    def __init__(
        self, *, client: ApiClient, reader: Reader, recorder: EventRecorder, clock: Clock, metrics: Metrics
    ) -> None:
        self.client, self.cache, self.recorder, self.clock = client, reader, recorder, clock
        self.metrics = metrics

    async def reconcile(self, request: Request) -> Result | None:
        try:
            policy = self.cache.get(API_VERSION, KIND, request.name, request.namespace)
        except errors.NotFound:
            await self._collect_orphans(request)
            return None
        now = self.clock.wall()
        await self._validate(policy, now)
        spec = policy.get("spec") or {}
        stale, soonest = expired(await self._managed(request), current_selection(policy), ttl_days(spec), now)
        await self._delete(stale, "expired", policy)
        return Result(requeue_after=REVALIDATE if soonest is None else min(REVALIDATE, soonest - now))

    async def _validate(self, policy: Obj, now: float) -> None:
        spec = policy.get("spec") or {}
        metadata = policy["metadata"]
        generation = metadata.get("generation")
        cached: dict[str, Any] = policy.get("status") or {}
        # Only the fields this controller owns; conditions is one list, so it is written whole.
        status: dict[str, Any] = {"conditions": copy.deepcopy(cached.get("conditions") or [])}
        invalid: ReconcileError | None = None
        try:
            check_selection(spec)
            await self._check_template(policy)
            await self._check_secret(policy)
        except ReconcileError as e:
            if set_condition(
                status, "Ready", "False", e.reason, str(e), observed_generation=generation, now=now
            ):
                invalid = e  # recorded after the write, which a Conflict retries (no second Event)
        else:
            set_condition(
                status,
                "Ready",
                "True",
                "Valid",
                "the policy is valid",
                observed_generation=generation,
                now=now,
            )
        suspended = bool(spec.get("suspend"))
        set_condition(
            status,
            "Suspended",
            "True" if suspended else "False",
            "Suspended" if suspended else "Active",
            "scans are suspended" if suspended else "scans run every interval",
            observed_generation=generation,
            now=now,
        )
        status["observedGeneration"] = generation
        if any(status[k] != cached.get(k) for k in status):
            # The resourceVersion makes the write conditional: the conditions list replaces the stored
            # one, so written over a newer status it would drop another controller's condition.
            await self.client.patch(
                API_VERSION,
                KIND,
                metadata["name"],
                {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "status": status},
                namespace=metadata["namespace"],
                subresource="status",
            )
        if invalid is not None:
            self.recorder.event(policy, "Warning", invalid.reason, str(invalid))

    async def _managed(self, request: Request) -> list[Obj]:
        """The policy's managed ImageDetected objects that are not already being deleted."""
        found = self.cache.by_index(
            API_VERSION, DETECTED, SOURCE_INDEX, f"{request.namespace}/{request.name}"
        )
        return [o for o in found if not o["metadata"].get("deletionTimestamp")]

    async def _collect_orphans(self, request: Request) -> None:
        orphans = await self._managed(request)
        if not orphans:
            return
        # Informers of different kinds lag independently: a policy created a moment ago may be missing
        # from the cache while its first ImageDetected is not. The API server has the last word; if
        # the policy exists, its own event comes next.
        try:
            await self.client.get(API_VERSION, KIND, request.name, request.namespace)
        except errors.NotFound:
            await self._delete(orphans, "policy_deleted", None)

    async def _delete(self, objects: list[Obj], reason: str, policy: Obj | None) -> None:
        """Delete each object as the cache saw it (the resourceVersion precondition makes a changed
        object, e.g. one whose label was just removed, a Conflict: the retry decides on the new copy).
        """
        deleted: list[str] = []
        try:
            for obj in objects:
                metadata = obj["metadata"]
                with contextlib.suppress(errors.NotFound):  # already gone
                    await self.client.delete(
                        API_VERSION,
                        DETECTED,
                        metadata["name"],
                        metadata["namespace"],
                        resource_version=metadata["resourceVersion"],
                    )
                    deleted.append(metadata["name"])
                    self.metrics.deleted.labels(reason).inc()
        finally:  # what was deleted is reported even when a later deletion fails
            if deleted and policy is not None:
                days = ttl_days(policy.get("spec") or {})
                message = (
                    f"ttlDays {days}: deleted {len(deleted)} expired ImageDetected: {summarize(deleted)}"
                )
                self.recorder.event(policy, "Normal", "Expired", message)
            elif deleted:
                log.info("deleted the ImageDetected of a deleted policy: %s", summarize(deleted))

    async def _check_template(self, policy: Obj) -> None:
        key = _template_key(policy)[0]
        namespace, _, name = key.partition("/")
        try:
            self.cache.get(API_VERSION, TEMPLATE, name, namespace)
        except errors.NotFound:
            raise ReconcileError(
                "TemplateNotFound", f"ResourceTemplate {key} not found (spec.templateRef)"
            ) from None
        except LookupError:  # no informer there: the manager watches only some namespaces
            raise ReconcileError(
                "TemplateNotWatched",
                f"ResourceTemplate {key} (spec.templateRef) is in namespace {namespace}, which this "
                "manager does not watch (irc manager --namespace)",
            ) from None

    async def _check_secret(self, policy: Obj) -> None:
        try:
            ref = aws_secret_ref(policy)
        except ValueError as e:  # refused before any read: no hint whether it exists
            raise ReconcileError("CrossNamespaceSecretRef", str(e)) from None
        if ref is None:
            return
        try:
            secret = await self.client.get("v1", "Secret", ref.name, ref.namespace)
        except errors.NotFound:
            raise ReconcileError("SecretNotFound", f"Secret {ref} not found (spec.aws.secretRef)") from None
        try:  # the check the detection controller's use of it makes
            AwsCredentials.from_secret_data(secret.get("data") or {}, str(ref))
        except ValueError as e:
            raise ReconcileError("SecretInvalid", str(e)) from None


def _policies_naming(reader: Reader, index: str) -> EnqueueMapped:
    """An event of a referenced object (ResourceTemplate, Secret) → the policies whose reference
    names it, from the cache's `index` of policies."""

    def fn(referenced: Obj) -> Iterable[Request]:
        key = f"{referenced['metadata'].get('namespace', '')}/{referenced['metadata']['name']}"
        return [Request.for_object(p) for p in reader.by_index(API_VERSION, KIND, index, key)]

    return EnqueueMapped(fn)


def _source_policy(detected: Obj) -> Iterable[Request]:
    """A managed ImageDetected event → the policy it came from."""
    return [Request(*key.split("/", 1)) for key in source_policy_key(detected)]


RULES = (
    # get: the orphan check asks the API server, not the cache
    PolicyRule((GROUP,), (IMAGE_RESOURCE_POLICY.plural,), ("get", "list", "watch")),
    PolicyRule((GROUP,), (f"{IMAGE_RESOURCE_POLICY.plural}/status",), ("patch",)),
    PolicyRule((GROUP,), (RESOURCE_TEMPLATE.plural,), ("list", "watch")),
    PolicyRule((GROUP,), (IMAGE_DETECTED.plural,), ("delete", "list", "watch")),
    # get: the keys are checked on a fresh read; list, watch: the metadata-only informer
    PolicyRule(("",), ("secrets",), ("get", "list", "watch")),
)


INDEXES = (
    Index(API_VERSION, KIND, TEMPLATE_INDEX, _template_key),
    Index(API_VERSION, KIND, SECRET_INDEX, _secret_key),
    Index(API_VERSION, DETECTED, SOURCE_INDEX, source_policy_key),
)


def setup(mgr: Manager, settings: Settings) -> None:
    for index in INDEXES:
        mgr.add_index(index)
    reconciler = PolicyReconciler(
        client=mgr.client,
        reader=mgr.cache,
        recorder=mgr.recorder(NAME),
        clock=mgr.clock,
        metrics=Metrics.register(mgr.metrics.registry),
    )
    (
        ControllerBuilder(mgr, NAME)
        .for_(API_VERSION, KIND, generation_changed())
        .watches(API_VERSION, TEMPLATE, _policies_naming(mgr.cache, TEMPLATE_INDEX))
        .watches("v1", "Secret", _policies_naming(mgr.cache, SECRET_INDEX), metadata_only=True)
        .watches(
            API_VERSION,
            DETECTED,
            EnqueueMapped(_source_policy),
            PredicateFuncs(update=lambda e: False, generic=lambda e: False),
        )
        .complete(reconciler)
    )
