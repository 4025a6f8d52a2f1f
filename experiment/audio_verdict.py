"""The audio's verdict once the recording has played: did the participant hear it as planned,
and can its markers be trusted? Judged from the player's own timing and the markers as they
were written; no device is touched here (pure, unit-tested with made-up figures).

What is an incident and what is only a figure (docs/technician.md, "Incidents"):

- An **incident** changes what the data mean or needs someone to act: the sound output ran
  short (``audio_unsteady``: the participant may have heard a gap), the audio markers are
  further than :data:`MARKER_TOLERANCE_MS` from the sound card's own account of the playback
  (``audio_onset_estimate``, ``audio_sync_disagreement``), or the sound output had to be started
  twice (``audio_start_retried``): PortAudio leaves the stalled stream open on the sound system,
  and beside it the new stream's own account of its timing is off by milliseconds, which the
  other checks, comparing that account with itself, cannot see.
- A **figure** describes how exact a good session was and goes to ``session.json`` only: the
  first callback's onset guess (on PulseAudio always ~2 s early, while the sound system fills its
  queue: it is never used), how far single buffers strayed from the stream's line (scheduling
  jitter of the callbacks; what was played is unaffected, and the sync check below measures the
  markers directly), and the sync markers' agreement within the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# A recorder samples its trigger input at most every 1 ms for ECG and skin conductance (1000 Hz),
# so a marker's place in a recording is uncertain by 1 ms anyway; audio markers further than
# twice that from the sound card's account are beyond what the recording resolves.
MARKER_TOLERANCE_MS = 2.0


@dataclass(frozen=True)
class AudioVerdict:
    figures: dict  # for session.json "audio"
    incidents: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    onset_exact_ms: float | None = None  # the worst sync marker's distance from the onset's line

    def summary(self, played_whole: bool) -> str:
        """'audio played whole, onset exact to 0.4 ms' as the session's last line says it."""
        played = "audio played whole" if played_whole else "audio NOT played whole"
        if self.onset_exact_ms is None:
            return played
        return f"{played}, onset exact to {self.onset_exact_ms:.1f} ms"


def sync_disagreement(
    onset_perf_s: float, syncs: Sequence[tuple[float, float]], card_ppm: float
) -> tuple[float, float]:
    """(audio position s, error s) of the sync marker furthest from where the onset marker and
    the card's measured rate put it: ``sync(audio_s = x) - audio_onset`` should be ``x`` seconds of
    the card's clock. ``syncs``: (audio position s, perf_counter written)."""
    card = 1 + card_ppm * 1e-6
    return max(((x, (perf - onset_perf_s) - x * card) for x, perf in syncs), key=lambda e: abs(e[1]))


def judge_audio(
    timing: dict,
    onset_perf_s: float,
    written: Sequence[tuple[str, str, float]],
    to_session_s: Callable[[float], float],
) -> AudioVerdict:
    """The verdict from the player's ``timing()`` and the markers written (label, detail,
    perf_counter); times in the figures are converted to session time with ``to_session_s``."""
    figures = {key: value for key, value in timing.items() if not key.endswith("_perf")}
    for key in ("onset_by_first_callback_perf", "onset_by_whole_fit_perf"):
        if key in timing:
            figures[key.removesuffix("_perf") + "_s"] = round(to_session_s(timing[key]), 6)
    incidents = []
    ran_short = timing.get("output_underflows", 0) + timing.get("decode_underruns", 0)
    if ran_short:
        incidents.append(
            (
                "audio_unsteady",
                f"the sound output ran short {ran_short} time(s) (output underflows "
                f"{timing.get('output_underflows', 0)}, decoder late {timing.get('decode_underruns', 0)}): the "
                "participant may have heard a gap; the sync markers follow what was really played",
            )
        )
    if timing.get("stream_start_retries"):
        incidents.append(
            (
                "audio_start_retried",
                "the sound system stalled as the audio began and the sound output was started a second time "
                "(nothing of the recording had played): the stalled stream stays open beside it, which put the "
                "audio markers a few milliseconds off the sound in the loopback self-test",
            )
        )
    if "onset_by_whole_fit_perf" in timing:
        off_ms = (timing["onset_by_whole_fit_perf"] - onset_perf_s) * 1000
        if abs(off_ms) > MARKER_TOLERANCE_MS:
            incidents.append(
                (
                    "audio_onset_estimate",
                    f"the fit over the whole playback puts the audio onset {off_ms:+.1f} ms from the audio_onset "
                    f"marker (more than {MARKER_TOLERANCE_MS:g} ms): the onset marker may be off by as much",
                )
            )
    onsets = [perf for label, _, perf in written if label == "audio_onset"]
    syncs = [(float(detail.removeprefix("audio_s=")), perf) for label, detail, perf in written if label == "sync"]
    if "sound_card_clock_ppm" not in timing or not onsets or not syncs:
        return AudioVerdict(figures, incidents)
    position_s, error_s = sync_disagreement(onsets[-1], syncs, timing["sound_card_clock_ppm"])
    figures |= {"sync_markers_checked": len(syncs), "sync_vs_onset_max_ms": round(abs(error_s) * 1000, 3)}
    if abs(error_s) * 1000 > MARKER_TOLERANCE_MS:
        incidents.append(
            (
                "audio_sync_disagreement",
                f"the sync marker at audio_s={position_s:.3f} was written {1000 * error_s:+.2f} ms from where the "
                f"audio_onset marker and the sound card's rate put it (more than {MARKER_TOLERANCE_MS:g} ms): the "
                "onset marker may be off by as much; the sync markers follow what was really played",
            )
        )
    return AudioVerdict(figures, incidents, abs(error_s) * 1000)
