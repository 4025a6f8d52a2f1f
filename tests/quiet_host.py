"""Whether the virtual machine's host is taking the processors away ("steal"), for the tests that
measure sound timing to the millisecond.

On this VM the host at times takes 10-30 % of both vCPUs for minutes (docs/development.md). No
priority inside the guest helps then: PulseAudio's timing replies are read late and the output's
reported times wander, which the loopback self-test rightly names as "did not keep time" - five
measurements in a row once. A lab measures on a quiet PC (close other programs, run it again);
these tests wait for a quiet host before each measurement instead, and every measurement still
counts. An idle guest reads no steal whatever its host does (the host takes only a vCPU that
wants to run), so the probe keeps every processor busy for a moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

STAT = Path("/proc/stat")
QUIET = 0.03  # of the processors' time taken by the host during a probe
PROBE_S = 1.0
WAIT_S = 120.0  # then measure anyway: a host that never calms down still gets its measurement
PAUSE_S = 4.0
SPIN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


def _ticks() -> tuple[int, int]:
    """(steal, all) jiffies of every processor since boot."""
    fields = [int(x) for x in STAT.read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields)


def host_steal(probe_s: float = PROBE_S) -> float | None:
    """The share of the processors' time the host took while every processor was kept busy for
    ``probe_s``; None where the kernel does not report steal."""
    if not STAT.exists():
        return None
    steal_before, all_before = _ticks()
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN.format(s=probe_s)]) for _ in range(os.cpu_count() or 1)]
    for spinner in spinners:
        spinner.wait()
    steal_after, all_after = _ticks()
    return (steal_after - steal_before) / max(all_after - all_before, 1)


def wait_for_a_quiet_host(wait_s: float = WAIT_S) -> str:
    """Wait until a probe finds the host taking less than ``QUIET`` of the processors (at most
    ``wait_s``); what was seen, for the test's record."""
    deadline = time.monotonic() + wait_s
    busy = []
    while True:
        steal = host_steal()
        if steal is None:
            return "steal not reported"
        if steal < QUIET:
            return f"host quiet ({steal:.1%} taken)" + (f" after {len(busy)} busy probe(s): {busy}" if busy else "")
        busy.append(f"{steal:.0%}")
        if time.monotonic() > deadline:
            return f"host still busy after {wait_s:.0f} s ({', '.join(busy)} taken): measured anyway"
        time.sleep(PAUSE_S)
