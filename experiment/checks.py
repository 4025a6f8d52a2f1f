"""One check before a session: its name, PASS or FAIL, and the sentence that says why.

Below both the preflight command and the checklist screen (and the recorder's checks), so each
imports it without importing the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from experiment.errors import ExperimentError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    error: ExperimentError | OSError | None = None  # what a failed check raised

    def line(self) -> str:
        return f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


def run_check(name: str, check: Callable[[], str]) -> Check:
    """Run one check; its ExperimentError (or OSError) sentence is the failure's detail."""
    try:
        return Check(name, True, check())
    except (ExperimentError, OSError) as err:
        return Check(name, False, str(err), err)
