"""`make demo` works on a fresh state directory (and `make demo-down` stops it): the test bed comes up,
the manager backs up the fixture images (every ImageBackup completes), scans the ECR emulator with
the policies of manifests/samples/demo-detection.yaml (exactly the images they select are detected),
commits the manifests of every detected image to the test bed's Git server but the one whose
environment manifests/samples/demo-deployed.yaml already runs (Skipped, PrefixDeployed), and
switches the Deployment and DaemonSet of manifests/samples/demo-workloads.yaml to backups of their
images (the before/after table and the repository's history are printed, and the cluster and the
repository agree with them). A second run finds it all done and prints the same tables and history."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import yaml

from hack.testbed import ecr
from hack.testbed.binaries import Binaries
from irc.images import TargetNaming, backup_object_name, parse_reference
from irc.reconcilers.creation import render_template
from irc.templating import image_variables

REPO = Path(__file__).resolve().parent.parent
REGISTRY = f"{ecr.ACCOUNT_ID}.dkr.ecr.{ecr.REGION}.amazonaws.com"
# What the two demo policies select from ecr.FIXTURE_IMAGES. team-a-services (team-a/*, semver
# >=1.0.0 per repository): api's highest release is 2.0.0 (1.2.0-rc.1 is a prerelease, latest no
# version); envs and worker have no X.Y.Z tags. team-a-envs: per dev/staging/prod prefix, the
# highest version after it.
DETECTED = {
    ("team-a/api", "2.0.0"),
    ("team-a/envs", "dev-1.4.0"),
    ("team-a/envs", "staging-1.2.0"),
    ("team-a/envs", "prod-1.2.0"),
}
# manifests/samples/demo-deployed.yaml runs team-a/envs:prod-1.1.0: the prod environment is deployed,
# so prod-1.2.0 is skipped; the others are committed, each to the file the seed names
# (<ImageName>[-<TagPrefix>].yaml) under the template's path, as a Deployment named by the template.
SKIPPED = ("team-a/envs", "prod-1.2.0")
COMMITTED = {
    ("team-a/api", "2.0.0"): ("applications/team-a-api.yaml", "team-a-api"),
    ("team-a/envs", "dev-1.4.0"): ("applications/team-a-envs-dev.yaml", "team-a-envs-dev"),
    ("team-a/envs", "staging-1.2.0"): ("applications/team-a-envs-staging.yaml", "team-a-envs-staging"),
}
SAMPLES = REPO / "manifests" / "samples"
# manifests/samples/demo-workloads.yaml: (workload, container as the table shows it) → image path
# in the source registry. Two images, so two ImageBackups shared by the two workloads.
SWITCHED = {
    ("deployment/web", "migrate (init)"): "testbed/docker-single:1.0.0",
    ("deployment/web", "app"): "testbed/docker-single:1.0.0",
    ("deployment/web", "log-shipper"): "public/oci-single:1.0.0",
    ("daemonset/node-agent", "agent"): "public/oci-single:1.0.0",
}


def tables(stdout: str) -> list[list[dict[str, str]]]:
    """kubectl's tables in `stdout` (separated by blank lines), each row keyed by column header.
    Cells are cut at the header's column offsets, so an empty cell does not shift the rest."""
    out = []
    for block in filter(None, stdout.strip().split("\n\n")):
        header, *lines = block.splitlines()
        columns = list(re.finditer(r"\S+", header))
        ends = [c.start() for c in columns[1:]] + [None]
        out.append(
            [
                {c.group(): line[c.start() : end].strip() for c, end in zip(columns, ends, strict=True)}
                for line in lines
            ]
        )
    return out


