"""The shipped RBAC, in cluster: `irc manager` run as a pod of manifests/overlays/all would run it.
Its args and settings come from the rendered Deployment and ConfigMap; it finds the API server
through `KUBERNETES_SERVICE_HOST/PORT` and authenticates with the shipped ServiceAccount's token (the
TokenRequest API) and the cluster's CA, mounted at the standard service-account path in a private
mount namespace (`unshare --mount`); it is bound to the shipped ClusterRole and Role only. Every
controller's flow (e2e/flows.py) must then run with no request refused (its metrics, served over
HTTPS as shipped, read with a token of the shipped irc-metrics-reader role), and with one rule taken
out of the ClusterRole the flow that needs it fails naming the refused request."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.flows import FLOWS, Run, manager_flags
from e2e.support import MANIFESTS, dockerconfig_secret, manager_args, render_overlay
from hack.testbed import cluster, ecr, images, procs, registries
from irc.api.secrets import SecretRef
from irc.cli import build_parser, build_settings
from irc.reconcilers import imagebackup
from irc.runtime import errors
from irc.runtime.client import Client

NAMESPACE = "irc-system"  # the shipped ServiceAccount's
SCRAPER = "scraper"  # a ServiceAccount bound to the shipped irc-metrics-reader
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# In a private mount namespace: a fresh /run (so nothing is created on the host; /var/run is a link to
# it), the service-account directory bind-mounted where a pod has it, then the manager.
MOUNT = (
    f'mount -t tmpfs tmpfs /run && mkdir -p {SERVICE_ACCOUNT} && mount --bind "$0" {SERVICE_ACCOUNT}'
    ' && exec "$@"'
)
IRC = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "irc"


@contextlib.contextmanager
def shipped_rbac(kube: cluster.Cluster, drop: tuple[str, str] | None = None) -> Iterator[None]:
    """The all-controllers overlay's RBAC in its namespace; `drop` = (resource, verb) takes that verb
    out of the ClusterRole's rules."""
    documents = [
        d for d in yaml.safe_load_all((MANIFESTS / "overlays" / "all" / "rbac.yaml").read_text()) if d
    ]
    if drop is not None:
        documents = [_without(d, *drop) if d["kind"] == "ClusterRole" else d for d in documents]
    # The shipped metrics reader, bound to a ServiceAccount that scrapes the manager's secure metrics.
    documents += [
        d for d in yaml.safe_load_all((MANIFESTS / "base" / "metrics-reader.yaml").read_text()) if d
    ]
    documents.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "e2e-irc-scraper"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "irc-metrics-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": SCRAPER, "namespace": NAMESPACE}],
        }
    )
    text = yaml.safe_dump_all(documents)
    kube.kubectl("create", "namespace", NAMESPACE)
    try:
        kube.kubectl("create", "serviceaccount", SCRAPER, "-n", NAMESPACE)
        kube.kubectl("apply", "-f", "-", input=text)
        yield
    finally:
        kube.kubectl("delete", "--ignore-not-found", "-f", "-", input=text)
        kube.kubectl("delete", "namespace", NAMESPACE)  # waits until it is gone


def _without(role: dict[str, Any], resource: str, verb: str) -> dict[str, Any]:
    """The role less `verb` on `resource` alone (a rule naming other resources keeps them as they were)."""
    role = copy.deepcopy(role)
    rules = []
    for rule in role["rules"]:
        if resource not in rule.get("resources", []):
            rules.append(rule)
            continue
        others = [r for r in rule["resources"] if r != resource]
        if others:
            rules.append({**rule, "resources": others})
        if verbs := [v for v in rule["verbs"] if v != verb]:
            rules.append({**rule, "resources": [resource], "verbs": verbs})
    role["rules"] = rules
    return role


def pod_view(kube: cluster.Cluster, directory: Path) -> tuple[Path, dict[str, str]]:
    """The service-account directory a pod of the shipped ServiceAccount gets (token, ca.crt,
    namespace) and the environment that points it at the API server."""
    directory.mkdir()
    token = kube.kubectl("create", "token", "irc", "-n", NAMESPACE, "--duration=1h").strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    ca = base64.b64decode(admin["clusters"][0]["cluster"]["certificate-authority-data"])
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(ca)
    (directory / "namespace").write_text(NAMESPACE)
    host, _, port = kube.server.removeprefix("https://").rpartition(":")
    env = {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "POD_NAMESPACE": NAMESPACE,  # the shipped Deployment's fieldRef
        "KUBECONFIG": "",  # nothing but the in-cluster configuration to find
        "HOME": str(directory),  # no ~/.kube/config either
    }
    return directory, env


