"""The technician's view in the terminal: where the session stands, never on the participant's screen.

One status line: participant, phase (n of N), elapsed and remaining time with a bar, the audio
position, the last marker and whether it reached the device, and counts of marker faults and
incidents. On a terminal it is redrawn in place about once a second; into a file or pipe it is
written every few seconds. The group is shown only when the protocol is not blind. With a
second screen, the same line also fills a window there (:mod:`experiment.ui.console_window`).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from experiment.config import Phase

BAR_WIDTH = 20
WINDOW_EVERY_S = 1.0


def bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "#" * filled + "-" * (BAR_WIDTH - filled)


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class TechnicianConsole:
    def __init__(
        self,
        participant: str,
        phases: tuple[Phase, ...],
        markers,
        stream: TextIO | None = None,
        group: str | None = None,
        window=None,
    ) -> None:
        self.participant = participant
        self.group = group  # None in blind mode
        self.window = window  # a ConsoleWindow on a second screen, or None
        self.phases = phases
        self.markers = markers
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.every_s = 1.0 if self.live else 5.0
        self.phase: Phase | None = None
        self.phase_started = 0.0
        self.incidents = 0
        self.player = None
        self.recorder = None  # a RecorderWatch when the recorder's stream is watched
        self.items = (0, 0)  # answered, total in this phase
        self._last_shown = 0.0
        self._last_windowed = 0.0

    def phase_started_now(self, phase: Phase, items_total: int = 0) -> None:
        self.phase, self.phase_started, self.items = phase, time.perf_counter(), (0, items_total)
        self.show(force=True)

    def item_answered(self) -> None:
        self.items = (self.items[0] + 1, self.items[1])

    def render(self) -> str:
        phase = self.phase
        who = f"{self.participant} group {self.group}" if self.group else self.participant
        if phase is None:
            return f"{who} | starting"
        number = [p.name for p in self.phases].index(phase.name) + 1
        elapsed = time.perf_counter() - self.phase_started
        parts = [who, f"phase {number}/{len(self.phases)} {phase.name}"]
        if phase.kind == "rest" and phase.duration_s:
            parts.append(
                f"{clock_text(elapsed)} / {clock_text(phase.duration_s)} [{bar(elapsed / phase.duration_s)}]"
                f" {clock_text(phase.duration_s - elapsed)} left"
            )
        elif phase.kind == "audio" and self.player is not None and self.player.total_frames:
            played = self.player.frames_played / self.player.rate_hz
            total = self.player.total_frames / self.player.rate_hz
            parts.append(
                f"audio {clock_text(played)} / {clock_text(total)} [{bar(played / total)}]"
                f" {clock_text(total - played)} left"
            )
        elif phase.kind == "questionnaires":
            done, total = self.items
            parts.append(f"item {done}/{total} [{bar(done / total if total else 0)}]")
        else:
            parts.append(f"{clock_text(elapsed)} on this screen")
        last = self.markers.last
        if last is not None:
            parts.append(f"last marker {last[0]} ({last[1]}) {'sent' if last[2] else 'NOT SENT'}")
        if self.recorder is not None:
            parts.append(self.recorder.status())
        if self.markers.faults or self.incidents:
            parts.append(f"WARNINGS: {self.markers.faults} marker fault(s), {self.incidents} incident(s)")
        return " | ".join(parts)

    def show(self, force: bool = False) -> None:
        """Called every frame: render only when the window or the terminal is due a new line."""
        now = time.perf_counter()
        window_due = self.window is not None and (force or now - self._last_windowed >= WINDOW_EVERY_S)
        terminal_due = force or now - self._last_shown >= self.every_s
        if not (window_due or terminal_due):
            return
        line = self.render()
        if window_due:
            self._last_windowed = now
            self.window.write(line)
        if not terminal_due:
            return
        self._last_shown = now
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(f"STATUS {line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
