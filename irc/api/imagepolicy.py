"""The kinds of ECR image detection (shared/seeds/image-resource-controller.md, same group and
version, so the seed's manifests apply unchanged):

- ImageResourcePolicy: which ECR repositories to scan, how to pick tags, which ResourceTemplate
  renders what is found;
- ImageDetected: one detected image (created by the detection controller, processed by creation);
- ResourceTemplate: the manifests to render for a detected image and the Git repository to commit
  them to.

The reconcilers come with their issue; the schemas (with CEL rules for the cross-field
constraints) are here so that policies can reference templates and the manifests validate now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irc.api.conditions import condition_schema
from irc.api.crd import Kind
from irc.api.secrets import SecretRef

MANAGED_BY = ("app.kubernetes.io/managed-by", "irc")
"""The label on every ImageDetected the detection controller creates; only those are garbage-collected."""
POLICY_LABEL = "automation.gitops.io/policy"
"""The policy that detected an ImageDetected (set when the name fits a label value)."""
PREFIX_LABEL = "automation.gitops.io/tag-prefix"
REPOSITORY_ANNOTATION = "automation.gitops.io/repository"
REQUESTED_AT = "automation.gitops.io/reconcile-requested-at"
"""Set (to any new value, conventionally a timestamp) on a policy to scan it now."""

_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"}


def _ref(namespace: str = "Defaults to the object's own.") -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "namespace": {"type": "string", "maxLength": 63, "description": namespace},
        },
    }


_REF = _ref()
_AWS_SECRET_REF = _ref("The policy's own (the default): Secrets of other namespaces are refused.")
_ORDER = {
    "type": "object",
    "properties": {"order": {"type": "string", "enum": ["asc", "desc"], "default": "asc"}},
}


def aws_secret_ref(policy: Mapping[str, Any]) -> SecretRef | None:
    """The policy's spec.aws.secretRef, None without one. ValueError for a
    Secret in another namespace: whoever may write a policy must not borrow another namespace's AWS
    identity (nor learn which Secrets exist there), so, as Flux's secretRefs, it is local only."""
    ref = ((policy.get("spec") or {}).get("aws") or {}).get("secretRef") or {}
    if not ref.get("name"):
        return None
    own = policy["metadata"]["namespace"]
    if (ref.get("namespace") or own) != own:
        raise ValueError(
            f"spec.aws.secretRef: Secret {ref['namespace']}/{ref['name']} is in another namespace; "
            f"a policy may only use Secrets of its own ({own})"
        )
    return SecretRef(ref["name"], own)


def _status(**extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "conditions": condition_schema(),
            "observedGeneration": {"type": "integer", "format": "int64"},
            **extra,
        },
    }


