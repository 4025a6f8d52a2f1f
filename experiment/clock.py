"""The one clock every logged time comes from.

``time.perf_counter`` is monotonic and high-resolution on every platform we support
(CLOCK_MONOTONIC on Linux, QueryPerformanceCounter on Windows, mach_absolute_time on macOS).
Session times are seconds since the session clock was started; the wall-clock time is read
once, at that moment, for reference.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SessionClock:
    """Seconds since the session started, from a monotonic clock."""

    def __init__(self) -> None:
        self.started_at = datetime.now(timezone.utc).astimezone()
        self._zero = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._zero

    def from_perf_counter(self, perf_counter_s: float) -> float:
        """Convert a raw ``time.perf_counter()`` reading to session time."""
        return perf_counter_s - self._zero

    @property
    def origin_s(self) -> float:
        """``time.perf_counter()`` at session time 0: on Linux CLOCK_MONOTONIC, the clock the
        kernel's trace and Lab Streaming Layer's ``local_clock`` also read."""
        return self._zero

    @property
    def started_at_iso(self) -> str:
        return self.started_at.isoformat(timespec="milliseconds")
