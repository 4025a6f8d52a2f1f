"""How much of the processors the virtual machine's host took ("steal") while a sound-timing
measurement ran, for the tests that measure sound timing to the millisecond.

On this VM the host at times takes 10-30 % of the vCPUs for minutes. No priority inside the guest
helps then: the sound server's and libpulse's threads wake late, the output's reported times
wander and buffers stray, which the loopback self-test rightly names as "did not keep time" -
five measurements in a row once in CI. Measured with the self-test, 44 runs on the idle VM
(docs/development.md): of the runs during which the host took at least 10 % of one processor,
18 of 19 missed; of the others, 8 of 25. A lab measures again on a quiet PC; these tests measure
again when the host was busy, and such a measurement does not count towards the test's limit.
A measurement on a quiet host always counts, passed or missed. preflight's READY waits on its
2-s test tone playing whole, which stutters for the same reason (stop 34: the tone ran short in
both tries while the host took 18-28 % of a processor), so it is run again on the same rule, with
one counted run: a NOT READY on a quiet host fails the test.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

STAT = Path("/proc/stat")
BUSY_HOST = 0.10  # of one processor's time, taken by the host during a measurement
MEASUREMENTS_IN_ALL = 12  # counted or not: a host busy for minutes fails the test rather than hang it


def _steal_ticks() -> int | None:
    if not STAT.exists():
        return None
    return int(STAT.read_text().split("\n", 1)[0].split()[8])


class HostSteal:
    """``with HostSteal() as host: ...``; then ``host.share`` (of one processor) and ``host.busy``."""

    def __enter__(self) -> HostSteal:
        self._ticks, self._started = _steal_ticks(), time.monotonic()
        self.share: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        ticks = _steal_ticks()
        if ticks is not None and self._ticks is not None:
            per_second = os.sysconf("SC_CLK_TCK")
            self.share = (ticks - self._ticks) / per_second / max(time.monotonic() - self._started, 1e-3)

    @property
    def busy(self) -> bool:
        return self.share is not None and self.share >= BUSY_HOST

    def __str__(self) -> str:
        if self.share is None:
            return "steal not reported"
        return f"the host took {self.share:.0%} of a processor" + (" (busy: not counted)" if self.busy else "")


def measure_again_while_missed(
    measure: Callable[[], object], done: Callable[[object], bool], missed: Callable, counted_at_most: int
):
    """The last of up to ``counted_at_most`` counted measurements (stopping at the first that is
    ``done``), and the host's share during it; each measure-again is a warning saying why."""
    counted = 0
    for attempt in range(1, MEASUREMENTS_IN_ALL + 1):
        with HostSteal() as host:
            result = measure()
        counted += not host.busy
        if done(result) or counted == counted_at_most or attempt == MEASUREMENTS_IN_ALL:
            return result, host
        warnings.warn(f"measurement {attempt} missed ({missed(result)}; {host}); measured again", stacklevel=2)


def preflight_on_a_quiet_host(run_preflight: Callable[[], object]):
    """preflight's run (a CompletedProcess) and the host's share during it: run again only while
    a NOT READY came on a busy host, so a NOT READY on a quiet host is final."""
    return measure_again_while_missed(run_preflight, lambda result: result.returncode == 0, _failures, 1)


def _failures(result) -> str:
    """The FAIL lines of a preflight run, for a measure-again's warning."""
    return "; ".join(line for line in result.stdout.splitlines() if line.startswith("[FAIL]")) or result.stdout