IMAGE_RESOURCE_POLICY = Kind(
    kind="ImageResourcePolicy",
    plural="imageresourcepolicies",
    scope="Namespaced",
    short_names=("irp",),
    spec={
        "type": "object",
        "required": ["ecrRepository", "policy", "templateRef"],
        "properties": {
            "ecrRepository": {
                "type": "object",
                "required": ["region"],
                "properties": {
                    "region": {"type": "string", "minLength": 1},
                    "registryId": {
                        "type": "string",
                        "pattern": r"^[0-9]{12}$",
                        "description": "The AWS account of the registry. Defaults to the caller's.",
                    },
                    "repositoryPattern": {
                        "type": "string",
                        "minLength": 1,
                        "description": "A glob over repository names, e.g. webapp/*.",
                    },
                    "imageNamePattern": {
                        "type": "string",
                        "minLength": 1,
                        "description": "A glob over the last path segment.",
                    },
                    "imagePattern": {
                        "type": "string",
                        "minLength": 1,
                        "description": "A glob over repo:tag, e.g. webapp/*:v1.*.",
                    },
                    "exclude": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Globs of repositories to leave out.",
                    },
                    "maxRepositories": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                    "maxConcurrentScans": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "description": "Repositories described at a time; defaults to the manager's "
                        "--ecr-concurrency.",
                    },
                    "scanTimeout": {**_DURATION, "default": "5m"},
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "[has(self.repositoryPattern), has(self.imageNamePattern), "
                        "has(self.imagePattern)].filter(x, x).size() == 1",
                        "message": "exactly one of repositoryPattern, imageNamePattern and imagePattern",
                    }
                ],
            },
            "policy": {
                "type": "object",
                "properties": {
                    "perRepository": {"type": "boolean", "default": False},
                    "semver": {
                        "type": "object",
                        "required": ["range"],
                        "properties": {"range": {"type": "string", "minLength": 1}},
                    },
                    "alphabetical": _ORDER,
                    "numerical": _ORDER,
                    "pattern": {
                        "type": "object",
                        "required": ["regex"],
                        "properties": {
                            "regex": {"type": "string", "minLength": 1},
                            "extractPrefix": {"type": "boolean", "default": False},
                        },
                    },
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "[has(self.semver), has(self.alphabetical), has(self.numerical)]"
                        ".filter(x, x).size() <= 1",
                        "message": "at most one of semver, alphabetical and numerical",
                    },
                    {
                        "rule": "has(self.semver) || has(self.alphabetical) || has(self.numerical) "
                        "|| has(self.pattern)",
                        "message": "one of semver, alphabetical, numerical or pattern is required",
                    },
                ],
            },
            "filterTags": {
                "type": "object",
                "required": ["pattern"],
                "properties": {"pattern": {"type": "string", "minLength": 1}, "extract": {"type": "string"}},
            },
            "templateRef": _REF,
            "aws": {
                "type": "object",
                "properties": {
                    "roleArn": {  # empty means none: the seed takes any string, and templates render ""
                        "type": "string",
                        "pattern": r"^(arn:aws[a-z-]*:iam::[0-9]{12}:role/.+)?$",
                    },
                    "secretRef": _AWS_SECRET_REF,
                },
            },
            "ttlDays": {
                "type": "integer",
                "minimum": 0,
                "maximum": 365,
                "default": 7,
                "description": "Delete ImageDetected objects this many days after detection; 0 keeps them.",
            },
            "interval": {**_DURATION, "default": "5m"},
            "suspend": {"type": "boolean", "default": False},
        },
    },
    status=_status(
        lastScanTime={"type": "string", "format": "date-time"},
        lastScanDuration={"type": "string"},
        repositoriesMatched={"type": "integer", "description": "Repositories the patterns matched."},
        repositoriesScanned={"type": "integer", "description": "At most maxRepositories of them."},
        imagesScanned={"type": "integer"},
        imagesDetected={"type": "integer", "description": "Selections of the last scan."},
        apiCalls={"type": "integer", "description": "ECR requests of the last scan, retries included."},
        latestImages={
            "type": "array",
            "description": "What the last scan selected: one entry per repository (perRepository) "
            "or one in all, per tag prefix.",
            "items": {
                "type": "object",
                "properties": {
                    "repository": {"type": "string"},
                    "tag": {"type": "string"},
                    "digest": {"type": "string"},
                    "tagPrefix": {"type": "string"},
                    "pushedAt": {"type": "string", "format": "date-time"},
                    "imageDetected": {"type": "string", "description": "The ImageDetected object's name."},
                },
            },
        },
        lastHandledReconcileAt={
            "type": "string",
            "description": "The last automation.gitops.io/reconcile-requested-at value acted on.",
        },
    ),
    printer_columns=(
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Last Scan", "type": "date", "jsonPath": ".status.lastScanTime"},
        {"name": "Detected", "type": "integer", "jsonPath": ".status.imagesDetected"},
        {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
    ),
)

