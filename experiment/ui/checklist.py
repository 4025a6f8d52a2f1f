"""The technician's checklist before each session: the preflight checks, on the session's screen.

Shown after the window opens and before anything is written, so a failure (a full disk, a
ledger that stopped answering) ends the launch with one sentence and no session folder. The
technician reads it before the participant sits down and presses Space; the participant never
sees it.
"""

from __future__ import annotations

import logging

from experiment.checks import Check
from experiment.ui.display import Display

log = logging.getLogger(__name__)
PASS_COLOR, FAIL_COLOR, TITLE_COLOR = "#9be29b", "#ff8a80", "#ffd27f"


def show_checklist(display: Display, checks: list[Check]) -> None:
    """Show the checks until Space (all passed) or any key (a failure: the caller stops)."""
    for check in checks:
        (log.info if check.ok else log.error)("%s", check.line())
    failed = [c for c in checks if not c.ok]
    height = display.settings.text_height * 0.55
    top = 0.42
    stims = [display.text("Technician: checks before this session", pos=(0, top), color=TITLE_COLOR, bold=True)]
    for number, check in enumerate(checks):
        mark = "OK  " if check.ok else "FAIL"
        stims.append(
            display.text(
                f"{mark}  {check.name}: {check.detail}",
                pos=(0, top - 0.11 - number * 0.1),
                height=height,
                wrap=display.aspect * 0.95,
                color=PASS_COLOR if check.ok else FAIL_COLOR,
            )
        )
    footer = (
        "Space = continue to the sound check    Escape = stop"
        if not failed
        else "The session cannot start: press Space to close and read what to do in the terminal."
    )
    stims.append(display.text(footer, pos=(0, -0.44), color=TITLE_COLOR, height=height))
    display.wait_for_key(stims, ("space",), shot="checklist", autopilot_screen="checklist")
