"""The generated CRDs in a real apiserver: they install, validate, and serve the status subresource."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hack.testbed import cluster
from irc.api import API_VERSION
from irc.runtime import errors
from irc.runtime.client import Client, Obj


@pytest.fixture(autouse=True)
def _crds(crds: None) -> None:
    """Every test here needs the CRDs."""


def backup(name: str, **spec: object) -> Obj:
    return {"apiVersion": API_VERSION, "kind": "ImageBackup", "metadata": {"name": name}, "spec": spec}


async def test_image_backup_roundtrip_with_status(client: Client, kube: cluster.Cluster) -> None:
    created = await client.create(
        backup("nginx-e2e", source="docker.io/library/nginx:1.25", platforms=["linux/amd64", "linux/arm64"])
    )
    assert "namespace" not in created["metadata"]  # cluster-scoped
    created["status"] = {
        "phase": "Copying",
        "bytesTotal": 100,
        "bytesCopied": 40,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Copying",
                "message": "40 of 100 bytes",
                "lastTransitionTime": "2026-11-22T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    updated = await client.update_status(created)
    assert updated["status"]["bytesCopied"] == 40
    table = await asyncio.to_thread(kube.kubectl, "get", "imagebackups", "nginx-e2e", "-o", "wide")
    assert "docker.io/library/nginx:1.25" in table and "Copying" in table and "40" in table
    # The main resource ignores status and the status subresource ignores spec.
    updated["spec"]["source"] = "changed:1"
    updated["status"]["phase"] = "Completed"
    again = await client.update_status(updated)
    assert (
        again["spec"]["source"] == "docker.io/library/nginx:1.25" and again["status"]["phase"] == "Completed"
    )
    await client.delete(API_VERSION, "ImageBackup", "nginx-e2e")


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({}, "spec.source: Required value"),
        ({"source": ""}, "spec.source"),
        ({"source": "nginx:1", "platforms": ["Linux/AMD64"]}, "spec.platforms[0]"),
        ({"source": "nginx:1", "targetCredentials": {"name": "x"}}, "spec.targetCredentials.namespace"),
        ({"source": "nginx:1", "resyncInterval": "daily"}, "spec.resyncInterval"),
    ],
)
async def test_invalid_image_backups_are_rejected(
    client: Client, spec: dict[str, object], complaint: str
) -> None:
    with pytest.raises(errors.Invalid) as e:
        await client.create(backup("invalid", **spec))
    assert complaint in e.value.message


async def test_short_name_and_category_list_image_backups(client: Client, kube: cluster.Cluster) -> None:
    await client.create(backup("listed-e2e", source="ghcr.io/org/app@sha256:" + "a" * 64))
    for resource in ("ib", "irc"):
        out = await asyncio.to_thread(kube.kubectl, "get", resource, "-o", "name")
        assert "imagebackup.automation.gitops.io/listed-e2e" in out.split()
    await client.delete(API_VERSION, "ImageBackup", "listed-e2e")


SAMPLES = Path(__file__).resolve().parent.parent / "manifests" / "samples" / "seed-examples.yaml"


async def test_the_seeds_manifests_apply_unchanged(kube: cluster.Cluster) -> None:
    """image-resource-controller's own examples, with kubectl's strict (unknown-field) validation."""
    out = await asyncio.to_thread(kube.kubectl, "apply", "--validate=strict", "-f", str(SAMPLES))
    try:
        assert len(out.splitlines()) == 5, out
        policies = await asyncio.to_thread(kube.kubectl, "get", "irp", "-n", "default", "-o", "name")
        assert {
            f"imageresourcepolicy.automation.gitops.io/{n}"
            for n in ("webapp-policy", "nginx-policy", "environment-aware-policy")
        } <= set(policies.split())
        detected = await asyncio.to_thread(kube.kubectl, "get", "imd", "-n", "default", "-o", "wide")
        assert "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3" in detected
    finally:
        await asyncio.to_thread(kube.kubectl, "delete", "-f", str(SAMPLES), "--wait=false")


SEED_REPOSITORY_FIELDS = """\
apiVersion: automation.gitops.io/v1beta1
kind: ImageResourcePolicy
metadata: {name: seed-repo-fields, namespace: default}
spec:
  ecrRepository: {region: us-east-1, repositoryPattern: "team-a/*", maxRepositories: 50,
                  maxConcurrentScans: 10, scanTimeout: 5m}
  policy: {perRepository: false, semver: {range: ">=1.0.0"}}
  templateRef: {name: seed-repo-fields, namespace: default}
  aws: {roleArn: ""}
  suspend: false
  ttlDays: 7
---
apiVersion: automation.gitops.io/v1beta1
kind: ResourceTemplate
metadata: {name: seed-repo-fields, namespace: default}
spec:
  template: "ignored when multiFiles is set"
  multiFiles:
  - {name: deployment, relativePath: "{{ .TagPrefix }}/deploy.yaml", template: "kind: Deployment"}
  gitRepository: {url: "https://git.example/m.git", branch: main, path: ./, secretRef: {name: git}}
  validation: {}
"""


async def test_fields_of_the_seeds_own_crds_apply(
    kube: cluster.Cluster, client: Client, tmp_path: Path
) -> None:
    """Fields the seed's repository declares beyond its README (maxConcurrentScans, an empty
    roleArn, template beside multiFiles), under strict validation; dryRun defaults to true there."""
    manifest = tmp_path / "seed-repo.yaml"
    manifest.write_text(SEED_REPOSITORY_FIELDS)
    await asyncio.to_thread(kube.kubectl, "apply", "--validate=strict", "-f", str(manifest))
    try:
        template = await client.get(API_VERSION, "ResourceTemplate", "seed-repo-fields", "default")
        assert template["spec"]["validation"] == {"dryRun": True}
        irp = await client.get(API_VERSION, "ImageResourcePolicy", "seed-repo-fields", "default")
        assert irp["spec"]["ecrRepository"]["maxConcurrentScans"] == 10
    finally:
        await asyncio.to_thread(kube.kubectl, "delete", "-f", str(manifest), "--wait=false")


def policy(name: str, ecr: dict[str, object], selection: dict[str, object]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageResourcePolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "ecrRepository": {"region": "us-east-1", **ecr},
            "policy": selection,
            "templateRef": {"name": "t"},
        },
    }


@pytest.mark.parametrize(
    ("obj", "complaint"),
    [
        (
            policy(
                "two-selections",
                {"repositoryPattern": "a/*"},
                {"semver": {"range": ">=1"}, "alphabetical": {"order": "asc"}},
            ),
            "at most one of semver, alphabetical and numerical",
        ),
        (
            policy("no-selection", {"repositoryPattern": "a/*"}, {"perRepository": True}),
            "one of semver, alphabetical, numerical or pattern is required",
        ),
        (
            policy(
                "two-patterns",
                {"repositoryPattern": "a/*", "imagePattern": "a/*:v1"},
                {"semver": {"range": "*"}},
            ),
            "exactly one of repositoryPattern, imageNamePattern and imagePattern",
        ),
        (
            {
                "apiVersion": API_VERSION,
                "kind": "ResourceTemplate",
                "metadata": {"name": "neither", "namespace": "default"},
                "spec": {"gitRepository": {"url": "https://git.example/x.git"}},
            },
            "one of template and multiFiles is required",
        ),
    ],
)
async def test_cross_field_rules(client: Client, obj: Obj, complaint: str) -> None:
    with pytest.raises(errors.Invalid) as e:
        await client.create(obj)
    assert complaint in e.value.message