def run_in_own_group(
    argv: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """subprocess.run, but a timeout kills the script's whole process group: killing bash alone
    would skip its EXIT trap and orphan the `irc manager` it started in the background."""
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def bed_env(directory: Path) -> dict[str, str]:
    """The variables `hack/testbed.sh env cluster registries git` exports, from the components' state."""
    out: dict[str, str] = {}
    for component in ("cluster", "registries", "git"):
        out.update(json.loads((directory / component / "state.json").read_text())["env"])
    return out


def kubectl_json(kubeconfig: str, *args: str) -> Any:
    kubectl = str(Binaries.locate().kubectl)
    out = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", "get", *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def check_switch(
    workload_backups: list[dict[str, str]], switch: list[dict[str, str]], env: dict[str, str], stdout: str
) -> None:
    """The demo's tables and the cluster agree: every container of both workloads runs the backup of
    its original image, both workloads have rolled out, the two ImageBackups are Completed, and the
    digest the backup registry serves equals the source digest the ImageBackup recorded."""
    source, backup = env["IRC_TESTBED_REGISTRY_SOURCE"], env["IRC_TESTBED_REGISTRY_BACKUP"]
    naming = TargetNaming(backup, "demo")
    sources = {f"{source}/{image}" for image in SWITCHED.values()}
    assert len(workload_backups) == 2, stdout
    assert {row["SOURCE"] for row in workload_backups} == sources, stdout
    assert all(row["PHASE"] == "Completed" for row in workload_backups), stdout
    digests = {row["SOURCE"]: row["DIGEST"] for row in workload_backups}
    assert {(row["WORKLOAD"], row["CONTAINER"]): row["BEFORE"] for row in switch} == {
        key: f"{source}/{image}" for key, image in SWITCHED.items()
    }, stdout
    for row in switch:
        assert row["AFTER"] == str(naming.target(parse_reference(row["BEFORE"]))), row
        assert row["SOURCE-DIGEST"] == row["BACKUP-DIGEST"], row
        assert digests[row["BEFORE"]].startswith(row["SOURCE-DIGEST"]), (row, digests)

    kubeconfig = env["KUBECONFIG"]
    workloads = kubectl_json(kubeconfig, "deployment/web", "daemonset/node-agent", "-n", "irc-demo-shop")
    for workload in workloads["items"]:
        name = f"{workload['kind'].lower()}/{workload['metadata']['name']}"
        spec, status = workload["spec"]["template"]["spec"], workload["status"]
        running = {
            (name, c["name"] + (" (init)" if field == "initContainers" else "")): c["image"]
            for field in ("initContainers", "containers")
            for c in spec.get(field) or []
        }
        expected = {
            key: str(naming.target(parse_reference(f"{source}/{image}")))
            for key, image in SWITCHED.items()
            if key[0] == name
        }
        assert running == expected, workload
        desired = workload["spec"].get("replicas") or status["desiredNumberScheduled"]
        available = status.get("availableReplicas", status.get("numberAvailable"))
        assert status["observedGeneration"] == workload["metadata"]["generation"], status
        assert available == desired, status
        assert "automation.gitops.io/original-images" in workload["metadata"]["annotations"], workload
    for image in sorted(sources):
        copied = kubectl_json(kubeconfig, "imagebackup", backup_object_name(parse_reference(image)))["status"]
        assert copied["phase"] == "Completed" and copied["sourceDigest"] == copied["targetDigest"], copied


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def split_output(stdout: str) -> tuple[list[list[dict[str, str]]], str]:
    """The demo's tables, and the `git log --stat` printed after them."""
    head, found, log = stdout.partition("\ncommit ")
    assert found, stdout
    return tables(head), "commit " + log


