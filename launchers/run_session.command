#!/bin/bash
# Double-click to run a session (macOS). Works from any folder: it finds the project next to
# this file. First time: run ./demo.sh in the project folder (it installs).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "The project's environment is missing: run ./demo.sh in the project folder once (it installs everything)."
    read -r -p "Press Enter to close."
    exit 1
fi
"$ROOT/.venv/bin/python" "$ROOT/run_experiment.py" "$@"
status=$?
[ $status -ne 0 ] && read -r -p "Press Enter to close."
exit $status
