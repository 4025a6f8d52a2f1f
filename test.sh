#!/usr/bin/env bash
# Run the linters and the whole test suite with real parts: a virtual display (Xvfb),
# PulseAudio with a null sink, socat tty pairs. Installs what is missing first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
tools/setup.sh dev
tools/sound.sh null-sink experiment_test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest "$@"
