"""``none``: markers are logged in events.csv but sent nowhere (no recorder attached)."""

from __future__ import annotations

import time


class NullDevice:
    name = "none"

    def pulse(self, code: int) -> float:
        return time.perf_counter()

    def describe(self) -> dict:
        return {"protocol": self.name}

    def close(self) -> None:
        pass