def refused(metrics_port: int, token: str, log: Path) -> str:
    """Empty while the manager had no request refused (its rest_client_requests_total by code, read
    over HTTPS with the scraper's token); else the log's lines that name what was refused."""
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # its self-signed certificate
    request = urllib.request.Request(
        f"https://127.0.0.1:{metrics_port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10, context=insecure) as response:
        text = response.read().decode()
    if not any(
        line.startswith("rest_client_requests_total") and 'code="403"' in line for line in text.splitlines()
    ):
        return ""
    lines = [line for line in log.read_text().splitlines() if "forbidden" in line.lower()]
    return "\n".join(lines) or "requests answered 403 (none logged yet)"


@contextlib.contextmanager
def manager(
    kube: cluster.Cluster,
    tmp_path: Path,
    flags: list[str],
) -> Iterator[tuple[procs.Process, int]]:
    """`irc manager` with the shipped Deployment's args (ConfigMap values from `flags`), then `flags`
    and what a process beside the test bed needs (its ports on 127.0.0.1, a Git work directory)."""
    directory, env = pod_view(kube, tmp_path / "serviceaccount")
    given = dict(f.removeprefix("--").split("=", 1) for f in flags)
    args = manager_args(
        render_overlay(kube, "all"),
        {"backup-registry": given["backup-registry"], "aws-endpoint-url": given["aws-endpoint-url"]},
    )
    configured = {f.split("=", 1)[0] for f in args}
    metrics, health = procs.free_port(), procs.free_port()
    argv = [
        *args,
        *(f for f in flags if f.split("=", 1)[0] not in configured),
        f"--metrics-bind-address=127.0.0.1:{metrics}",
        f"--health-probe-bind-address=127.0.0.1:{health}",
        f"--git-work-dir={tmp_path / 'git'}",
    ]
    process = procs.start(
        "manager",
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            MOUNT,
            str(directory),
            str(IRC),
            *argv,
        ],
        tmp_path,
        procs.http_ok(f"http://127.0.0.1:{health}/readyz"),
        env=env,
    )
    try:
        yield process, metrics
    finally:
        process.stop()


async def run_flows(
    kube: cluster.Cluster,
    client: Client,
    namespace: str,
    flows: list[str],
    bed: registries.Registries,
    ecr_server: ecr.ECR,
    source_images: dict[str, images.Built],
    ecr_images: dict[str, dict[str, str]],
    tmp_path: Path,
) -> str:
    """Run `flows` against an in-cluster manager; the manager's log."""
    backup = bed["backup-basic"]
    assert backup.username is not None and backup.password is not None
    push = dockerconfig_secret("backup-push", namespace, backup.host, backup.username, backup.password)
    await client.create(push)
    flags = manager_flags(bed, ecr_server, SecretRef("backup-push", namespace))
    settings = build_settings(build_parser().parse_args(["manager", *flags]))
    scraper = kube.kubectl("create", "token", SCRAPER, "-n", NAMESPACE, "--duration=1h").strip()
    with manager(kube, tmp_path, flags) as (process, metrics):
        run = Run(
            client,
            namespace,
            flows,
            lambda: refused(metrics, scraper, process.log),
            bed,
            source_images,
            ecr_images,
            settings,
        )

        async def leading() -> bool | None:
            with contextlib.suppress(errors.NotFound):  # not created yet
                lease = await client.get("coordination.k8s.io/v1", "Lease", "irc-manager", NAMESPACE)
                return True if lease["spec"].get("holderIdentity") else None
            return None

        await run.until(leading, "the manager holds its Lease in its own namespace")
        for name in flows:
            await FLOWS[name](run)
        assert not refused(metrics, scraper, process.log)
    return process.log.read_text()


async def test_the_shipped_rbac_runs_every_controller_in_cluster(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    registry_bed: registries.Registries,
    ecr_server: ecr.ECR,
    source_images: dict[str, images.Built],
    ecr_images: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    with shipped_rbac(kube):
        log = await run_flows(
            kube,
            client,
            namespace,
            list(FLOWS),
            registry_bed,
            ecr_server,
            source_images,
            ecr_images,
            tmp_path,
        )
    assert "forbidden" not in log.lower()
    # The log a person follows: one JSON line per action, with the object and the outcome ...
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    actions = {
        (line["object"].split("/")[0], line["reason"]) for line in lines if line["logger"] == "irc.events"
    }
    assert {
        ("ImageBackup", "Copied"),
        ("ImageResourcePolicy", "Detected"),
        ("Deployment", "ImagesRewritten"),
        ("ImageDetected", "AlreadyDeployed"),
    } <= actions, actions
    assert any(line["event"].startswith("scanned ") for line in lines if line["logger"].endswith("detection"))
    # ... and no secret: the backup registry's password, the policy's AWS secret key (e2e/flows.py).
    password = registry_bed["backup-basic"].password
    assert password and password not in log and "s3cr3t" not in log


async def test_a_permission_taken_out_of_the_shipped_role_fails_naming_the_refused_request(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    registry_bed: registries.Registries,
    ecr_server: ecr.ECR,
    source_images: dict[str, images.Built],
    ecr_images: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    """image-backup writes progress through imagebackups/status: without patch on it, its flow stops at
    the first status write, and the failure quotes the API server's Forbidden."""
    with shipped_rbac(kube, drop=("imagebackups/status", "patch")), pytest.raises(AssertionError) as failed:
        await run_flows(
            kube,
            client,
            namespace,
            [imagebackup.NAME],
            registry_bed,
            ecr_server,
            source_images,
            ecr_images,
            tmp_path,
        )
    message = str(failed.value)
    assert "requests refused" in message and "imagebackups/status" in message, message
    assert "forbidden" in message.lower()
