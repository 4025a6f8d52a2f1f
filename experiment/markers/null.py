"""``none``: markers are logged in events.csv but sent nowhere (no recorder attached)."""

from __future__ import annotations

import time


class NullDevice:
    name = "none"
    hold_s = 0.0
    rest_s = 0.0
    needs_clear = False

    def set_code(self, code: int) -> float:
        return time.perf_counter()

    def clear(self) -> None:
        pass

    def reopen(self) -> None:
        pass

    def describe(self) -> dict:
        return {"protocol": self.name}

    def close(self) -> None:
        pass
