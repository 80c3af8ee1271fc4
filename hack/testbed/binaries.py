"""Where hack/build-binaries.sh puts the Go-built binaries (the same version-stamped paths)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HACK = Path(__file__).resolve().parent.parent


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("IRC_CACHE", Path.home() / ".cache" / "irc"))


def bench_clientgo() -> Path:
    """hack/bench/clientgo, client-go's informers timed (built by hack/build-binaries.sh; it may be
    missing where only the tests were set up)."""
    return cache_dir() / f"bench-clientgo-{versions()['K8S_VERSION']}" / "clientgo"


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwok_stages: tuple[Path, ...]
    go_oracle: Path
    """hack/go-oracle: Masterminds/semver, path.Match, regexp, distribution/reference and
    fluxcd/pkg/version answering JSON-line queries
    (e2e/test_semver_oracle.py, e2e/test_go_oracle_*.py)."""

    @classmethod
    def locate(cls) -> Binaries:
        """The built binaries; FileNotFoundError naming the build script if any is missing."""
        v, cache = versions(), cache_dir()
        k8s, etcd, kwok, oracle = (
            cache / f"k8s-{v['K8S_VERSION']}",
            cache / f"etcd-{v['ETCD_VERSION']}",
            cache / f"kwok-{v['KWOK_VERSION']}",
            cache / f"go-oracle-{v['MASTERMINDS_SEMVER_VERSION']}",
        )
        found = cls(
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
            etcd=etcd / "etcd",
            kwok=kwok / "kwok",
            kwok_stages=tuple(sorted((kwok / "stages").glob("*.yaml"))),
            go_oracle=oracle / "go-oracle",
        )
        missing = [
            str(p)
            for p in (
                found.kube_apiserver,
                found.kube_controller_manager,
                found.kube_scheduler,
                found.kubectl,
                found.etcd,
                found.kwok,
                found.go_oracle,
            )
            if not p.exists()
        ]
        if missing or not found.kwok_stages:
            raise FileNotFoundError(
                f"missing: {', '.join(missing) or 'kwok stages'}; run hack/build-binaries.sh"
            )
        return found
