import subprocess
import sys

import pytest

from irc import __version__
from irc.cli import main


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


def test_unknown_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-such-flag"])
    assert exit_info.value.code == 2
