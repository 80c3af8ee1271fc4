"""The distribution as a user installs it: sdist and wheel built from the checkout, the wheel
installed into a clean venv (its dependencies from the package index, as `pip install` resolves
them), and the `irc` command run from there."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import irc

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION = "irc_operator"  # `irc` on the package index is an unrelated project


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the build backend (setuptools) is the venv's, so building needs no download.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "-o", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    return out


def test_the_wheel_holds_the_package_and_its_command_and_nothing_else(dist: Path) -> None:
    (wheel,) = dist.glob(f"{DISTRIBUTION}-{irc.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"{DISTRIBUTION}-{irc.__version__}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"irc", info}  # no tests, e2e or hack
    assert "irc/runtime/testing/__init__.py" in names  # the fakes are part of the library
    assert "irc = irc.cli:main" in entry_points


def test_the_sdist_builds_the_same_package(dist: Path) -> None:
    (sdist,) = dist.glob(f"{DISTRIBUTION}-{irc.__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "irc/cli.py", "irc/runtime/manager.py"} <= names


def test_the_wheel_installs_into_a_clean_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    bin_dir = env / "bin"
    subprocess.run([str(bin_dir / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True)
    version = subprocess.run([str(bin_dir / "irc"), "--version"], check=True, capture_output=True, text=True)
    assert version.stdout.strip() == f"irc {irc.__version__}"
    # The installed command writes the CRDs from the installed package, not the checkout.
    crds = subprocess.run(
        [str(bin_dir / "irc"), "crds"], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert "kind: CustomResourceDefinition" in crds.stdout and "automation.gitops.io" in crds.stdout
