"""Secrets stay secret: canary values planted in every credential path irc reads (registry passwords
for pulling and pushing, the ECR keys and session token, a Git password, token, SSH key passphrase) go
through a manager running every controller at debug level, and no output holds any of them: its log,
the objects' status, Events, metrics, and the commits of a template that writes with the test bed's
real Git password. The test bed's own real credentials (the registries' and the Git
servers' passwords, token and key passphrase) are searched for too, where a flow used them.

Every canary is wrong where a server checks it, so each flow also goes down its failure path (the
error messages are where a credential would leak), and each object must reach the failure it should,
so the test knows the path was taken.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from e2e.flows import REGISTRY, aws_secret, manager_flags
from e2e.support import dockerconfig_secret, eventually
from hack.testbed import cluster, ecr, git, images, procs, registries
from irc.api import API_VERSION
from irc.api.conditions import get_condition
from irc.api.secrets import SecretRef
from irc.runtime.client import Client, Obj

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
TAG = uuid.uuid4().hex[:10]
CANARIES = {
    "registry push password": f"canary-push-{TAG}",
    "registry pull password": f"canary-pull-{TAG}",
    "ECR access key id": f"CANARYAKID{TAG}",
    "ECR secret access key": f"canary-ecr-secret-{TAG}",
    "ECR session token": f"canary-ecr-session-{TAG}",
    "Git password": f"canary-git-password-{TAG}",
    "Git token": f"canary-git-token-{TAG}",
    "SSH key passphrase": f"canary-ssh-passphrase-{TAG}",
}
REAL = {  # the test bed's: used where a flow succeeds
    "registry password": registries.PASSWORD,
    "Git password": git.HTTP_PASSWORD,
    "Git token": git.HTTP_TOKEN,
    "SSH key passphrase": git.KEY_PASSPHRASE,
}


def forms(secret: str) -> list[str]:
    """The value and the encodings it could leak in: base64 (a Secret's data, a Basic header)."""
    return [secret, base64.b64encode(secret.encode()).decode()]


def git_secret(name: str, namespace: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": data,
    }


def template(name: str, namespace: str, url: str, secret: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .ImageName }}'}\n",
            "gitRepository": {"url": url, "secretRef": {"name": secret}},
        },
    }


def policy(name: str, namespace: str, template_name: str, repository: str, *, suspend: bool) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageResourcePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ecrRepository": {"region": ecr.REGION, "repositoryPattern": repository},
            "policy": {"semver": {"range": ">=1.0.0"}},
            "templateRef": {"name": template_name},
            "aws": {"secretRef": {"name": "aws"}},
            "suspend": suspend,
        },
    }


def detected(name: str, namespace: str, policy_name: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageDetected",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "imageName": name,
            "imageTag": "1.0.0",
            "fullImageName": f"{REGISTRY}/team-c/{name}:1.0.0",
            "sourcePolicy": {"name": policy_name, "namespace": namespace},
        },
    }


async def reason_of(client: Client, kind: str, name: str, namespace: str | None) -> str | None:
    obj = await client.get(API_VERSION, kind, name, namespace)
    condition = get_condition(obj.get("status") or {}, "Ready") or {}
    reason = condition.get("reason")
    return reason if condition.get("status") == "False" and reason != "Copying" else None


