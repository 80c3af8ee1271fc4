"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK with fake Nodes, so Deployments, DaemonSets and StatefulSets become Ready
on their own. Nothing runs in the fake Pods and their IPs are never contacted.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hack.testbed import procs
from hack.testbed.binaries import HACK, Binaries
from hack.testbed.pki import CA, rsa_key

NODE_COUNT = 2


@dataclass
class Cluster:
    """A started control plane. `kubeconfig` grants cluster-admin (system:masters)."""

    dir: Path
    kubeconfig: Path
    server: str
    etcd_url: str
    processes: list[procs.Process] = field(default_factory=list)
    _specs: dict[str, tuple[list[str], Path, Callable[[], bool], float]] = field(
        default_factory=dict, repr=False
    )

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """Run the matching kubectl against this cluster and return its stdout."""
        return procs.run(
            [str(Binaries.locate().kubectl), f"--kubeconfig={self.kubeconfig}", *args], input=input
        )

    def wait_for_crds(self) -> None:
        """Wait until irc's CustomResourceDefinitions are Established (after `make install`, say)."""
        selector = "app.kubernetes.io/part-of=irc"
        self.kubectl("wait", "--for=condition=Established", "crd", "-l", selector, "--timeout=60s")

    def install_crds(self) -> None:
        """Apply irc's CustomResourceDefinitions (manifests/crds) and wait until they are Established."""
        self.kubectl("apply", "--server-side", "-k", str(HACK.parent / "manifests" / "crds"))
        self.wait_for_crds()

    def launch(
        self, name: str, argv: list[str], logdir: Path, ready: Callable[[], bool], timeout: float = 60.0
    ) -> None:
        """Start a component and remember how, so `restart` can start it again the same way."""
        self._specs[name] = (argv, logdir, ready, timeout)
        self.processes.append(procs.start(name, argv, logdir, ready, timeout=timeout))

    def restart(self, name: str) -> None:
        """Stop one component (e.g. kube-apiserver) and start it again with the same flags and port."""
        self.stop_component(name)
        self.start_component(name)

    def stop_component(self, name: str, *, kill: bool = False) -> None:
        """Stop one component (SIGKILL at once with `kill`), for an outage that lasts until
        `start_component(name)`. Blocks until it has stopped: from async code call it through
        `asyncio.to_thread`, so the loop sees the outage."""
        self.processes[self._index(name)].stop(kill=kill)

    def start_component(self, name: str) -> None:
        """Start a component stopped by `stop_component` again, with the same flags and port; blocks
        until it is ready."""
        index = self._index(name)
        if self.processes[index].alive():
            raise RuntimeError(f"{name} is running")
        argv, logdir, ready, timeout = self._specs[name]
        self.processes[index] = procs.start(name, argv, logdir, ready, timeout=timeout)

    def _index(self, name: str) -> int:
        return next(i for i, p in enumerate(self.processes) if p.name == name)

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision; returns that revision. A watch from an older
        resourceVersion that the apiserver's watch cache cannot serve then ends in 410 Gone."""
        revision = int(
            _etcd_call(self.etcd_url, "range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"]
        )
        _etcd_call(self.etcd_url, "compaction", {"revision": str(revision), "physical": True})
        return revision

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}


def _etcd_call(etcd_url: str, method: str, body: dict[str, object]) -> dict[str, Any]:
    """etcd's JSON gateway (/v3/kv/...)."""
    request = urllib.request.Request(
        f"{etcd_url}/v3/kv/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        result: dict[str, Any] = json.load(resp)
        return result


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    # JSON is YAML: kubectl, client-go and kubernetes-asyncio all read it.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "irc-testbed", "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}
        ],
        "contexts": [{"name": "irc-testbed", "context": {"cluster": "irc-testbed", "user": user}}],
        "current-context": "irc-testbed",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _node_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }


