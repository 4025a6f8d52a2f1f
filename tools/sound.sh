#!/usr/bin/env bash
# Sound for machines without a desktop session. Safe to run again.
#   tools/sound.sh server          start PulseAudio if no sound server answers
#   tools/sound.sh null-sink NAME  also add a silent sink NAME and make it the default
#                                  (tests play into it and record its monitor)
set -euo pipefail
MODE="${1:-server}"
if ! pactl info >/dev/null 2>&1; then
    pulseaudio --start --exit-idle-time=-1 >/dev/null 2>&1 || true
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! pactl info >/dev/null 2>&1; then
    echo "[sound] no sound server answers and PulseAudio does not start: install pulseaudio." >&2
    exit 1
fi
if [ "$MODE" = null-sink ]; then
    SINK="${2:?name of the sink}"
    if ! pactl list short sinks | awk '{print $2}' | grep -qx "$SINK"; then
        pactl load-module module-null-sink sink_name="$SINK" rate=48000 >/dev/null
    fi
    pactl set-default-sink "$SINK"
fi
