"""`make demo` works on a fresh state directory: the test bed comes up, the manager backs up the
fixture images (every ImageBackup completes) and scans the ECR emulator with the policies of
manifests/samples/demo-detection.yaml (exactly the images they select are detected)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from hack.testbed import ecr

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


def test_demo_backs_up_the_fixture_images_and_detects_ecr_images(tmp_path: Path) -> None:
    assert all(tag in ecr.FIXTURE_IMAGES[repository] for repository, tag in DETECTED)
    env = {**os.environ, "IRC_TESTBED_DIR": str(tmp_path)}
    try:
        demo = run_in_own_group([str(REPO / "hack" / "demo.sh"), "--once"], env, timeout=600)
        assert demo.returncode == 0, demo.stderr[-3000:]
        found = tables(demo.stdout)
        assert len(found) == 2, demo.stdout  # ImageBackups, then ImageDetected
        backups, detected = found
        assert len(backups) == 4 and all(row["PHASE"] == "Completed" for row in backups), demo.stdout
        images = sorted(row["IMAGE"] for row in detected)
        assert images == sorted(f"{REGISTRY}/{repository}:{tag}" for repository, tag in DETECTED), demo.stdout
        for row in detected:  # named <last repository segment>-<tag>-<digest[:8]>
            repository, _, tag = row["IMAGE"].removeprefix(f"{REGISTRY}/").partition(":")
            assert row["NAME"].startswith(f"{repository.rpartition('/')[2]}-{tag.replace('.', '-')}-"), row
    finally:
        subprocess.run([str(REPO / "hack" / "testbed.sh"), "down"], env=env, capture_output=True, timeout=120)
