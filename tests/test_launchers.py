"""The double-click launchers start the session from any working directory."""

from __future__ import annotations

import os
import subprocess

from helpers import REPO


def test_desktop_entry_is_valid_and_points_at_this_copy(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    subprocess.run([str(REPO / "launchers/make-desktop-entry.sh")], check=True, env=env, capture_output=True)
    entry = tmp_path / ".local/share/applications/self-compassion-session.desktop"
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'Exec="{REPO}/launchers/run-session.sh"' in entry.read_text()


def test_shell_launchers_run_from_any_folder(tmp_path):
    # --help proves the launcher found the environment and run_experiment.py from elsewhere.
    for launcher in ("run-session.sh", "run_session.command"):
        result = subprocess.run(
            ["bash", str(REPO / "launchers" / launcher), "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "--participant" in result.stdout


def test_windows_launcher_finds_the_project_next_to_it():
    text = (REPO / "launchers/run_session.bat").read_text()
    assert r'"%ROOT%\.venv\Scripts\python.exe" "%ROOT%\run_experiment.py" %*' in text
    assert 'set "ROOT=%~dp0.."' in text
