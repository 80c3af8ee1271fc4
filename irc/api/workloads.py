"""Kubernetes workloads as irc reads them: where each kind keeps its pod template, the containers
(and init containers) it runs, when it counts as healthy, and `slim`, the informer transform that
keeps only that, for the reconcilers that look at what a cluster runs (workload-rewrite;
creation's duplicate check)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import msgspec

from irc.runtime.typed import struct

Obj = dict[str, Any]


@dataclass(frozen=True)
class WorkloadKind:
    api_version: str
    kind: str
    plural: str
    template_path: tuple[str, ...]  # where the pod spec lives


DEPLOYMENT = WorkloadKind("apps/v1", "Deployment", "deployments", ("spec", "template", "spec"))
DAEMONSET = WorkloadKind("apps/v1", "DaemonSet", "daemonsets", ("spec", "template", "spec"))
STATEFULSET = WorkloadKind("apps/v1", "StatefulSet", "statefulsets", ("spec", "template", "spec"))
CRONJOB = WorkloadKind("batch/v1", "CronJob", "cronjobs", ("spec", "jobTemplate", "spec", "template", "spec"))
JOB = WorkloadKind("batch/v1", "Job", "jobs", ("spec", "template", "spec"))
KINDS = {k.kind: k for k in (DEPLOYMENT, DAEMONSET, STATEFULSET, CRONJOB, JOB)}
REWRITABLE = ("Deployment", "DaemonSet", "StatefulSet", "CronJob")  # a Job's template is immutable
DEFAULT_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


@dataclass(frozen=True)
class Container:
    field: str  # "containers" or "initContainers"
    name: str
    image: str

    @property
    def key(self) -> str:
        return f"{self.field}/{self.name}"


def pod_spec(kind: WorkloadKind, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = obj
    for part in kind.template_path:
        node = (node or {}).get(part)
    return node or {}


def containers(kind: WorkloadKind, obj: Mapping[str, Any], *, ephemeral: bool = False) -> list[Container]:
    """The init containers and containers of the pod template (and its ephemeral containers, which
    only a Pod has and no template keeps, when asked: the creation check looks at everything)."""
    fields = _CONTAINERS if ephemeral else _CONTAINERS[:2]
    slimmed: Any = obj
    if type(slimmed) is SlimWorkload and slimmed.spec:
        # The cached form, which the creation check reads for thousands of workloads at a time: its
        # attributes directly, without a Python call for every dict-like read.
        spec = slimmed.spec.jobTemplate.spec if kind.template_path[1] == "jobTemplate" else slimmed.spec
        pod = spec.template.spec
        return [
            Container(field, c.name, c.image)
            for field in fields
            for c in getattr(pod, field) or ()
            if c.name and c.image
        ]
    spec = pod_spec(kind, obj)
    return [
        Container(field, c["name"], c["image"])
        for field in fields
        for c in spec.get(field) or []
        if c.get("name") and c.get("image")
    ]


def healthy(kind: WorkloadKind, obj: Mapping[str, Any]) -> str | None:
    """None when the workload is healthy (scaled to zero counts), else why not."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    if kind is CRONJOB:
        return None  # a CronJob has no rollout: its next Job starts from the new template
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return "its controller has not observed the latest spec yet"
    if kind is DEPLOYMENT:
        desired = spec.get("replicas", 1)
        for condition in status.get("conditions") or []:
            if condition.get("reason") == "ProgressDeadlineExceeded":
                return "its rollout exceeded its progress deadline"
        counts = {f: status.get(f, 0) for f in ("updatedReplicas", "readyReplicas", "availableReplicas")}
        if any(v != desired for v in counts.values()) or status.get("replicas", 0) != desired:
            up, ready, available = counts.values()
            return (
                f"{desired} replicas desired, {up} updated, {ready} ready, {available} available "
                f"({status.get('replicas', 0)} in all)"
            )
        return None
    if kind is DAEMONSET:
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) != desired or status.get("numberReady", 0) != desired:
            return f"{desired} pods desired, {status.get('numberReady', 0)} ready"
        return None
    desired = spec.get("replicas", 1)  # StatefulSet
    if status.get("readyReplicas", 0) != desired:
        return f"{desired} replicas desired, {status.get('readyReplicas', 0)} ready"
    if status.get("currentRevision") != status.get("updateRevision"):
        return "a rolling update is in progress"
    return None


