#!/usr/bin/env bash
# Run the demo session (short durations, generated audio). Installs what is missing first.
# With a screen: the session dialog opens and you take part yourself.
# Without one: the session runs on a virtual display with the autopilot answering.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
tools/setup.sh runtime
DATA="$ROOT/data/demo"
if [ -n "${DISPLAY:-}" ] && xdpyinfo >/dev/null 2>&1 || { [ -n "${DISPLAY:-}" ] && ! command -v xdpyinfo >/dev/null; }; then
    exec .venv/bin/python run_experiment.py --demo --data-dir "$DATA" "$@"
fi
tools/sound.sh server
# A fresh demo participant each time, so running the demo again never meets old data.
n=1; while [ -e "$DATA/sub-DEM$(printf %04d $n)" ]; do n=$((n + 1)); done
ID="DEM$(printf %04d $n)"
echo "No display found: running the demo on a virtual display with the autopilot (participant $ID)."
status=0
xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python run_experiment.py \
    --demo --autopilot --screenshots --participant "$ID" --data-dir "$DATA" "$@" || status=$?
echo
echo "Data:        $DATA/sub-$ID/ses-1/  (session.json, events.csv, responses.csv, session.log)"
echo "Screenshots: $DATA/sub-$ID/ses-1/screenshots/"
exit $status
