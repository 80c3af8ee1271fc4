"""The creation controller against the test bed: managers running in this process (leader election
off) against a real kube-apiserver with KWOK, committing to bare repositories of the test bed's Git
servers over SSH (OpenSSH's sshd) and HTTP(S) (git http-backend), with credentials from Secrets in
the seed's keys. ImageDetected objects are created directly, with the policy and the template they
reference, as the detection controller would create them. The bare repositories are read with the
git CLI: what is on a branch, its history, and its reflog (every update of the branch, so a force
push or a lost commit would show)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import itertools
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from e2e.support import eventually, running
from hack.testbed import cluster, git
from irc.api import API_VERSION
from irc.api.conditions import get_condition
from irc.reconcilers import creation
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions, errors
from irc.runtime.client import Client, Obj

pytestmark = pytest.mark.e2e

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
DONE = ("Completed", "Skipped", "Failed")
SKIP_REASONS = ("AlreadyDeployed", "PrefixDeployed")
# The seed's ResourceTemplate (shared/seeds/image-resource-controller.md), unchanged.
SEED_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .ServiceName }}
  namespace: {{ .Namespace | default "default" }}
  labels:
    app: {{ .ServiceName }}
    version: {{ .ImageTag }}
spec:
  replicas: 3
  selector:
    matchLabels:
      app: {{ .ServiceName }}
  template:
    metadata:
      labels:
        app: {{ .ServiceName }}
        version: {{ .ImageTag }}
    spec:
      containers:
      - name: {{ .ServiceName }}
        image: {{ .FullImageName }}
        ports:
        - containerPort: 8080
        env:
        - name: IMAGE_TAG
          value: "{{ .ImageTag }}"
        - name: IMAGE_DIGEST
          value: "{{ .ImageDigest }}"
"""
# What it renders for webapp/frontend:v1.2.3, written out by hand (Namespace is the ECR namespace).
SEED_RENDERED = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: webapp
  labels:
    app: frontend
    version: v1.2.3
spec:
  replicas: 3
  selector:
    matchLabels:
      app: frontend
  template:
    metadata:
      labels:
        app: frontend
        version: v1.2.3
    spec:
      containers:
      - name: frontend
        image: {REGISTRY}/webapp/frontend:v1.2.3
        ports:
        - containerPort: 8080
        env:
        - name: IMAGE_TAG
          value: "v1.2.3"
        - name: IMAGE_DIGEST
          value: "{DIGEST}"
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .K8sCompatibleName }}
data:
  image: {{ .FullImageName }}
"""


# ---- the bare repositories, read by git itself


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def head(repo: Path, branch: str = git.DEFAULT_BRANCH) -> str:
    return _git(repo, "rev-parse", f"refs/heads/{branch}")


def files(repo: Path, branch: str = git.DEFAULT_BRANCH) -> dict[str, bytes]:
    """Every file on `branch`."""
    names = _git(repo, "ls-tree", "-r", "--name-only", branch).splitlines()
    return {
        name: subprocess.run(
            ["git", "-C", str(repo), "show", f"{branch}:{name}"], capture_output=True, check=True
        ).stdout
        for name in names
    }


def reflog(repo: Path, branch: str = git.DEFAULT_BRANCH) -> list[str]:
    """The branch's updates since the repository was made, newest first."""
    out = _git(repo, "reflog", "show", "--format=%H", f"refs/heads/{branch}")
    return out.splitlines()


def history(repo: Path, branch: str = git.DEFAULT_BRANCH) -> list[list[str]]:
    """`[commit, *parents]` for every commit on `branch`, newest first."""
    return [line.split() for line in _git(repo, "rev-list", "--parents", branch).splitlines()]


def assert_never_forced(repo: Path, branch: str = git.DEFAULT_BRANCH) -> None:
    """Linear history (no merge), and every update of the branch a fast-forward of the one before:
    each earlier head is an ancestor of the final one."""
    assert all(len(c) <= 2 for c in history(repo, branch)), history(repo, branch)
    updates = reflog(repo, branch)
    for newer, older in itertools.pairwise(updates):
        assert _git(repo, "rev-parse", f"{newer}^") == older, (newer, older)
    for earlier in updates:
        subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", earlier, branch], check=True)


def holds(repo: Path, commit: str, path: str, branch: str = git.DEFAULT_BRANCH) -> bool:
    """Whether `commit` has the file `path` and is on `branch`."""
    has = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}:{path}"], check=False)
    on = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, branch], check=False)
    return has.returncode == 0 and on.returncode == 0


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; its public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text()