IMAGE_DETECTED = Kind(
    kind="ImageDetected",
    plural="imagedetecteds",
    scope="Namespaced",
    short_names=("imd",),
    spec={
        "type": "object",
        "required": ["imageName", "imageTag", "fullImageName"],
        "properties": {
            "imageName": {"type": "string", "minLength": 1},
            "imageTag": {"type": "string", "minLength": 1},
            "imageDigest": {"type": "string"},
            "fullImageName": {"type": "string", "minLength": 1},
            "tagPrefix": {"type": "string"},
            "sourcePolicy": _REF,
            "detectedAt": {"type": "string", "format": "date-time"},
            "pushedAt": {"type": "string", "format": "date-time"},
        },
    },
    status=_status(
        phase={"type": "string", "enum": ["Pending", "Processing", "Completed", "Skipped", "Failed"]},
        resourceCreated={"type": "boolean"},
        gitCommitSHA={"type": "string"},
        processedAt={"type": "string", "format": "date-time"},
        message={"type": "string"},
    ),
    printer_columns=(
        {"name": "Image", "type": "string", "jsonPath": ".spec.fullImageName"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Commit", "type": "string", "jsonPath": ".status.gitCommitSHA", "priority": 1},
    ),
)

RESOURCE_TEMPLATE = Kind(
    kind="ResourceTemplate",
    plural="resourcetemplates",
    scope="Namespaced",
    short_names=("rt",),
    spec={
        "type": "object",
        "required": ["gitRepository"],
        "properties": {
            "template": {"type": "string", "minLength": 1},
            "multiFiles": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "template"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "relativePath": {
                            "type": "string",
                            "description": "Where the file goes under gitRepository.path (a template); "
                            "ending in / or empty: that directory, with `name` as the file name.",
                        },
                        "template": {"type": "string", "minLength": 1},
                    },
                },
            },
            "variables": {"type": "object", "additionalProperties": {"type": "string"}},
            "engine": {
                "type": "string",
                "enum": ["auto", "go", "jinja"],
                "default": "auto",
                "description": "Template language: Go text/template + sprig, Jinja2, or auto (Go unless the "
                "template uses Jinja syntax; see docs/creation.md).",
            },
            "filePath": {
                "type": "string",
                "description": "The file a single `template` is written to under gitRepository.path (a "
                "template). Defaults to {{ .ImageName }}.yaml, or {{ .ImageName }}-{{ .TagPrefix }}.yaml "
                "with a tag prefix, as the seed names it.",
            },
            "gitRepository": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "minLength": 1},
                    "branch": {"type": "string", "default": "main"},
                    "path": {"type": "string", "default": "./"},
                    "secretRef": _REF,
                    "pushBranch": {
                        "type": "string",
                        "description": "Commit to this branch instead (a template, e.g. irc/{{ .ImageName }}-"
                        "{{ .ImageTag }}), created from `branch`: for review flows. Defaults to `branch`.",
                    },
                    "author": {
                        "type": "object",
                        "required": ["name", "email"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "email": {"type": "string"},
                        },
                        "description": "The commits' author. Defaults to irc <irc@localhost>.",
                    },
                    "commitMessage": {
                        "type": "string",
                        "description": "The commit message (a template). Defaults to "
                        "feat: Add Kubernetes resources for {{ .ImageName }}:{{ .ImageTag }}.",
                    },
                    "caSecretRef": {
                        **_REF,
                        "description": "A Secret whose ca.crt verifies an HTTPS server (besides a ca.crt in "
                        "secretRef's Secret).",
                    },
                },
            },
            "validation": {"type": "object", "properties": {"dryRun": {"type": "boolean", "default": True}}},
        },
        "x-kubernetes-validations": [
            {
                # Both may be given, as the seed allows: multiFiles is then used, template ignored.
                "rule": "has(self.template) || has(self.multiFiles)",
                "message": "one of template and multiFiles is required",
            }
        ],
    },
    status=_status(),
    printer_columns=(
        {"name": "Repository", "type": "string", "jsonPath": ".spec.gitRepository.url"},
        {"name": "Branch", "type": "string", "jsonPath": ".spec.gitRepository.branch"},
    ),
)
