"""Where a session's log lines go: the technician's terminal, and the session folder's session.log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to_console() -> None:
    """INFO and above to stdout, once however often it is called."""
    root = logging.getLogger()
    if not any(getattr(h, "_experiment_console", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        # On a terminal, a log line first wipes the technician console's status line.
        wipe = "\r\033[K" if sys.stdout.isatty() else ""
        handler.setFormatter(logging.Formatter(wipe + "%(asctime)s  %(message)s", "%H:%M:%S"))
        handler._experiment_console = True
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def log_to_file(path: Path) -> logging.Handler:
    """Everything logged from now on also goes to ``path``; remove the handler to stop."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler
