#!/usr/bin/env bash
# Linux launcher used by the .desktop file; works from any folder.
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "The project's environment is missing: run ./demo.sh once (or python3 tools/setup.py runtime)."
    read -r -p "Press Enter to close."
    exit 1
fi
"$ROOT/.venv/bin/python" "$ROOT/run_experiment.py" "$@"
status=$?
[ $status -ne 0 ] && read -r -p "Press Enter to close."
exit $status
