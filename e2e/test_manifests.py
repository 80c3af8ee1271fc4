"""What manifests/ ships, against the test bed's API server: each overlay renders with kustomize
(kubectl's) and applies with `--dry-run=server --validate=strict`, its manager's args parse with the
manager's own flags, and every sample applies the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from e2e.support import MANIFESTS, manager_args, render_overlay
from hack.testbed import cluster, procs
from hack.testbed.binaries import Binaries
from irc.cli import build_parser, build_settings, chosen_controllers

OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir())


def dry_run(kube: cluster.Cluster, documents: list[dict[str, Any]]) -> str:
    """Apply for real the Namespaces the documents create (a server-side dry run cannot create an
    object in a namespace that does not exist yet), then dry-run everything, strictly validated."""
    namespaces = [d for d in documents if d["kind"] == "Namespace"]
    if namespaces:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(namespaces))
    return kube.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=yaml.safe_dump_all(documents)
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_applies_strictly_validated(kube: cluster.Cluster, crds: None, overlay: str) -> None:
    documents = render_overlay(kube, overlay)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        + ["ClusterRole"]  # irc-metrics-reader
        + ["ConfigMap", "Deployment", "Service"]
        + ["CustomResourceDefinition"] * 4
    )
    assert {
        d["metadata"]["namespace"]
        for d in documents
        if d["kind"] in ("Deployment", "Service", "ConfigMap", "ServiceAccount", "Role")
    } == {"irc-system"}
    out = dry_run(kube, documents)
    assert "deployment.apps/irc-manager created (server dry run)" in out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlays_manager_args_are_the_managers_flags(kube: cluster.Cluster, overlay: str) -> None:
    documents = render_overlay(kube, overlay)
    args = build_parser().parse_args(
        manager_args(documents, {"backup-registry": "registry.example.com/mirror"})
    )
    settings = build_settings(args)
    assert args.command == "manager" and args.leader_elect
    assert settings.backup is not None and settings.aws_endpoint_url is None
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (binding,) = [d for d in documents if d["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "irc-system"}
    ]
    assert chosen_controllers(args)  # the overlay names at least one controller


def test_every_sample_applies_strictly_validated(kube: cluster.Cluster, crds: None) -> None:
    documents = [
        d
        for f in sorted((MANIFESTS / "samples").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d
    ]
    kinds = {d["kind"] for d in documents}
    assert {"ImageResourcePolicy", "ResourceTemplate", "ImageDetected", "ImageBackup"} <= kinds
    out = dry_run(kube, documents)
    assert out.count("(server dry run)") == len(documents)


def test_make_deploy_runs_the_given_image_and_undeploy_removes_it(kube: cluster.Cluster, crds: None) -> None:
    """`make deploy` on the test bed (KWOK stands in for kubelets, so the pod never runs the image:
    what is checked is what the Deployment asks for), `make undeploy` (which removes the CRDs as
    well, as kubebuilder's does), then `make install` puts the CRDs back for the tests after this."""
    kubectl = f"{Binaries.locate().kubectl} --kubeconfig={kube.kubeconfig}"
    image = "127.0.0.1:5000/team/irc:1.2.3"
    make = ["make", "-s", "-C", str(MANIFESTS.parent), f"KUBECTL={kubectl}", "OVERLAY=detection"]
    procs.run([*make, "deploy", f"IMG={image}"])
    try:
        deployment = json.loads(
            kube.kubectl("get", "deployment", "irc-manager", "-n", "irc-system", "-o", "json")
        )
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == image
        assert "--controllers=policy,detection,creation" in container["args"]
        assert kube.kubectl("get", "clusterrole", "irc-manager", "-o", "name").strip()
    finally:
        procs.run([*make, "undeploy"])
        procs.run([*make, "install"])
        kube.wait_for_crds()
    assert kube.kubectl("get", "clusterrole", "irc-manager", "--ignore-not-found", "-o", "name") == ""
    assert kube.kubectl("get", "namespace", "irc-system", "--ignore-not-found", "-o", "name") == ""
