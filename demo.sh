#!/usr/bin/env bash
# Run the demo session (short durations, generated audio). Installs what is missing first.
# With a screen: the session dialog opens and you take part yourself.
# Without one: the session runs on a virtual display with the autopilot answering.
# The work is done in Python (tools/setup.py, tools/demo.py), the same on every system.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python3 tools/setup.py runtime
exec .venv/bin/python tools/demo.py "$@"
