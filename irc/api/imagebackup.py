"""The ImageBackup kind: one object per source image, copying it (every platform by default)
into the backup registry and showing the progress in its status.

Cluster-scoped: one image is backed up once for the whole cluster, whichever namespaces use it,
so its identity cannot belong to a namespace; Secrets it needs are referenced with their namespace.

    apiVersion: automation.gitops.io/v1beta1
    kind: ImageBackup
    metadata: {name: nginx-1.25-3f2a9c1b0d}
    spec:
      source: docker.io/library/nginx:1.25
      target: backup.example.com/mirror/docker.io/library/nginx:1.25   # optional: derived when empty
      platforms: [linux/amd64]                                          # optional: all by default
      sourceCredentials: [{name: pull-secret, namespace: shop}]         # dockerconfigjson Secrets
      targetCredentials: {name: backup-push, namespace: irc-system}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from irc.api.conditions import condition_schema
from irc.api.crd import Kind
from irc.api.secrets import SecretRef

PHASES = ("Pending", "Copying", "Completed", "Failed")

_SECRET_REF = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
    },
}
_IMAGE = {"type": "string", "minLength": 1, "maxLength": 512}

IMAGE_BACKUP = Kind(
    kind="ImageBackup",
    plural="imagebackups",
    scope="Cluster",
    short_names=("ib",),
    spec={
        "type": "object",
        "required": ["source"],
        "properties": {
            "source": {**_IMAGE, "description": "The image to back up: a tag or digest reference."},
            "target": {
                **_IMAGE,
                "description": "Where to copy it. Derived from the manager's backup "
                "registry and naming mode when empty.",
            },
            "platforms": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9.]+)?$"},
                "x-kubernetes-list-type": "set",
                "description": "Copy only these platforms (os/arch[/variant]). All when empty: the index "
                "then keeps its digest.",
            },
            "sourceCredentials": {
                "type": "array",
                "items": _SECRET_REF,
                "description": "kubernetes.io/dockerconfigjson Secrets for the source.",
            },
            "targetCredentials": {
                **_SECRET_REF,
                "description": "A dockerconfigjson Secret for the backup registry.",
            },
            "resyncInterval": {
                "type": "string",
                "pattern": r"^([0-9]+(\.[0-9]+)?(s|m|h))+$",
                "description": "Re-check the source this often and copy again when a "
                "mutable tag moved (e.g. 24h). Never when empty.",
            },
        },
    },
    status={
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": list(PHASES)},
            "conditions": condition_schema(),
            "observedGeneration": {"type": "integer", "format": "int64"},
            "source": {"type": "string", "description": "The normalised source reference."},
            "target": {"type": "string", "description": "The target reference used."},
            "sourceDigest": {"type": "string"},
            "targetDigest": {"type": "string"},
            "mediaType": {"type": "string"},
            "platforms": {"type": "array", "items": {"type": "string"}},
            "bytesTotal": {"type": "integer", "format": "int64"},
            "bytesCopied": {"type": "integer", "format": "int64"},
            "layers": {"type": "integer", "description": "Distinct blobs (configs and layers)."},
            "layersCopied": {"type": "integer"},
            "startedAt": {"type": "string", "format": "date-time"},
            "completedAt": {"type": "string", "format": "date-time"},
            "attempts": {"type": "integer"},
            "claim": {
                "type": "object",
                "description": "Which manager is copying: set by the Copying write, renewed while it "
                "copies, removed when it ends. Another manager takes it over only once it has seen "
                "it unchanged for the copy lease (1 minute).",
                "required": ["holder", "renewedAt"],
                "properties": {
                    "holder": {"type": "string", "description": "The manager's identity."},
                    "renewedAt": {"type": "string", "format": "date-time"},
                },
            },
            "lastReferencedAt": {
                "type": "string",
                "format": "date-time",
                "description": "When a workload last used this image (retention).",
            },
        },
    },
    printer_columns=(
        {"name": "Source", "type": "string", "jsonPath": ".spec.source"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Copied", "type": "integer", "jsonPath": ".status.bytesCopied", "priority": 1},
        {"name": "Total", "type": "integer", "jsonPath": ".status.bytesTotal", "priority": 1},
        {"name": "Digest", "type": "string", "jsonPath": ".status.sourceDigest", "priority": 1},
        {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason'},
    ),
)


@dataclass(frozen=True)
class ImageBackupSpec:
    source: str
    target: str | None
    platforms: frozenset[str]
    source_credentials: tuple[SecretRef, ...]
    target_credentials: SecretRef | None
    resync_interval: str | None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ImageBackupSpec:
        spec = obj.get("spec") or {}
        target_creds = spec.get("targetCredentials")
        return cls(
            source=str(spec.get("source", "")),
            target=spec.get("target") or None,
            platforms=frozenset(spec.get("platforms") or ()),
            source_credentials=tuple(SecretRef.from_spec(r) for r in spec.get("sourceCredentials") or []),
            target_credentials=SecretRef.from_spec(target_creds) if target_creds else None,
            resync_interval=spec.get("resyncInterval") or None,
        )
