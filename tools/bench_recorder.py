"""Benchmark: what watching the recorder's stream costs a session, and whether it disturbs the
markers.

    .venv/bin/python tools/bench_recorder.py [--runs 2]      (as root: the kernel trace)

(it starts its own virtual screen and sound server, tools/virtual_lab.py)

The demo session with the autopilot and a ``brainproducts`` trigger box on a tty pair whose far
end the stand-in recorder (tools/standin_recorder.py, 1000 Hz over LSL) samples, alternately
without and with ``--recorder-stream``. For each: the session process's CPU time (user + system)
and wall time, and the markers' logged time against the kernel's time of their write()
(tests/kernel_trace.py). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tools")]

from helpers import StandInRecorder, TtyPair, code_writes, read_csv  # noqa: E402
from kernel_trace import DescriptorWatch, WriteTrace  # noqa: E402


def one_session(folder: Path, pair: TtyPair, stream: str | None, run: int) -> dict:
    data = folder / f"data{run}"
    command = [sys.executable, str(ROOT / "run_experiment.py"), "--demo", "--autopilot", "--participant"]
    command += [f"DEM{run:04d}", "--data-dir", str(data), "--marker-protocol", "brainproducts"]
    command += ["--marker-port", pair.near] + (["--recorder-stream", stream] if stream else [])
    started = time.perf_counter()
    with WriteTrace() as trace:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = DescriptorWatch(proc.pid, pair.near)
        _, status, usage = os.wait4(proc.pid, 0)
        writes = trace.writes(proc.pid, *port.result())
    wall_s = time.perf_counter() - started
    folder = data / f"sub-DEM{run:04d}" / "ses-1"
    record = json.loads((folder / "session.json").read_text())
    rows = read_csv(folder / "events.csv")
    lags_ms = [(w.time_s - float(r["time_s"]) - record["clock_origin_s"]) * 1000 for w, r in code_writes(writes, rows)]
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall_s,
        "lag_ms": max(lags_ms),
        "seen": (record.get("recorder") or {}).get("markers_seen"),
        "markers": len(rows),
        "ok": os.waitstatus_to_exitcode(status) == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from virtual_lab import SoundServer, VirtualScreen

    results: dict[str, list[dict]] = {"without": [], "with": []}
    with VirtualScreen() as screen, SoundServer() as sound, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(screen.env() | sound.env() | {"EXPERIMENT_CACHE_DIR": str(Path(tmp) / "memory")})
        pair = TtyPair(Path(tmp), box=False)
        recorder = StandInRecorder("BenchRecorder", pair.far)
        try:
            for run in range(args.runs):
                for label, stream in (("without", None), ("with", "BenchRecorder")):
                    results[label].append(one_session(Path(tmp), pair, stream, 2 * run + (label == "with")))
        finally:
            recorder.stop()
            pair.close()
    print(f"Demo session, {args.runs} runs each, trigger box on a tty pair sampled by the stand-in recorder:")
    print(f"  {'recorder watched':<18}{'CPU s':>8}{'wall s':>8}{'CPU %':>8}{'worst log->write ms':>21}{'seen':>14}")
    for label, runs in results.items():
        cpu, wall = statistics.median(r["cpu_s"] for r in runs), statistics.median(r["wall_s"] for r in runs)
        seen = ", ".join(f"{r['seen']}/{r['markers']}" for r in runs) if label == "with" else "-"
        print(
            f"  {label:<18}{cpu:8.1f}{wall:8.1f}{100 * cpu / wall:8.1f}{max(r['lag_ms'] for r in runs):21.3f}{seen:>14}"
            + ("" if all(r["ok"] for r in runs) else "  (a session failed)")
        )


if __name__ == "__main__":
    main()
