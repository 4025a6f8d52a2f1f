"""Where things are by default: the repository's protocol files and data folder.

One place every part imports (the launcher, preflight, the analysis, the BIDS export), so
none of them needs another for its paths.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROTOCOL = REPO_ROOT / "stimuli" / "protocol.toml"
DEMO_PROTOCOL = REPO_ROOT / "stimuli" / "demo" / "protocol.toml"
DEFAULT_DATA_DIR = REPO_ROOT / "data"
STATE_QUESTIONNAIRE = REPO_ROOT / "stimuli" / "questionnaires" / "state.toml"