def start(directory: Path, *, workloads: bool = True) -> Cluster:
    """Start every component under `directory` (certificates, data, logs) and wait until Nodes are Ready.

    `workloads=False` starts etcd and kube-apiserver only: no controllers turn Deployments into
    ReplicaSets and Pods, no Nodes exist, and objects stay exactly as written (benchmarks use this).
    """
    bins = Binaries.locate()
    directory.mkdir(parents=True, exist_ok=True)
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    pki = directory / "pki"
    ca = CA(pki, "irc-testbed-kubernetes-ca")
    serving = ca.issue(
        "apiserver",
        "kube-apiserver",
        hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc"),
    )
    admin = ca.issue("admin", "irc-admin", organizations=("system:masters",), client=True)
    sa_key = rsa_key(pki / "sa.key")

    ports = {n: procs.free_port() for n in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok")}
    server = f"https://127.0.0.1:{ports['apiserver']}"
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    kubeconfig = directory / "kubeconfig"
    _write_kubeconfig(kubeconfig, server, ca.cert_path, admin.cert, admin.key, "irc-admin")
    cluster = Cluster(directory, kubeconfig, server, etcd_url)

    try:
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        cluster.launch(
            "etcd",
            [
                str(bins.etcd),
                "--name=irc",
                f"--data-dir={directory / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=irc={peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
            logs,
            procs.http_ok(f"{etcd_url}/health"),
        )

        tls = ssl.create_default_context(cafile=str(ca.cert_path))
        tls.load_cert_chain(str(admin.cert), str(admin.key))
        cluster.launch(
            "kube-apiserver",
            [
                str(bins.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}",
                # A loopback advertise address needs the endpoint reconciler off (1.37 refuses to start).
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert_path}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                f"--cert-dir={pki}",
                # On SIGTERM, end open watches (as a rolling apiserver does) instead of waiting for
                # their clients: without it the HTTP server's shutdown outlasts our 10 s grace and
                # every restart or stop ends in SIGKILL.
                "--shutdown-watch-termination-grace-period=2s",
            ],
            logs,
            procs.http_ok(f"{server}/readyz", tls),
            timeout=120,
        )

        if not workloads:
            return cluster

        component_auth = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            # client-go's 20 requests/s (burst 30) made 1,000 Deployments Ready in four minutes (several
            # writes each); the benchmarks and tests want the rollouts, not the throttle.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ]
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # their serving certs are self-signed; only liveness is checked
        cluster.launch(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                *component_auth,
                f"--secure-port={ports['kcm']}",
                f"--root-ca-file={ca.cert_path}",
                f"--service-account-private-key-file={sa_key}",
                f"--cert-dir={directory / 'kcm'}",
            ],
            logs,
            procs.http_ok(f"https://127.0.0.1:{ports['kcm']}/healthz", insecure),
            timeout=120,
        )
        cluster.launch(
            "kube-scheduler",
            [
                str(bins.kube_scheduler),
                *component_auth,
                f"--secure-port={ports['scheduler']}",
                f"--cert-dir={directory / 'scheduler'}",
            ],
            logs,
            procs.http_ok(f"https://127.0.0.1:{ports['scheduler']}/healthz", insecure),
            timeout=120,
        )

        cluster.launch(
            "kwok",
            [
                str(bins.kwok),
                f"--kubeconfig={kubeconfig}",
                "--manage-all-nodes=true",
                "--node-lease-duration-seconds=40",
                # Fake addresses reported in Node and Pod status; nothing ever connects to them.
                "--cidr=10.0.0.1/24",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                *(f"--config={s}" for s in bins.kwok_stages),
            ],
            logs,
            procs.http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz"),
            timeout=60,
        )

        nodes = [_node_manifest(f"kwok-node-{i}") for i in range(NODE_COUNT)]
        cluster.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})
        )
        cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
        # Pods are only admitted once the ServiceAccount controller has made the default account.
        cluster.kubectl("wait", "--for=create", "serviceaccount/default", "-n", "default", "--timeout=120s")
    except BaseException:
        cluster.stop()
        raise
    return cluster
