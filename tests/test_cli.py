import subprocess
import sys

import pytest

from irc import __version__
from irc.cli import UsageError, main, parse_workers, select_controllers

KNOWN = ["creation", "detection", "image-backup", "policy", "workload-rewrite"]


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"irc {__version__}"


def test_python_dash_m_runs_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "irc", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"irc {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "manager" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["*"], KNOWN),
        (["policy"], ["policy"]),
        (["policy,detection"], ["detection", "policy"]),
        (["policy", "detection"], ["detection", "policy"]),
        (["*,-creation"], ["detection", "image-backup", "policy", "workload-rewrite"]),
        (["-creation,*"], ["detection", "image-backup", "policy", "workload-rewrite"]),
        (["creation,-creation"], []),
        ([" policy , "], ["policy"]),
        ([""], []),
    ],
)
def test_controllers_grammar_is_kube_controller_managers(spec: list[str], expected: list[str]) -> None:
    assert select_controllers(spec, KNOWN) == expected


def test_unknown_controller_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown controller\(s\) nope; valid: creation, detection"):
        select_controllers(["policy,-nope"], KNOWN)
    with pytest.raises(UsageError, match="valid: none yet"):
        select_controllers(["policy"], [])


def test_unknown_controller_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", "--controllers=nope"])
    assert exit_info.value.code == 2
    assert "unknown controller(s) nope" in capsys.readouterr().err


def test_max_concurrent_reconciles_parsing() -> None:
    assert parse_workers(["policy=4", "detection=1"], KNOWN) == {"policy": 4, "detection": 1}
    for bad in ["policy", "policy=0", "policy=x", "=3"]:
        with pytest.raises(UsageError):
            parse_workers([bad], KNOWN)
    with pytest.raises(UsageError, match="unknown controller"):
        parse_workers(["nope=2"], KNOWN)


def test_unknown_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", "--no-such-flag"])
    assert exit_info.value.code == 2
