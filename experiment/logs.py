"""Where a session's log lines go: the technician's terminal, and the session folder's session.log."""

from __future__ import annotations

import contextlib
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


class SessionLogFile(logging.FileHandler):
    """session.log. When it can no longer be written (a full disk, a folder that has gone) it
    says so once on the console and stops, instead of printing a traceback for every line:
    the console still shows everything, and events.csv and session.json say what happened."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        logging.getLogger().removeHandler(self)
        with contextlib.suppress(Exception):
            self.close()
        print(f"session.log could not be written any more ({error}): from here on the log is on this console only.")


def log_to_file(path: Path) -> logging.Handler:
    """Everything logged from now on also goes to ``path``; remove the handler to stop."""
    handler = SessionLogFile(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler
