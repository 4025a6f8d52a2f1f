"""python -m experiment preflight on this machine's real parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO, session_command, session_dir
from quiet_host import preflight_on_a_quiet_host


def preflight(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiment", "preflight", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=env,
    )


# Timing tier: its READY needs preflight's sound check to play steadily (docs/development.md, Tests).
@pytest.mark.timing
def test_demo_passes_with_a_box_on_a_tty(tmp_path, tty_pair):
    runs = []

    def run_preflight():
        runs.append(1)
        args = ("--marker-protocol", "brainproducts", "--marker-port", tty_pair.near)
        return preflight("--demo", *args, "--data-dir", str(tmp_path / "data"))

    result, host = preflight_on_a_quiet_host(run_preflight)  # its tone stutters while the VM's host is busy
    assert result.returncode == 0, f"{host}\n{result.stdout}{result.stderr}"
    lines = result.stdout.splitlines()
    for name in (
        "protocol and stimuli",
        "sound output",
        "sound engine",
        "marker device",
        "real-time priority",
        "data folder",
        "allocation ledger",
        "display",
    ):
        assert any(line.startswith(f"[PASS] {name}") for line in lines), (name, result.stdout)
    assert "READY: 8 of 8" in result.stdout
    priority = (
        "[PASS] real-time priority: permitted: markers at SCHED_FIFO 10, the sound system's thread at SCHED_FIFO 4"
    )
    assert priority in result.stdout
    assert tty_pair.bytes() == [0, 255, 0, 0] * len(runs)  # cleared at open, the test pulse, cleared at close


def test_missing_port_fails_naming_it(tmp_path):
    result = preflight(
        "--demo", "--marker-protocol", "bbtk", "--marker-port", "/dev/ttyNOPE7", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 1
    assert "[FAIL] marker device: Cannot open the marker port /dev/ttyNOPE7" in result.stdout
    # No other check fails for it. The sound check's 2-s tone may truly run short beside other test
    # sessions on 2 cores (seen with 8 test workers: why the READY tests run alone): that FAIL is
    # its own verdict, and the count follows.
    failed = [line for line in result.stdout.splitlines() if line.startswith("[FAIL]")]
    others = [line for line in failed if not line.startswith("[FAIL] marker device")]
    assert all(line.startswith("[FAIL] sound output: The sound output ") and " ran short " in line for line in others)
    assert f"NOT READY: {8 - len(failed)} of 8" in result.stdout and "Traceback" not in result.stderr


def test_a_port_without_a_marker_protocol_is_refused_naming_the_protocols(tmp_path, tty_pair):
    result = preflight("--demo", "--marker-port", tty_pair.near, "--data-dir", str(tmp_path))
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("[FAIL] marker device"))
    assert f"The marker port {tty_pair.near} was given but the marker protocol is 'none'" in line
    assert "brainproducts, bbtk, mmbts-p, cedrus" in line and "Traceback" not in result.stderr
    assert tty_pair.bytes() == []  # nothing was opened or sent


def test_no_sound_output_fails_naming_it(tmp_path):
    env = dict(os.environ, PULSE_SERVER="unix:/nonexistent/pulse")  # no sound server reachable
    result = preflight("--demo", "--data-dir", str(tmp_path), env=env)
    assert result.returncode == 1
    assert "[FAIL] sound output" in result.stdout and "Traceback" not in result.stderr
    assert "headphones" in result.stdout


def test_a_failed_ptb_probe_is_remembered_and_renewed_by_preflight(tmp_path):
    """ptb stalls on this machine's PulseAudio: preflight finds it, remembers it for this computer,
    and the next session skips the 9-second probe and says how it knows."""
    memory = tmp_path / "memory"
    env = os.environ | {"EXPERIMENT_CACHE_DIR": str(memory)}
    checked = preflight("--demo", "--data-dir", str(tmp_path / "data"), env=env)
    line = next(line for line in checked.stdout.splitlines() if "sound engine" in line)
    assert line.startswith("[PASS] sound engine: sounddevice (ptb does not work here: "), line
    remembered = json.loads((memory / "probes.json").read_text())["ptb sound backend"]
    assert len(remembered) == 1 and remembered[0]["conditions"]["sound_server"] == os.environ["PULSE_SERVER"]
    session = subprocess.run(
        session_command("--demo", "--autopilot", "--participant", "DEM0101", "--data-dir", str(tmp_path / "data")),
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert session.returncode == 0, session.stdout + session.stderr
    record = json.loads((session_dir(tmp_path / "data", "DEM0101") / "session.json").read_text())
    assert record["audio"]["backend"] == "sounddevice"
    assert "not probed again" in record["audio"]["backend_choice"]


# The kernel's capability that lets root ignore the rtprio limit, and prctl's call to drop it for
# good in a process and the programs it starts (linux/capability.h, linux/prctl.h).
CAP_SYS_NICE = 23
PR_CAPBSET_DROP = 24


def test_an_account_without_real_time_priority_is_told_how_to_get_it():
    """preflight's line from a process under an rtprio limit of 0, as an ordinary account has it
    by default (root's exemption taken away). The granted case is every READY test (run as root);
    granting rtprio 10 to a process cannot be tried here: this VM's root may not raise the limit
    (no CAP_SYS_RESOURCE)."""
    import ctypes
    import resource

    def as_an_ordinary_account():
        if ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop CAP_SYS_NICE: run the tests as root")
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))

    code = (
        "from experiment.checks import run_check; from experiment.preflight import check_realtime_priority; "
        "print(run_check('real-time priority', check_realtime_priority).line())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
        preexec_fn=as_an_ordinary_account,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("[FAIL] real-time priority: The account ")
    assert 'rtprio 10" | sudo tee /etc/security/limits.d/90-experiment.conf  and log in again.' in line
