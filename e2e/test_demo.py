"""`make demo` works on a fresh state directory: the test bed comes up, the manager backs up the
fixture images, and every ImageBackup completes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_backs_up_the_fixture_images(tmp_path: Path) -> None:
    env = {**os.environ, "IRC_TESTBED_DIR": str(tmp_path)}
    try:
        demo = subprocess.run(
            [str(REPO / "hack" / "demo.sh"), "--once"], env=env, capture_output=True, text=True, timeout=600
        )
        assert demo.returncode == 0, demo.stderr[-3000:]
        rows = [line.split() for line in demo.stdout.splitlines()[1:]]
        assert len(rows) == 4 and all(row[2] == "Completed" for row in rows), demo.stdout
    finally:
        subprocess.run([str(REPO / "hack" / "testbed.sh"), "down"], env=env, capture_output=True, timeout=120)