_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "ownerReferences",
)
_POD_SPEC = ("imagePullSecrets", "serviceAccountName")
_STATUS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "desiredNumberScheduled",
    "updatedNumberScheduled",
    "numberReady",
    "currentRevision",
    "updateRevision",
)
_CONTAINERS = ("initContainers", "containers", "ephemeralContainers")
_CONDITION = ("type", "status", "reason")
_UNSET: Any = msgspec.UNSET


# What `slim` keeps, as read-only typed objects (irc.runtime.typed): a field holds inline what a dict
# would hold as a table of its own, and the collector does not track them.
SlimContainer = struct("SlimContainer", ("name", "image"), __name__)
SlimPodSpec = struct("SlimPodSpec", (*_POD_SPEC, *_CONTAINERS), __name__)
SlimTemplate = struct("SlimTemplate", ("spec",), __name__)
SlimSpec = struct("SlimSpec", ("replicas", "template", "jobTemplate"), __name__)
SlimMetadata = struct("SlimMetadata", _METADATA, __name__)
SlimCondition = struct("SlimCondition", _CONDITION, __name__)
SlimStatus = struct("SlimStatus", (*_STATUS, "conditions"), __name__)
SlimWorkload = struct("SlimWorkload", ("apiVersion", "kind", "metadata", "spec", "status"), __name__)


def slim(obj: Mapping[str, Any]) -> Obj:
    """What the reconcilers read of a workload (a dict, or a typed object), as a read-only
    `SlimWorkload`: identity, labels and annotations, replicas, the pod template's container names and
    images (init and ephemeral too), pull secrets and service account, and the status fields of
    `healthy` (condition type, status and reason). It reads like the dict it replaces
    (irc.runtime.typed); `to_dict` makes the copy to edit. A Deployment of a few KB keeps a few hundred
    bytes, so 10k workloads stay cheap to cache.

    Values that many workloads hold alike (apiVersion, kind, namespace, container names and images,
    condition words) are one shared string each rather than a copy per workload: the decoder makes a
    new one for every object, and they were a sixth of what a cached workload cost."""
    kind = KINDS.get(obj.get("kind", ""))
    metadata = obj.get("metadata") or {}
    kept = {k: metadata[k] for k in _METADATA if k in metadata}
    if "namespace" in kept:
        kept["namespace"] = _shared(kept["namespace"])
    api_version, kind_name = _shared(obj.get("apiVersion")), _shared(obj.get("kind"))
    if kind is None:
        return cast(Obj, SlimWorkload(api_version, kind_name, SlimMetadata(**kept)))
    pod = pod_spec(kind, obj)
    kept_pod = SlimPodSpec(
        **{k: pod[k] for k in _POD_SPEC if k in pod},
        **{
            field: [SlimContainer(_shared(c.get("name")), _shared(c.get("image"))) for c in pod[field] or []]
            for field in _CONTAINERS
            if field in pod
        },
    )
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", _UNSET)
    template = SlimTemplate(kept_pod)
    kept_spec = (
        SlimSpec(replicas, jobTemplate=SlimTemplate(SlimSpec(template=template)))
        if kind.template_path[1] == "jobTemplate"
        else SlimSpec(replicas, template=template)
    )
    status = obj.get("status") or {}
    kept_status = {k: status[k] for k in _STATUS if k in status}
    if "conditions" in status:
        kept_status["conditions"] = [
            SlimCondition(**{k: _shared(c[k]) for k in _CONDITION if k in c})
            for c in status["conditions"] or []
        ]
    # (The runtime's signatures name cached objects Obj; a typed one reads as one: irc.runtime.typed.)
    return cast(
        Obj,
        SlimWorkload(
            api_version,
            kind_name,
            SlimMetadata(**kept),
            kept_spec,
            SlimStatus(**kept_status) if kept_status else _UNSET,
        ),
    )


def _shared(value: Any) -> Any:
    """One string for all equal ones: the first seen of the last SHARED_STRINGS distinct ones. Not
    `sys.intern`, whose strings are immortal on Python 3.12.0 to 3.12.4 and free-threaded builds, so
    every image tag a cluster ever ran would stay in memory."""
    return _first_seen(value) if type(value) is str else value


SHARED_STRINGS = 16_384


@functools.lru_cache(maxsize=SHARED_STRINGS)
def _first_seen(value: str) -> str:
    return value
