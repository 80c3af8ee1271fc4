"""The container image, built and run here: `make docker-build` (hack/image.sh: buildah with chroot
isolation and vfs storage, on a Debian base made from Debian's packages when Docker Hub's cannot be
pulled), then `irc --version` and `irc manager` run from the image (`buildah run`, which shares the
host's network: the manager talks to the test bed's API server on 127.0.0.1) as the image's
non-root user, and the image pushed to the test bed's registry with skopeo and read back."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import irc
from hack.testbed import cluster, procs, registries

REPO = Path(__file__).resolve().parent.parent
IMAGE = "localhost/irc:e2e"
BUILDAH_ENV = {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}


def buildah(*args: str) -> str:
    return procs.run(["buildah", *args], timeout=900)


@pytest.fixture(scope="module")
def image() -> str:
    """`make docker-build` (cached: buildah's layers, and the base once made)."""
    subprocess.run(
        ["make", "-s", "-C", str(REPO), "docker-build", f"IMG={IMAGE}"],
        check=True,
        env={**os.environ, **BUILDAH_ENV},
        timeout=1800,
    )
    return IMAGE


@contextlib.contextmanager
def container(image: str, *mounts: str) -> Iterator[str]:
    """A working container of `image` (`buildah from`), removed afterwards."""
    os.environ.update(BUILDAH_ENV)
    name = buildah("from", "--name", f"irc-e2e-{uuid.uuid4().hex[:8]}", *mounts, image).strip()
    try:
        yield name
    finally:
        buildah("rm", name)


def test_the_image_runs_irc_as_a_non_root_user(image: str) -> None:
    config = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["irc"] and config["Cmd"] == ["manager"]
    assert config["Labels"]["org.opencontainers.image.version"] == irc.__version__
    with container(image) as ctr:
        assert buildah("run", ctr, "--", "irc", "--version").strip() == f"irc {irc.__version__}"
        assert buildah("run", ctr, "--", "id", "-u").strip() == "65532"
        assert buildah("run", ctr, "--", "ssh", "-V").strip() == ""  # OpenSSH's client (it prints on stderr)


def test_the_image_runs_the_manager_against_the_test_bed(
    image: str, kube: cluster.Cluster, crds: None, tmp_path: Path
) -> None:
    """`irc manager` from the image, its kubeconfig mounted read-only, becomes ready and reconciles: a
    policy it validates gets its Ready condition."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kube.kubeconfig.read_text())
    kubeconfig.chmod(0o644)  # the image's user is not root
    health = procs.free_port()
    with container(image) as ctr:
        manager = procs.start(
            "image-manager",
            [
                "buildah",
                "run",
                "--volume",
                f"{kubeconfig}:/etc/irc/kubeconfig:ro",
                ctr,
                "--",
                "irc",
                "manager",
                "--kubeconfig=/etc/irc/kubeconfig",
                "--controllers=policy",
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{health}",
            ],
            tmp_path,
            procs.http_ok(f"http://127.0.0.1:{health}/readyz"),
            env=BUILDAH_ENV,
            timeout=120,
        )
        try:
            name = f"image-{uuid.uuid4().hex[:6]}"
            kube.kubectl(
                "apply",
                "-f",
                "-",
                input=json.dumps(
                    {
                        "apiVersion": "automation.gitops.io/v1beta1",
                        "kind": "ImageResourcePolicy",
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {
                            "ecrRepository": {"region": "us-east-1", "repositoryPattern": "team/*"},
                            "policy": {"semver": {"range": ">=1.0.0"}},
                            "templateRef": {"name": "absent"},
                        },
                    }
                ),
            )
            reason = kube.kubectl(
                "wait",
                f"imageresourcepolicy/{name}",
                "-n",
                "default",
                "--for=jsonpath={.status.conditions[?(@.type=='Ready')].reason}=TemplateNotFound",
                "--timeout=60s",
            )
            assert "condition met" in reason
        finally:
            manager.stop()
            kube.kubectl("delete", "--ignore-not-found", "imageresourcepolicy", "--all", "-n", "default")


def test_the_image_is_pushed_to_a_registry_and_read_back(
    image: str, registry_bed: registries.Registries
) -> None:
    backup = registry_bed["backup"]
    target = f"docker://{backup.host}/irc/manager:{irc.__version__}"
    os.environ.update(BUILDAH_ENV)  # skopeo reads buildah's storage with the same driver
    procs.run(
        ["skopeo", "copy", "--dest-tls-verify=false", f"containers-storage:{image}", target], timeout=600
    )
    pushed = json.loads(procs.run(["skopeo", "inspect", "--tls-verify=false", target]))
    assert pushed["Labels"]["org.opencontainers.image.title"] == "irc"
    # The same filesystem: the registry holds compressed layers, so compare the uncompressed diff IDs.
    configs = [
        json.loads(procs.run(["skopeo", "inspect", "--config", *tls, ref]))
        for ref, tls in ((f"containers-storage:{image}", []), (target, ["--tls-verify=false"]))
    ]
    assert configs[0]["rootfs"]["diff_ids"] == configs[1]["rootfs"]["diff_ids"]
    assert configs[1]["config"]["User"] == "65532:65532"
