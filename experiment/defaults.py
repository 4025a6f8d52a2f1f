"""What every part shares by default: where the repository's files are, and the exit codes.

One small module that the launcher, preflight, the analysis and the BIDS export import, so
none of them needs another for a path or an exit code.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROTOCOL = REPO_ROOT / "stimuli" / "protocol.toml"
DEMO_PROTOCOL = REPO_ROOT / "stimuli" / "demo" / "protocol.toml"
DEFAULT_DATA_DIR = REPO_ROOT / "data"
STATE_QUESTIONNAIRE = REPO_ROOT / "stimuli" / "questionnaires" / "state.toml"

# Exit codes of every command (docs/technician.md lists what each means for a session).
EXIT_OK = 0
EXIT_FAILED = 1  # the session ended in an error; preflight: a check failed; allocation verify: tampered
EXIT_INPUT = 2  # the protocol file, an argument, the participant ID or the data folder is unusable
EXIT_ABORTED = 3  # the technician ended the session or cancelled the dialog
EXIT_DEVICE = 4  # a marker port, sound output or screen cannot be used
