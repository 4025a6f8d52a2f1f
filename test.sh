#!/usr/bin/env bash
# Run the linters and the whole test suite with real parts (each test worker gets its own
# virtual display, PulseAudio null sink and socat tty pairs). Installs what is missing first.
# The work is done in Python (tools/setup.py, tools/run_tests.py), the same on every system.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python3 tools/setup.py dev
exec .venv/bin/python tools/run_tests.py "$@"
