"""The technician's sound check: a tone at the session's volume before the participant starts."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from experiment.ui.display import Display

log = logging.getLogger(__name__)
TONE_HZ = 1000.0
TONE_S = 1.5
TONE_DBFS = -12.0


def calibration_tone(rate_hz: int, channels: int) -> np.ndarray:
    """A 1 kHz tone at -12 dBFS with 20 ms fades, as int16 frames x channels."""
    t = np.arange(int(TONE_S * rate_hz)) / rate_hz
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    wave = 10 ** (TONE_DBFS / 20) * fade * np.sin(2 * np.pi * TONE_HZ * t)
    return np.repeat((wave * 32767).astype(np.int16)[:, None], channels, axis=1)


def run_sound_check(display: Display, play_tone: Callable[[], Callable[[], None]]) -> dict:
    """Play the tone until the technician confirms hearing it (Y); R plays it again.

    ``play_tone`` starts the tone and returns a function that stops and releases it.
    Escape ends the session as usual.
    """
    prompt = display.text(
        "Technician: sound check\n\nA tone is playing in the participant's headphones at the session's "
        "volume.\n\nY = I heard it    R = play it again    Escape = stop the session",
        color="#ffd27f",
    )
    plays = 0
    while True:
        release = play_tone()
        plays += 1
        try:
            key, _ = display.wait_for_key([prompt], ("y", "r"), shot="sound_check", autopilot_screen="sound_check")
        finally:
            release()
        if key == "y":
            log.info("Sound check confirmed by the technician (%d play%s)", plays, "s" if plays > 1 else "")
            return {"confirmed": True, "plays": plays, "tone_hz": TONE_HZ, "tone_dbfs": TONE_DBFS}
