"""BIDS names and paths for one session run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TASK = "selfcompassion"
BIDS_VERSION = "1.10.0"
DERIVATIVE = "selfcompassion-analysis"
NOT_LABEL = re.compile(r"[^A-Za-z0-9]")


def label(text: str) -> str:
    """A BIDS label (letters and digits only) from a participant pseudonym."""
    return NOT_LABEL.sub("", text)


@dataclass(frozen=True)
class SessionRun:
    participant: str
    session: int
    run: int
    with_run: bool  # the session has several runs, so every file names its run

    @property
    def folder(self) -> Path:
        return Path(f"sub-{label(self.participant)}") / f"ses-{self.session}"

    def stem(self, recording: str | None = None) -> str:
        parts = [f"sub-{label(self.participant)}", f"ses-{self.session}", f"task-{TASK}"]
        if self.with_run:
            parts.append(f"run-{self.run}")
        if recording:
            parts.append(f"recording-{recording}")
        return "_".join(parts)

    def beh(self, suffix: str, recording: str | None = None) -> Path:
        """``beh/<stem>_<suffix>`` relative to the dataset root."""
        return self.folder / "beh" / f"{self.stem(recording)}_{suffix}"

    def derivative(self, suffix: str) -> Path:
        """The analysis's own file for this run, under ``derivatives/`` beside its beh file."""
        return Path("derivatives") / DERIVATIVE / self.beh(suffix)

    @property
    def scans(self) -> Path:
        return self.folder / f"sub-{label(self.participant)}_ses-{self.session}_scans.tsv"

    @property
    def source(self) -> Path:
        run = "" if self.run == 1 else f"_run-{self.run}"
        return Path("sourcedata") / f"sub-{self.participant}" / f"ses-{self.session}{run}"
