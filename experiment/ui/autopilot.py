"""A seeded simulated participant for unattended dry runs and tests.

It presses keys through the window's real event path (pyglet's ``on_key_press``, exactly
where a physical key press arrives), so every screen reads its answers the way it reads a
person's. Its choices come from ``random.Random(seed)``: the same seed gives the same
session.
"""

from __future__ import annotations

import logging
import random
import time

log = logging.getLogger(__name__)
CONFIRM_PAUSE_S = 0.25


def vas_keys(target: int) -> list[str]:
    """Arrow presses that move a fresh scale (first press places 50) to ``target``, then Enter."""
    diff = target - 50
    tens, ones = divmod(abs(diff), 10)
    coarse, fine = ("up", "right") if diff >= 0 else ("down", "left")
    return ["right"] + [coarse] * tens + [fine] * ones + ["return"]


def likert_keys(target: int, points: int) -> list[str]:
    """The number key where there is one, otherwise arrows from the middle; then Enter."""
    if target <= 9:
        return [str(target), "return"]
    middle = (points + 1) // 2
    return ["right"] + ["right"] * (target - middle) + ["return"]


class Autopilot:
    """Answers every participant screen after a short, human-like pause."""

    def __init__(self, seed: int, speed: float = 1.0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.speed = speed
        self._queue: list[tuple[float, str]] = []
        self.answers: list[tuple[str, int]] = []

    def on_screen(self, kind: str, item=None) -> None:
        """Plan the key presses for a screen that just appeared."""
        now = time.perf_counter()
        if kind in ("vas", "likert"):
            value = self.rng.randint(0, 100) if kind == "vas" else self.rng.randint(1, item.points)
            self.answers.append((item.id, value))
            log.info("autopilot answers %s with %d", item.id, value)
            keys = vas_keys(value) if kind == "vas" else likert_keys(value, item.points)
            think_s = self.rng.uniform(0.4, 1.0) / self.speed
            self._queue = [(now + think_s + 0.02 * i / self.speed, key) for i, key in enumerate(keys)]
            # Like a person, it sees its answer on the screen before confirming it (and a busy
            # computer's slow frame can never take the choice and Enter in one go).
            when, key = self._queue[-1]
            self._queue[-1] = (when + CONFIRM_PAUSE_S / self.speed, key)
        elif kind == "text":
            self._queue = [(now + self.rng.uniform(0.3, 0.8) / self.speed, "space")]
        elif kind == "sound_check":  # a dry run confirms once the tone has played
            self._queue = [(now + 1.6, "y")]
        elif kind == "checklist":  # a dry run reads the checks for a moment, as a technician would
            self._queue = [(now + 0.5, "space")]
        else:  # the technician's own screens (abort confirmation) are left to the technician
            self._queue = []

    def tick(self, display) -> None:
        """Called after every flip: press the keys whose time has come."""
        now = time.perf_counter()
        while self._queue and self._queue[0][0] <= now:
            _, key = self._queue.pop(0)
            display.press(key)