def check_creation(detected: list[dict[str, str]], log: str, env: dict[str, str], repo: Path) -> None:
    """The ImageDetected table, the printed history and the repository agree: one skipped image, the
    others committed (their commits printed, on main), and main holds exactly the files the
    demo's ResourceTemplate renders for them."""
    rows = {tuple(row["IMAGE"].removeprefix(f"{REGISTRY}/").split(":")): row for row in detected}
    skipped = rows[SKIPPED]
    assert (skipped["PHASE"], skipped["REASON"], skipped["COMMIT"]) == ("Skipped", "PrefixDeployed", "<none>")
    printed = set(re.findall(r"^commit ([0-9a-f]{40})$", log, re.MULTILINE))
    assert printed == set(git(repo, "rev-list", "main").split()), log
    for image in COMMITTED:
        row = rows[image]
        assert row["PHASE"] == "Completed" and row["REASON"] in ("Committed", "UpToDate"), row
        assert row["COMMIT"] in printed, (row, log)
        assert git(repo, "merge-base", "--is-ancestor", row["COMMIT"], "main") == ""
    for path, _ in COMMITTED.values():
        assert f" {path} " in log, log

    documents = list(yaml.safe_load_all((SAMPLES / "demo-detection.yaml").read_text()))
    template = next(d for d in documents if d["kind"] == "ResourceTemplate")["spec"]
    template["gitRepository"]["url"] = template["gitRepository"]["url"].replace(
        "GIT_HTTP_URL", env["IRC_TESTBED_GIT_HTTP"]
    )
    policies = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "ImageResourcePolicy"}
    expected: dict[str, str] = {}
    for image, (path, name) in COMMITTED.items():
        obj = kubectl_json(env["KUBECONFIG"], "imagedetected", rows[image]["NAME"], "-n", "irc-demo")
        variables = image_variables(obj["spec"], policies[obj["spec"]["sourcePolicy"]["name"]], template)
        _, files, _, _ = render_template(template, variables)
        assert list(files) == [path.removeprefix("applications/")], files
        expected[path] = files[path.removeprefix("applications/")].decode()
        deployment = yaml.safe_load(expected[path])
        assert deployment["metadata"]["name"] == name, deployment
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{REGISTRY}/{image[0]}:{image[1]}", deployment
    committed = {
        p: git(repo, "show", f"main:{p}") for p in git(repo, "ls-tree", "-r", "--name-only", "main").split()
    }
    assert committed == expected


def test_demo_backs_up_detects_commits_and_switches_workloads(tmp_path: Path) -> None:
    assert all(tag in ecr.FIXTURE_IMAGES[repository] for repository, tag in DETECTED)
    env = {**os.environ, "IRC_TESTBED_DIR": str(tmp_path)}
    try:
        demo = run_in_own_group(["make", "-s", "-C", str(REPO), "demo"], env, timeout=600)
        assert demo.returncode == 0, demo.stderr[-3000:]
        assert "make demo-down" in demo.stderr  # the bed stays up, and the summary says how to stop it
        found, log = split_output(demo.stdout)
        # The demo's ImageBackups, ImageDetected, the workloads' ImageBackups, before/after.
        assert len(found) == 4, demo.stdout
        backups, detected, workload_backups, switch = found
        assert len(backups) == 4 and all(row["PHASE"] == "Completed" for row in backups), demo.stdout
        images = sorted(row["IMAGE"] for row in detected)
        assert images == sorted(f"{REGISTRY}/{repository}:{tag}" for repository, tag in DETECTED), demo.stdout
        for row in detected:  # named <last repository segment>-<tag>-<digest[:8]>
            repository, _, tag = row["IMAGE"].removeprefix(f"{REGISTRY}/").partition(":")
            assert row["NAME"].startswith(f"{repository.rpartition('/')[2]}-{tag.replace('.', '-')}-"), row
        bed = bed_env(tmp_path)
        check_switch(workload_backups, switch, bed, demo.stdout)
        check_creation(detected, log, bed, tmp_path / "git" / "repos" / "fleet.git")

        # Idempotent: the workloads are found switched (not applied again, which would be a
        # revert) and the same table is printed from their original-images annotations; the
        # ImageDetected are done, nothing more is committed.
        again = run_in_own_group([str(REPO / "hack" / "demo.sh"), "--once"], env, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        found_again, log_again = split_output(again.stdout)
        assert (found_again[1], found_again[3], log_again) == (detected, switch, log), again.stdout
    finally:
        down = ["make", "-s", "-C", str(REPO), "demo-down"]
        subprocess.run(down, env=env, capture_output=True, timeout=120)
