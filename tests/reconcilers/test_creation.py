"""The creation reconciler through reconcile(): ImageDetected → duplicate check → render → commit,
against a local bare repository (tests/gitops' Origin) and the runtime's fakes."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.workloads import slim
from irc.gitops import GitWriter, GitWriterOptions
from irc.gitops.batch import BatchWriter
from irc.reconcilers import creation
from irc.reconcilers.settings import Settings
from irc.runtime import Request, Result
from irc.runtime.errors import ReconcileError
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder
from tests.gitops.conftest import Origin

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
SEED_TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .ServiceName }}
  namespace: {{ .Namespace | default "default" }}
  labels:
    app: {{ .ServiceName }}
    version: {{ .ImageTag }}
spec:
  template:
    spec:
      containers:
      - name: {{ .ServiceName }}
        image: {{ .FullImageName }}
"""


def policy(*, extract: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ecrRepository": {"region": "us-east-1", "repositoryPattern": "webapp/*"},
        "templateRef": {"name": "webapp-template"},
    }
    if extract:
        spec["policy"] = {"pattern": {"regex": r"^(dev|staging|prod)-v\d+\.\d+\.\d+$", "extractPrefix": True}}
    else:
        spec["policy"] = {"semver": {"range": ">=1.0.0"}}
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageResourcePolicy",
        "metadata": {"name": "webapp-policy", "namespace": "default"},
        "spec": spec,
    }


def template(url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceTemplate",
        "metadata": {"name": "webapp-template", "namespace": "default"},
        "spec": {
            "template": SEED_TEMPLATE,
            "gitRepository": {"url": url, "branch": "main", "path": "apps"},
            **spec,
        },
    }


def detected(name: str = "frontend-v1-2-3", tag: str = "v1.2.3", prefix: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "imageName": "webapp-frontend",
        "imageTag": tag,
        "imageDigest": "sha256:" + "ab" * 32,
        "fullImageName": f"{REGISTRY}/webapp/frontend:{tag}",
        "sourcePolicy": {"name": "webapp-policy", "namespace": "default"},
    }
    if prefix is not None:
        spec["tagPrefix"] = prefix
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageDetected",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def deployment(image: str, name: str = "frontend", namespace: str = "web") -> dict[str, Any]:
    return slim(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        }
    )


@dataclass
class Bed:
    """A reconciler over a FakeClient holding the policy, its template (writing to `origin`) and
    `objects`, with its own Git work directory (a fresh one is a restarted manager)."""

    origin: Origin
    work: Path
    objects: list[dict[str, Any]] = field(default_factory=list)
    template_spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = FakeClock()
        objects = [policy(), template(self.origin.url, **self.template_spec), *self.objects]
        self.client = FakeClient(objects, indexes=creation.INDEXES, clock=self.clock)
        self.recorder = FakeRecorder()
        self.registry = CollectorRegistry()
        self.batcher = BatchWriter(GitWriter(self.work, GitWriterOptions(allow_local=True)))
        self.reconciler = creation.CreationReconciler(
            client=self.client,
            reader=self.client.cache,
            recorder=self.recorder,
            clock=self.clock,
            metrics=creation.Metrics.register(self.registry),
            settings=Settings(),
            writer=self.batcher,
        )

    async def reconcile(self, name: str = "frontend-v1-2-3") -> Result | None:
        return await self.reconciler.reconcile(Request("default", name))

    def status(self, name: str = "frontend-v1-2-3") -> dict[str, Any]:
        status: dict[str, Any] = self.client.get_now(API_VERSION, "ImageDetected", name, "default")["status"]
        return status

    def ready(self, name: str = "frontend-v1-2-3") -> dict[str, Any]:
        return next(c for c in self.status(name)["conditions"] if c["type"] == "Ready")

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def bed(tmp_path: Path, *objects: dict[str, Any], origin: Origin | None = None, **template_spec: Any) -> Bed:
    origin = origin or Origin(tmp_path / "origin.git")
    return Bed(origin, tmp_path / f"work-{len(list(tmp_path.iterdir()))}", list(objects), template_spec)


async def test_a_detected_image_is_rendered_and_committed_under_the_path(tmp_path: Path) -> None:
    b = bed(tmp_path, detected())
    assert await b.reconcile() is None
    files = b.origin.files()
    assert files["apps/webapp-frontend.yaml"] == (
        SEED_TEMPLATE.replace("{{ .ServiceName }}", "frontend")
        .replace('{{ .Namespace | default "default" }}', "webapp")
        .replace("{{ .ImageTag }}", "v1.2.3")
        .replace("{{ .FullImageName }}", f"{REGISTRY}/webapp/frontend:v1.2.3")
        .encode()
    )
    status = b.status()
    assert (status["phase"], status["resourceCreated"], status["gitCommitSHA"]) == (
        "Completed",
        True,
        b.origin.head(),
    )
    assert status["processedAt"] == "2023-11-14T22:13:20Z"
    assert b.ready()["reason"] == "Committed"
    head = b.origin.history()[0]
    assert head.message.decode().startswith("feat: Add Kubernetes resources for webapp-frontend:v1.2.3")
    assert b.recorder.reasons() == ["Committed"]


async def test_a_second_reconcile_or_a_restart_commits_nothing_twice(tmp_path: Path) -> None:
    b = bed(tmp_path, detected())
    await b.reconcile()
    head = b.origin.head()
    await b.reconcile()  # Completed for this generation: nothing to do
    assert b.origin.head() == head and len(b.client.writes()) == 1
    restarted = bed(tmp_path, detected(), origin=b.origin)  # a new manager: no status, a fresh clone
    await restarted.reconcile()
    assert restarted.status()["gitCommitSHA"] == head and b.origin.head() == head
    assert restarted.ready()["reason"] == "UpToDate"


async def test_the_same_image_running_in_a_workload_is_skipped(tmp_path: Path) -> None:
    b = bed(tmp_path, detected(), deployment(f"{REGISTRY}/webapp/frontend:v1.2.3"))
    await b.reconcile()
    status = b.status()
    assert (status["phase"], status["resourceCreated"]) == ("Skipped", False)
    assert b.ready()["reason"] == "AlreadyDeployed"
    assert status["message"] == "already running in the cluster: Deployment web/frontend"
    assert b.origin.head() == b.origin.history()[-1].id.decode()  # nothing pushed
    assert b.metric("irc_creation_skipped_total", reason="AlreadyDeployed") == 1


async def test_another_tag_of_the_repository_does_not_skip_without_a_prefix(tmp_path: Path) -> None:
    b = bed(tmp_path, detected(), deployment(f"{REGISTRY}/webapp/frontend:v1.0.0"))
    await b.reconcile()
    assert b.status()["phase"] == "Completed"


@pytest.mark.parametrize(
    ("running", "phase"),
    [("dev-v1.0.0", "Skipped"), ("prod-v1.0.0", "Completed"), ("devel-v1.0.0", "Completed")],
)
async def test_with_a_prefix_a_workload_on_the_same_prefix_skips(
    tmp_path: Path, running: str, phase: str
) -> None:
    b = bed(
        tmp_path,
        detected(tag="dev-v1.2.0", prefix="dev"),
        deployment(f"{REGISTRY}/webapp/frontend:{running}"),
    )
    b.client.objects(API_VERSION, "ImageResourcePolicy")[0]["spec"] = policy(extract=True)["spec"]
    await b.reconcile()
    assert b.status()["phase"] == phase
    if phase == "Skipped":
        assert b.ready()["reason"] == "PrefixDeployed"
        assert "webapp-frontend-dev.yaml" not in str(b.origin.files())
    else:
        assert "apps/webapp-frontend-dev.yaml" in b.origin.files()  # the seed's name with a prefix


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"template": "kind: {{ .Nope.Deeper }}\n"}, None),
        ({"template": "apiVersion: v1\nkind: ConfigMap\n"}, "InvalidOutput"),
        ({"template": "{{ if }}"}, "TemplateSyntax"),
        (
            {
                "template": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ missing }}}\n",
                "engine": "jinja",
            },
            "UnknownVariable",
        ),
        ({"filePath": "../escape.yaml"}, "PathEscapesRepository"),
    ],
)
async def test_a_bad_template_fails_with_its_reason_and_pushes_nothing(
    tmp_path: Path, spec: dict[str, Any], reason: str | None
) -> None:
    b = bed(tmp_path, detected(), **spec)
    head = b.origin.head()
    result = await b.reconcile()
    assert result is None  # terminal: the template's change brings it back
    assert b.status()["phase"] == "Failed"
    if reason is not None:
        assert b.ready()["reason"] == reason
    assert b.recorder.events[-1].type == "Warning"
    assert b.origin.head() == head


async def test_a_missing_template_is_retried_later(tmp_path: Path) -> None:
    b = bed(tmp_path, detected())
    await b.client.delete(API_VERSION, "ResourceTemplate", "webapp-template", "default")
    result = await b.reconcile()
    assert result is not None and result.requeue_after == creation.RETRY_MISSING
    assert b.ready()["reason"] == "TemplateNotFound"


async def test_multi_files_go_where_their_relative_paths_say(tmp_path: Path) -> None:
    files = [
        {"name": "deployment.yaml", "relativePath": "{{ .ServiceName }}/", "template": SEED_TEMPLATE},
        {
            "name": "ignored-name",
            "relativePath": "{{ .ServiceName }}/config-{{ .ImageTag }}.yaml",
            "template": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .ServiceName }}-config\n",
        },
    ]
    b = bed(tmp_path, detected(), multiFiles=files)
    await b.reconcile()
    assert {"apps/frontend/deployment.yaml", "apps/frontend/config-v1.2.3.yaml"} <= set(b.origin.files())


async def test_git_credentials_come_from_the_templates_namespace_only(tmp_path: Path) -> None:
    foreign = {"url": "file:///x.git", "secretRef": {"name": "git", "namespace": "other"}}
    b = bed(tmp_path, detected(), gitRepository=foreign)
    await b.reconcile()
    assert b.ready()["reason"] == "CrossNamespaceSecretRef"
    missing = bed(
        tmp_path,
        detected(),
        origin=b.origin,
        gitRepository={"url": "file:///x.git", "secretRef": {"name": "git"}},
    )
    result = await missing.reconcile()  # the Secret may be created: looked at again later
    assert result is not None and result.requeue_after == creation.RETRY_MISSING
    assert missing.ready()["reason"] == "SecretNotFound"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        (
            {"password": "not base64!"},
            "SecretInvalid",
            "Secret git (spec.gitRepository.secretRef): data is not base64",
        ),
        ({"username": b64("bot"), "password": "/w=="}, "GitCredentialsInvalid", "`password` is not UTF-8"),
        (
            {"ssh-privatekey": b64("x" * (1 << 20))},
            "GitCredentialsInvalid",
            "not a PEM or OpenSSH private key",
        ),
    ],
    ids=["not-base64", "not-utf8", "one-mib-of-garbage"],
)
async def test_a_broken_git_secret_fails_with_its_reason_and_is_looked_at_again(
    tmp_path: Path, data: dict[str, str], reason: str, message: str
) -> None:
    """Secrets are not watched, so a broken one is never terminal: SecretInvalid comes back after
    RETRY_MISSING as SecretNotFound does, a Git error is raised for the queue's backoff. The message
    names the key, never its value."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git", "namespace": "default"},
        "data": data,
    }
    b = bed(
        tmp_path, detected(), secret, gitRepository={"url": "file:///x.git", "secretRef": {"name": "git"}}
    )
    head = b.origin.head()
    if reason == "SecretInvalid":
        result = await b.reconcile()
        assert result is not None and result.requeue_after == creation.RETRY_MISSING
    else:
        with pytest.raises(ReconcileError) as caught:
            await b.reconcile()
        assert (caught.value.reason, caught.value.terminal) == (reason, False)
    assert (b.ready()["reason"], b.status()["phase"]) == (reason, "Failed")
    assert message in b.ready()["message"] and "xxxx" not in b.ready()["message"]
    assert b.origin.head() == head


async def test_many_images_for_one_repository_share_commits(tmp_path: Path) -> None:
    images = [detected(f"frontend-v1-{i}", tag=f"v1.{i}.0") for i in range(8)]
    for image in images:
        image["spec"]["imageName"] = f"webapp-frontend-{image['spec']['imageTag']}"
    b = bed(tmp_path, *images)
    await asyncio.gather(*(b.reconcile(f"frontend-v1-{i}") for i in range(8)))
    assert all(b.status(f"frontend-v1-{i}")["phase"] == "Completed" for i in range(8))
    assert len([p for p in b.origin.files() if p.startswith("apps/")]) == 8
    assert b.batcher.batches < 8 and len(b.origin.history()) == 1 + b.batcher.batches
