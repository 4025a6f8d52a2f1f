"""The cross-platform set-up (tools/setup.py) and the thin shells around it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import setup as project_setup
from helpers import REPO


def test_setup_on_this_machine_finds_everything_in_place():
    # The test suite runs after ./test.sh's own set-up: a second run installs nothing.
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "setup.py"), "dev"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing" not in result.stdout


def test_missing_debian_package_without_root_is_one_line_to_run(monkeypatch):
    monkeypatch.setattr(project_setup, "DEBIAN_RUNTIME", ["xvfb", "no-such-package-for-this-test"])
    monkeypatch.setattr(project_setup.os, "geteuid", lambda: 1000)
    with pytest.raises(project_setup.SetupError) as refused:
        project_setup.debian_packages("runtime")
    assert "sudo apt-get install no-such-package-for-this-test   then run this command again" in str(refused.value)


def test_the_python_it_picks_is_one_psychopy_supports():
    command = project_setup.find_python()
    version = subprocess.run(
        [*command, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    assert version.stdout.strip() in ("(3, 10)", "(3, 11)", "(3, 12)")


def test_an_unknown_choice_is_refused():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "setup.py"), "everything"], capture_output=True)
    assert result.returncode == 2 and b"runtime|dev" in result.stderr


@pytest.mark.parametrize(
    "shell, lines",
    [
        ("demo.sh", ["python3 tools/setup.py runtime", "exec .venv/bin/python tools/demo.py"]),
        ("test.sh", ["python3 tools/setup.py dev", "exec .venv/bin/python tools/run_tests.py"]),
        ("demo.bat", [r"%PY% tools\setup.py runtime", r'".venv\Scripts\python.exe" tools\demo.py %*']),
        ("test.bat", [r"%PY% tools\setup.py dev", r'".venv\Scripts\python.exe" tools\run_tests.py %*']),
    ],
)
def test_the_two_commands_are_thin_shells_around_the_tested_python(shell, lines):
    # Windows cannot be run here: its shells must stay two calls into the same Python.
    text = (REPO / shell).read_text()
    for line in lines:
        assert line in text
    if shell.endswith(".bat"):
        assert "\r\n" in (REPO / shell).read_bytes().decode()  # cmd.exe wants CRLF
