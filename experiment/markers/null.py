"""``none``: markers are logged in events.csv but sent nowhere (no recorder attached)."""

from __future__ import annotations

from experiment.markers.device import WriteWindow


class NullDevice:
    name = "none"
    hold_s = 0.0
    rest_s = 0.0
    needs_clear = False

    def set_code(self, code: int) -> WriteWindow:
        return WriteWindow.now()

    def clear(self) -> None:
        pass

    def reopen(self) -> None:
        pass

    def describe(self) -> dict:
        return {"protocol": self.name}

    def close(self) -> None:
        pass