@pytest.fixture
def bare(git_servers: git.GitServers) -> Path:
    """A fresh repository (one empty commit on main) that logs every ref update in its reflog."""
    path = git_servers.create_repo(f"creation-{uuid.uuid4().hex[:8]}")
    _git(path, "config", "core.logAllRefUpdates", "always")
    return path


# ---- the objects


def b64(data: Mapping[str, bytes | str]) -> dict[str, str]:
    return {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for k, v in data.items()}


def secret(namespace: str, name: str, **data: bytes | str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": b64(data),
    }


def policy(namespace: str, name: str, template: str, *, prefix: bool = False) -> Obj:
    rule: dict[str, Any] = (
        {"pattern": {"regex": "^(dev|staging|prod)-", "extractPrefix": True}}
        if prefix
        else {"semver": {"range": ">=1.0.0"}}
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageResourcePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ecrRepository": {"region": "us-east-1", "repositoryPattern": "webapp/*"},
            "policy": rule,
            "templateRef": {"name": template},
        },
    }


def template(
    namespace: str,
    name: str,
    url: str,
    *,
    secret_name: str | None = "git",
    branch: str = "main",
    text: str = SEED_TEMPLATE,
    git_extra: Mapping[str, Any] | None = None,
    **spec: Any,
) -> Obj:
    repository: dict[str, Any] = {"url": url, "branch": branch, "path": "./applications", **(git_extra or {})}
    if secret_name is not None:
        repository["secretRef"] = {"name": secret_name}
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": text,
            "gitRepository": repository,
            "variables": {"namespace": "production", "environment": "prod"},
            **spec,
        },
    }


def detected(
    namespace: str,
    name: str,
    repository: str = "webapp/frontend",
    tag: str = "v1.2.3",
    *,
    source: str = "policy",
    prefix: str | None = None,
) -> Obj:
    spec: dict[str, Any] = {
        "imageName": repository.replace("/", "-"),
        "imageTag": tag,
        "imageDigest": DIGEST,
        "fullImageName": f"{REGISTRY}/{repository}:{tag}",
        "sourcePolicy": {"name": source, "namespace": namespace},
    }
    if prefix is not None:
        spec["tagPrefix"] = prefix
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageDetected",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def deployment(namespace: str, name: str, image: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def statefulset_with_init(namespace: str, name: str, image: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": [{"name": "migrate", "image": image}],
                    "containers": [{"name": "app", "image": "registry.invalid/other:1"}],
                },
            },
        },
    }


def http_token(namespace: str, name: str = "git") -> Obj:
    return secret(namespace, name, token=git.HTTP_TOKEN)


# ---- managers and waiting


@contextlib.asynccontextmanager
async def manager(
    kube: cluster.Cluster, namespace: str, work: Path, **settings: Any
) -> AsyncIterator[Manager]:
    """A manager running the creation controller over `namespace`, its clones under `work`."""
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            namespaces=(namespace,), metrics_bind_address="0", health_probe_bind_address="0"
        ),
    )
    creation.setup(mgr, Settings(git_work_dir=str(work), **settings))
    try:
        async with running(mgr.start()):
            yield mgr
    finally:
        await mgr.client.close()
        # A Git write the shutdown cancelled must leave no unretrieved exception (gitops.writer's
        # _blocking retrieves it): asyncio would log it at this collection, inside the test.
        gc.collect()


def sample(mgr: Manager, name: str, **labels: str) -> float:
    return mgr.metrics.registry.get_sample_value(name, labels) or 0.0


def ready(obj: Obj) -> Mapping[str, Any]:
    condition = get_condition(obj.get("status") or {}, "Ready")
    assert condition is not None, obj
    return condition


async def settled(
    client: Client, namespace: str, name: str, phases: tuple[str, ...] = DONE, within: float = 120
) -> Obj:
    """The ImageDetected once its status is for its generation and its phase one of `phases`."""

    async def check() -> Obj | None:
        obj = await client.get(API_VERSION, "ImageDetected", name, namespace)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        return obj if status.get("phase") in phases else None

    return await eventually(check, within=within, what=f"ImageDetected {name} {'/'.join(phases)}")


async def event_reasons(client: Client, namespace: str, name: str) -> dict[str, Obj]:
    return {
        e["reason"]: e
        for e in (await client.list("v1", "Event", namespace)).items
        if e["involvedObject"]["name"] == name
    }


async def create_all(client: Client, *objects: Obj) -> None:
    for obj in objects:
        await client.create(obj)


# ---- the commit lands


def _ssh(
    servers: git.GitServers, *, passphrase: bool = False, known_hosts: bool = True, key: Path | None = None
) -> dict[str, bytes]:
    """A Secret's data for the SSH server: the client key (or `key`), and its known_hosts."""
    key = key or (servers.ssh_key_encrypted if passphrase else servers.ssh_key)
    data = {"ssh-privatekey": key.read_bytes()}
    if passphrase:
        data["ssh-passphrase"] = git.KEY_PASSPHRASE.encode()
    if known_hosts:
        data["known_hosts"] = servers.known_hosts.read_bytes()
    return data


TRANSPORTS = ["ssh", "ssh-passphrase", "ssh-no-host-key-check", "http-basic", "http-token", "https-ca"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_commit_lands_with_exactly_the_rendered_content(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
    transport: str,
) -> None:
    """The seed's template, rendered for one image, lands as the one file under `path` on `branch`
    (not the default branch), with the seed's commit message, in one commit on top of the branch."""
    ns, servers = namespace, git_servers
    _git(bare, "-c", "core.logAllRefUpdates=false", "branch", "gitops", "main")  # not in the reflog
    main, base = head(bare), head(bare, "gitops")
    settings: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    objects: list[Obj] = []
    if transport.startswith("ssh"):
        url = servers.ssh_url(bare.name.removesuffix(".git"))
        data = _ssh(
            servers,
            passphrase=transport == "ssh-passphrase",
            known_hosts=transport != "ssh-no-host-key-check",
        )
        settings["git_insecure_skip_host_key_check"] = transport == "ssh-no-host-key-check"
    elif transport == "http-basic":
        url = f"{servers.http_url}/{bare.name}"
        data = {"username": git.HTTP_USER.encode(), "password": git.HTTP_PASSWORD.encode()}
    elif transport == "http-token":
        url, data = f"{servers.http_url}/{bare.name}", {"token": git.HTTP_TOKEN.encode()}
    else:  # the CA from its own Secret (caSecretRef), and the author and message fields
        url, data = f"{servers.https_url}/{bare.name}", {"token": git.HTTP_TOKEN.encode()}
        objects.append(secret(ns, "git-ca", **{"ca.crt": servers.ca_cert.read_bytes()}))
        extra = {
            "caSecretRef": {"name": "git-ca"},
            "author": {"name": "Release Bot", "email": "release@example.invalid"},
            "commitMessage": "deploy {{ .ServiceName }} {{ .ImageTag }}",
        }
    objects += [
        secret(ns, "git", **data),
        template(ns, "webapp-template", url, branch="gitops", git_extra=extra),
        policy(ns, "policy", "webapp-template"),
    ]
    await create_all(client, *objects)
    async with manager(kube, ns, tmp_path / "work", **settings):
        await client.create(detected(ns, "frontend-v1-2-3"))
        done = await settled(client, ns, "frontend-v1-2-3")

    status = done["status"]
    assert status["phase"] == "Completed", status
    commit = head(bare, "gitops")
    assert (status["resourceCreated"], status["gitCommitSHA"]) == (True, commit)
    assert status["processedAt"] and status["message"].startswith(f"committed {commit[:12]} to "), status
    assert (ready(done)["status"], ready(done)["reason"]) == ("True", "Committed")
    assert files(bare, "gitops") == {"applications/webapp-frontend.yaml": SEED_RENDERED.encode()}
    assert head(bare) == main, "the default branch is not touched"
    assert history(bare, "gitops")[0] == [commit, base] and reflog(bare, "gitops") == [commit]
    author, subject = _git(bare, "log", "-1", "--format=%an <%ae>%n%s", "gitops").split("\n")
    if transport == "https-ca":
        assert (author, subject) == ("Release Bot <release@example.invalid>", "deploy frontend v1.2.3")
    else:
        assert author == "irc <irc@localhost>"
        assert subject == "feat: Add Kubernetes resources for webapp-frontend:v1.2.3"
    assert "Committed" in await event_reasons(client, ns, "frontend-v1-2-3")


# The seed's template in Jinja syntax: the same output.
JINJA_TEMPLATE = SEED_TEMPLATE.replace("{{ .", "{{ ").replace('| default "default"', '| default("default")')


async def test_a_jinja_template_commits_with_the_default_message(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    ns = namespace
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}", text=JINJA_TEMPLATE, engine="jinja"),
        policy(ns, "policy", "t"),
    )
    async with manager(kube, ns, tmp_path / "work"):
        await client.create(detected(ns, "frontend"))
        done = await settled(client, ns, "frontend")
    assert (done["status"]["phase"], ready(done)["reason"]) == ("Completed", "Committed"), done["status"]
    assert files(bare) == {"applications/webapp-frontend.yaml": SEED_RENDERED.encode()}


async def test_a_push_branch_per_image_for_review(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """pushBranch (a template): the commit goes to a branch of its own made from `branch`, which
    does not move; the status names the push branch."""
    ns, main = namespace, head(bare)
    await create_all(
        client,
        http_token(ns),
        template(
            ns,
            "t",
            f"{git_servers.http_url}/{bare.name}",
            git_extra={"pushBranch": "irc/{{ .ImageName }}-{{ .ImageTag }}"},
        ),
        policy(ns, "policy", "t"),
    )
    async with manager(kube, ns, tmp_path / "work"):
        await client.create(detected(ns, "frontend"))
        done = await settled(client, ns, "frontend")
    branch = "irc/webapp-frontend-v1.2.3"
    assert (done["status"]["phase"], done["status"]["gitCommitSHA"]) == ("Completed", head(bare, branch))
    assert f" {branch}: " in done["status"]["message"], done["status"]
    assert head(bare) == main and reflog(bare) == []
    assert history(bare, branch)[0] == [head(bare, branch), main]
    assert files(bare, branch) == {"applications/webapp-frontend.yaml": SEED_RENDERED.encode()}


# ---- two managers, 50 images, one branch


async def test_two_managers_commit_50_images_and_lose_none(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """50 ImageDetected objects for one Git repository, created before two managers (their own work
    directories) start at once: every file lands with its content, each object's commit holds its
    file, the history is linear and every earlier head is an ancestor of the final one (nothing
    forced), and batching makes fewer commits than objects."""
    ns, count = namespace, 50
    initial = head(bare)
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}", text=CONFIGMAP),
        policy(ns, "policy", "t"),
        *(detected(ns, f"svc-{i:02}", f"team/svc-{i:02}", "1.0.0") for i in range(count)),
    )
    async with contextlib.AsyncExitStack() as stack:
        managers = await asyncio.gather(
            *(stack.enter_async_context(manager(kube, ns, tmp_path / f"work-{m}")) for m in "ab")
        )

        async def all_done() -> list[Obj] | None:
            items = (await client.list(API_VERSION, "ImageDetected", ns)).items
            phases = [(o.get("status") or {}).get("phase") for o in items]
            return items if len(items) == count and all(p in DONE for p in phases) else None

        objects = await eventually(all_done, within=300, what=f"{count} ImageDetected processed")
        commits_metric = sum(sample(m, "irc_git_commits_total") for m in managers)
        retries = sum(sample(m, "irc_git_push_retries_total") for m in managers)

    assert {o["status"]["phase"] for o in objects} == {"Completed"}, [o["status"] for o in objects]
    expected = {
        f"applications/team-svc-{i:02}.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            f"  name: team-svc-{i:02}\ndata:\n  image: {REGISTRY}/team/svc-{i:02}:1.0.0\n"
        ).encode()
        for i in range(count)
    }
    assert files(bare) == expected
    for obj in objects:  # each object's commit is on main and holds its file
        sha, name = obj["status"]["gitCommitSHA"], obj["spec"]["imageName"]
        assert holds(bare, sha, f"applications/{name}.yaml"), obj["status"]
    assert_never_forced(bare)
    commits = history(bare)
    assert commits[-1] == [initial] and len(commits) - 1 == len(reflog(bare))
    assert len(commits) - 1 < count, f"{len(commits) - 1} commits for {count} images: no batching"
    print(
        f"\n{count} images, 2 managers over HTTP: {len(commits) - 1} commits, {retries:.0f} push retries "
        f"(irc_git_commits_total says {commits_metric:.0f})"
    )


async def test_the_commit_counter_counts_commits(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    ns, count = namespace, 10
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}", text=CONFIGMAP),
        policy(ns, "policy", "t"),
        *(detected(ns, f"svc-{i:02}", f"team/svc-{i:02}", "1.0.0") for i in range(count)),
    )
    async with manager(kube, ns, tmp_path / "work") as mgr:
        for i in range(count):
            await settled(client, ns, f"svc-{i:02}")
        counted = sample(mgr, "irc_git_commits_total")
    pushed = len(reflog(bare))
    assert pushed < count, "the objects were batched"
    assert counted == pushed, f"irc_git_commits_total {counted:.0f}, commits pushed {pushed}"


# ---- failures: a reason each, nothing pushed


async def test_each_failure_has_its_reason_and_pushes_nothing(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """One template per failure, all writing to one repository with working credentials unless the
    credentials are the failure: each ImageDetected ends Failed with its reason (a Warning Event
    too), no message shows a secret, and the repository never moves."""
    ns, servers = namespace, git_servers
    kind, key = keygen(tmp_path / "impostor").split()[:2]
    unauthorised = tmp_path / "unauthorised"
    keygen(unauthorised)
    http, ssh = f"{servers.http_url}/{bare.name}", servers.ssh_url(bare.name.removesuffix(".git"))
    initial, port = head(bare), servers.ssh_port
    cases: dict[str, tuple[str, Obj, Obj | None]] = {
        "bad-template": (
            "TemplateSyntax",
            template(ns, "bad-template", http, text="apiVersion: v1\n{{ if }}\n"),
            http_token(ns, "bad-template"),
        ),
        "unknown-variable": (
            "UnknownVariable",
            template(
                ns,
                "unknown-variable",
                http,
                engine="jinja",
                text="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ ServiceNmae }}\n",
            ),
            http_token(ns, "unknown-variable"),
        ),
        "path-traversal": (
            "PathEscapesRepository",
            template(ns, "path-traversal", http, filePath="../x"),
            http_token(ns, "path-traversal"),
        ),
        "no-known-hosts": (
            "KnownHostsMissing",
            template(ns, "no-known-hosts", ssh),
            secret(ns, "no-known-hosts", **_ssh(servers, known_hosts=False)),
        ),
        "wrong-host-key": (
            "GitHostKeyMismatch",
            template(ns, "wrong-host-key", ssh),
            secret(
                ns,
                "wrong-host-key",
                **_ssh(servers, known_hosts=False),
                known_hosts=f"[127.0.0.1]:{port} {kind} {key}\n",
            ),
        ),
        "wrong-password": (
            "GitAuthFailed",
            template(ns, "wrong-password", http),
            secret(ns, "wrong-password", username=git.HTTP_USER, password="wrong-password-123"),
        ),
        "wrong-token": (
            "GitAuthFailed",
            template(ns, "wrong-token", http),
            secret(ns, "wrong-token", token="wrong-token-0123456789"),
        ),
        "unauthorised-key": (
            "GitAuthFailed",
            template(ns, "unauthorised-key", ssh),
            secret(ns, "unauthorised-key", **_ssh(servers, key=unauthorised)),
        ),
    }
    for name, (_, tmpl, credentials) in cases.items():
        tmpl["spec"]["gitRepository"]["secretRef"] = {"name": name}
        await create_all(client, tmpl, *([credentials] if credentials else []), policy(ns, name, name))
    async with manager(kube, ns, tmp_path / "work"):
        for name in cases:
            await client.create(detected(ns, name, source=name))
        found = {name: await settled(client, ns, name) for name in cases}
        reasons = {name: await event_reasons(client, ns, name) for name in cases}

    got = {name: (o["status"]["phase"], ready(o)["reason"]) for name, o in found.items()}
    assert got == {name: ("Failed", reason) for name, (reason, _, _) in cases.items()}
    for name, obj in found.items():
        status, message = obj["status"], obj["status"]["message"]
        assert ready(obj)["status"] == "False" and not status.get("gitCommitSHA"), status
        assert reasons[name][cases[name][0]]["type"] == "Warning", reasons[name]
        for leaked in ("wrong-password-123", "wrong-token-0123456789", git.HTTP_TOKEN, "PRIVATE KEY"):
            assert leaked not in message and leaked not in str(reasons[name]), (name, message)
    assert "line 2" in found["bad-template"]["status"]["message"], found["bad-template"]["status"]
    assert "ServiceNmae" in found["unknown-variable"]["status"]["message"]
    assert "'..'" in found["path-traversal"]["status"]["message"]
    assert "known_hosts" in found["no-known-hosts"]["status"]["message"]
    assert "SHA256:" in found["wrong-host-key"]["status"]["message"]
    assert head(bare) == initial and reflog(bare) == [] and files(bare) == {}


# ---- duplicate detection against real workloads


async def test_prefix_aware_skips_with_real_workloads(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """A Deployment runs webapp/frontend:dev-1.0.0 and a StatefulSet's init container
    webapp/backend:2.0.0. With the policy's prefix rule: dev-1.2.0 is Skipped (PrefixDeployed),
    dev-1.0.0 itself AlreadyDeployed, prod-1.2.0 committed; backend:2.0.0 AlreadyDeployed."""
    ns = namespace
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}"),
        policy(ns, "policy", "t", prefix=True),
        deployment(ns, "frontend-dev", f"{REGISTRY}/webapp/frontend:dev-1.0.0"),
        statefulset_with_init(ns, "backend", f"{REGISTRY}/webapp/backend:2.0.0"),
    )
    async with manager(kube, ns, tmp_path / "work") as mgr:
        cases = {  # name → (object, the reason it ends with)
            "frontend-dev-1-2-0": (detected(ns, "", tag="dev-1.2.0", prefix="dev"), "PrefixDeployed"),
            "frontend-dev-1-0-0": (detected(ns, "", tag="dev-1.0.0", prefix="dev"), "AlreadyDeployed"),
            "frontend-prod-1-2-0": (detected(ns, "", tag="prod-1.2.0", prefix="prod"), "Committed"),
            "backend-2-0-0": (detected(ns, "", "webapp/backend", "2.0.0"), "AlreadyDeployed"),
        }
        for name, (obj, _) in cases.items():
            obj["metadata"]["name"] = name
            await client.create(obj)
        found = {name: await settled(client, ns, name) for name in cases}
        skipped = {r: sample(mgr, "irc_creation_skipped_total", reason=r) for r in SKIP_REASONS}

    assert {name: ready(o)["reason"] for name, o in found.items()} == {n: r for n, (_, r) in cases.items()}
    for name, (_, reason) in cases.items():
        status = found[name]["status"]
        assert status["phase"] == ("Completed" if reason == "Committed" else "Skipped"), status
        assert status["resourceCreated"] is (reason == "Committed")
        assert reason in await event_reasons(client, ns, name)
    assert found["frontend-dev-1-2-0"]["status"]["message"] == (
        f"already running in the cluster: Deployment {ns}/frontend-dev"
    )
    backend = found["backend-2-0-0"]["status"]["message"]
    assert backend == f"already running in the cluster: StatefulSet {ns}/backend"
    assert set(files(bare)) == {"applications/webapp-frontend-prod.yaml"}  # the seed's name with a prefix
    assert len(reflog(bare)) == 1
    assert skipped["AlreadyDeployed"] >= 2 and skipped["PrefixDeployed"] >= 1, skipped


async def test_a_workload_appearing_after_a_failure_skips_the_image(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """The image fails to commit (wrong credentials); a Deployment running it appears: the failed
    ImageDetected is looked at again and Skipped (AlreadyDeployed), and nothing is ever pushed."""
    ns = namespace
    await create_all(
        client,
        secret(ns, "git", token="wrong-token-0123456789"),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}"),
        policy(ns, "policy", "t"),
    )
    async with manager(kube, ns, tmp_path / "work"):
        await client.create(detected(ns, "frontend"))
        failed = await settled(client, ns, "frontend")
        assert (failed["status"]["phase"], ready(failed)["reason"]) == ("Failed", "GitAuthFailed")
        await client.create(deployment(ns, "frontend", f"{REGISTRY}/webapp/frontend:v1.2.3"))
        done = await settled(client, ns, "frontend", ("Skipped",))
    assert ready(done)["reason"] == "AlreadyDeployed" and done["status"]["resourceCreated"] is False
    assert reflog(bare) == []


async def test_a_workload_appearing_skips_an_image_whose_template_is_missing(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """The ImageDetected fails (its policy names a template that does not exist); a Deployment
    running its image appears: it becomes Skipped without the template ever appearing.

    Ordering, not time, tells when to look: once the manager's cache has the Deployment, the
    Deployment's event has queued the failed object (handlers run as the cache is updated); a second
    ImageDetected for the same image, created after that and with a template, is queued behind it;
    once that one is Skipped, the failed one has been reconciled with the Deployment in view."""
    ns = namespace
    await create_all(
        client,
        http_token(ns),
        template(ns, "present", f"{git_servers.http_url}/{bare.name}"),
        policy(ns, "missing", "no-such-template"),
        policy(ns, "present", "present"),
    )
    async with manager(kube, ns, tmp_path / "work") as mgr:
        await client.create(detected(ns, "frontend", source="missing"))
        failed = await settled(client, ns, "frontend")
        assert (failed["status"]["phase"], ready(failed)["reason"]) == ("Failed", "TemplateNotFound")
        await client.create(deployment(ns, "frontend", f"{REGISTRY}/webapp/frontend:v1.2.3"))

        async def cached() -> bool | None:
            return True if mgr.cache.list("apps/v1", "Deployment", ns) else None

        await eventually(cached, what="the manager's cache has the Deployment")
        await client.create(detected(ns, "frontend-again", source="present"))
        sentinel = await settled(client, ns, "frontend-again")
        assert ready(sentinel)["reason"] == "AlreadyDeployed", sentinel["status"]
        now = await client.get(API_VERSION, "ImageDetected", "frontend", ns)
    assert (now["status"]["phase"], ready(now)["reason"]) == ("Skipped", "AlreadyDeployed"), now["status"]
    assert reflog(bare) == []


# ---- restarts and duplicates


async def test_a_restarted_manager_commits_nothing_twice(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """A manager commits an image. A new manager (a new work directory, so a fresh clone) leaves the
    Completed object alone; the object re-created without status (as detection re-creates one, or
    a restore without status) is Completed again as UpToDate with the same commit, and the branch
    never moves again."""
    ns = namespace
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}"),
        policy(ns, "policy", "t"),
        deployment(ns, "backend", f"{REGISTRY}/webapp/backend:2.0.0"),
    )
    async with manager(kube, ns, tmp_path / "work-1"):
        await client.create(detected(ns, "frontend"))
        first = await settled(client, ns, "frontend")
    assert ready(first)["reason"] == "Committed"
    sha = first["status"]["gitCommitSHA"]
    assert head(bare) == sha

    async with manager(kube, ns, tmp_path / "work-2") as mgr:
        # A sync point that commits nothing: an image the Deployment runs, created after the
        # restart, so queued behind the Completed object the new manager listed at start.
        await client.create(detected(ns, "backend", "webapp/backend", "2.0.0"))
        await settled(client, ns, "backend", ("Skipped",))
        untouched = await client.get(API_VERSION, "ImageDetected", "frontend", ns)
        assert untouched["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

        await client.delete(API_VERSION, "ImageDetected", "frontend", ns)

        async def gone() -> bool | None:
            try:
                await client.get(API_VERSION, "ImageDetected", "frontend", ns)
            except errors.NotFound:
                return True
            return None

        await eventually(gone, what="the ImageDetected is deleted")
        await client.create(detected(ns, "frontend"))
        again = await settled(client, ns, "frontend")
        commits = sample(mgr, "irc_git_commits_total")
    assert (again["status"]["phase"], ready(again)["reason"]) == ("Completed", "UpToDate"), again["status"]
    assert again["status"]["gitCommitSHA"] == sha and again["status"]["message"].startswith("already in ")
    assert head(bare) == sha and reflog(bare) == [sha] and commits == 0


async def test_one_image_from_two_policies_is_one_set_of_manifests(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    git_servers: git.GitServers,
    bare: Path,
    tmp_path: Path,
) -> None:
    """Two policies sharing a template detect the same image: two ImageDetected objects, one file,
    one commit; both Completed with that commit."""
    ns = namespace
    await create_all(
        client,
        http_token(ns),
        template(ns, "t", f"{git_servers.http_url}/{bare.name}"),
        policy(ns, "team-a", "t"),
        policy(ns, "team-b", "t"),
    )
    async with manager(kube, ns, tmp_path / "work"):
        await client.create(detected(ns, "frontend-a", source="team-a"))
        await client.create(detected(ns, "frontend-b", source="team-b"))
        found = [await settled(client, ns, name) for name in ("frontend-a", "frontend-b")]
    assert [o["status"]["phase"] for o in found] == ["Completed", "Completed"]
    assert {o["status"]["gitCommitSHA"] for o in found} == {head(bare)}
    assert files(bare) == {"applications/webapp-frontend.yaml": SEED_RENDERED.encode()}
    assert len(reflog(bare)) == 1