async def test_no_output_holds_a_credential(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    ecr_server: ecr.ECR,
    ecr_images: dict[str, dict[str, str]],
    git_servers: git.GitServers,
    tmp_path: Path,
) -> None:
    ns, c = namespace, CANARIES
    basic, token = registry_bed["backup-basic"], registry_bed["backup-token"]
    # Registry: push to the backup registry (basic auth) with a wrong password; pull from the token
    # registry (through its token server, on another port) with a wrong one.
    await client.create(dockerconfig_secret("push", ns, basic.host, "irc", c["registry push password"]))
    await client.create(dockerconfig_secret("pull", ns, token.host, "irc", c["registry pull password"]))
    # ECR: moto takes any keys, so the scan succeeds with the canaries.
    await client.create(
        aws_secret(
            ns,
            accessKeyId=c["ECR access key id"],
            secretAccessKey=c["ECR secret access key"],
            sessionToken=c["ECR session token"],
        )
    )
    # Git: a wrong password, a wrong token, and the encrypted key with a wrong passphrase.
    for repo in ("by-password", "by-token", "by-ssh"):
        git_servers.create_repo(f"{repo}-{TAG}")
    # And one that succeeds, with the test bed's real password: its commits are searched too.
    rendered_repo = git_servers.create_repo(f"by-real-{TAG}")
    known_hosts = git_servers.known_hosts.read_text()
    await client.create(git_secret("git-password", ns, username="irc", password=c["Git password"]))
    await client.create(git_secret("git-token", ns, token=c["Git token"]))
    await client.create(git_secret("git-real", ns, username=git.HTTP_USER, password=git.HTTP_PASSWORD))
    await client.create(
        git_secret(
            "git-ssh",
            ns,
            **{
                "ssh-privatekey": git_servers.ssh_key_encrypted.read_text(),
                "ssh-passphrase": c["SSH key passphrase"],
                "known_hosts": known_hosts,
            },
        )
    )
    http = git_servers.http_url
    await client.create(template("by-password", ns, f"{http}/by-password-{TAG}.git", "git-password"))
    await client.create(template("by-token", ns, f"{http}/by-token-{TAG}.git", "git-token"))
    await client.create(template("by-ssh", ns, git_servers.ssh_url(f"by-ssh-{TAG}"), "git-ssh"))
    await client.create(template("by-real", ns, f"{http}/by-real-{TAG}.git", "git-real"))
    # The scanned policy writes through the token template; the others are suspended and given an
    # ImageDetected each by hand.
    await client.create(policy("scanned", ns, "by-token", "team-a/api", suspend=False))
    for name in ("by-password", "by-ssh", "by-real"):
        await client.create(policy(name, ns, name, "team-c/*", suspend=True))
        await client.create(detected(name, ns, name))

    metrics, health = procs.free_port(), procs.free_port()
    log_path = tmp_path / "manager.log"
    flags = manager_flags(registry_bed, ecr_server, SecretRef("push", ns))
    with log_path.open("w") as log:
        manager = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            [
                sys.executable,
                "-m",
                "irc",
                "manager",
                f"--kubeconfig={kube.kubeconfig}",
                "--controllers=*",
                f"--metrics-bind-address=127.0.0.1:{metrics}",
                f"--health-probe-bind-address=127.0.0.1:{health}",
                "--log-format=json",
                "--log-level=debug",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    backups = {
        f"push-{TAG}": (source_images["testbed/oci-single:1.0.0"].reference(registry_bed["source"]), None),
        f"pull-{TAG}": (f"{token.host}/private/app:1.0.0", [{"name": "pull", "namespace": ns}]),
    }
    try:
        for name, (source, credentials) in backups.items():
            spec: Obj = {"source": source}
            if credentials:
                spec["sourceCredentials"] = credentials
            await client.create(
                {"apiVersion": API_VERSION, "kind": "ImageBackup", "metadata": {"name": name}, "spec": spec}
            )
        expected = {
            ("ImageBackup", f"push-{TAG}", None): {"TargetUnauthorized"},
            ("ImageBackup", f"pull-{TAG}", None): {"SourceUnauthorized"},
            ("ImageDetected", "by-password", ns): {"GitAuthFailed"},
            ("ImageDetected", "by-ssh", ns): {"GitCredentialsInvalid", "GitAuthFailed"},
        }
        for (kind, name, where), reasons in expected.items():
            found = await eventually(
                lambda k=kind, n=name, w=where: reason_of(client, k, n, w),  # type: ignore[misc]
                within=180,
                what=f"{kind} {name} fails",
            )
            assert found in reasons, f"{kind} {name}: {found}, not one of {reasons}"

        async def scanned_and_failed() -> list[Obj] | None:
            made = (await client.list(API_VERSION, "ImageDetected", ns)).items
            mine = [d for d in made if d["spec"].get("sourcePolicy", {}).get("name") == "scanned"]
            failed = [d for d in mine if (get_condition(d.get("status") or {}, "Ready") or {}).get("reason")]
            return mine if mine and len(failed) == len(mine) else None

        async def committed() -> bool | None:
            obj = await client.get(API_VERSION, "ImageDetected", "by-real", ns)
            return (
                True
                if (get_condition(obj.get("status") or {}, "Ready") or {}).get("status") == "True"
                else None
            )

        await eventually(committed, within=180, what="ImageDetected by-real committed")
        by_token = await eventually(scanned_and_failed, within=180, what="the scan's ImageDetected fail")
        made = {(get_condition(d["status"], "Ready") or {}).get("reason") for d in by_token}
        assert made == {"GitAuthFailed"}, made

        outputs = {
            "the manager's log": log_path.read_text(),
            "metrics": await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics}/metrics"),
            "objects": json.dumps(
                [
                    (await client.list(API_VERSION, kind, None if kind == "ImageBackup" else ns)).items
                    for kind in ("ImageBackup", "ImageDetected", "ImageResourcePolicy", "ResourceTemplate")
                ]
            ),
            # Every commit of the repository irc wrote to: messages, authors, files rendered.
            "the rendered manifests in Git": procs.run(
                ["git", "-C", str(rendered_repo), "log", "--all", "--format=fuller", "-p"]
            ),
            "Events": json.dumps(
                [(await client.list("v1", "Event", where)).items for where in (ns, "default")]
            ),
        }
    finally:
        manager.terminate()
        await asyncio.to_thread(manager.wait, 30)
        for name in backups:
            await client.delete(API_VERSION, "ImageBackup", name)
    logged = outputs["the manager's log"]
    assert "GitAuthFailed" in logged and '"level": "debug"' in logged  # failures logged, at debug level
    assert "+kind: ConfigMap" in outputs["the rendered manifests in Git"]  # a manifest was committed
    leaks = [
        f"{what} ({label}) in {where}"
        for label, secret in [*CANARIES.items(), *REAL.items()]
        for what in forms(secret)
        for where, text in outputs.items()
        if what in text
    ]
    assert leaks == [], leaks


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
        return text
