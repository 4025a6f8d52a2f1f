"""A recorder simulator: realistic ECG, EDA and marker exports for session folders, with the
truth written beside them, so the analysis can be demonstrated and tested without a lab.

For each session it draws a participant's resting heart rate, HRV and skin conductance, applies
the group's effect in each phase, and renders 1000 Hz signals on the recorder's clock (offset
and drift against the session clock). Realism that matters for the analysis: respiratory sinus
arrhythmia (HF power), ectopic beats, baseline wander, mains hum, noise, a movement artefact,
skin-conductance responses; and, on request, the faults a lab meets: a truncated recording, a
recording without markers, a flat (lead-off) ECG.

The truth (``truth/sub-<ID>_ses-<N>_truth.csv``) holds each phase's heart rate and RMSSD from the
normal beats that were rendered, the mean skin conductance without the artefact, and the
skin-conductance responses of at least 0.05 µS (count, per minute, mean amplitude);
``truth/sub-<ID>_ses-<N>_responses.csv`` every response rendered (onset on the recorder's clock,
amplitude trough to peak as rendered alone), and the movement steps.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiment.datastore import replaced_whole
from experiment.errors import DataError

RATE_HZ = 1000
FAULTS = ("truncated", "no_markers", "flat_ecg")
# Change from baseline during the audio (and half of it in recovery), per group: the direction of
# Kirschner et al. (2019): self-compassion calms (HR down, HRV up, SCL down), rumination and
# positive excitement arouse.
EFFECTS = {
    "CBS": {"hr_bpm": -3.0, "rmssd_ms": 8.0, "scl_us": -0.6},
    "LKM": {"hr_bpm": -2.0, "rmssd_ms": 6.0, "scl_us": -0.4},
    "RUM": {"hr_bpm": 2.0, "rmssd_ms": -4.0, "scl_us": 0.8},
    "PE": {"hr_bpm": 4.0, "rmssd_ms": -5.0, "scl_us": 1.0},
    "NEU": {"hr_bpm": 0.0, "rmssd_ms": 0.0, "scl_us": 0.0},
}
# Non-specific skin-conductance responses during the audio, relative to baseline: rumination and
# positive excitement raise their frequency, self-compassion lowers it.
SCR_RATE_EFFECTS = {"CBS": -0.45, "LKM": -0.35, "RUM": 0.7, "PE": 0.6, "NEU": 0.0}
SCR_AMPLITUDE_US = (0.02, 1.0)  # drawn log-uniformly
SCR_SPACING_S = 3.0  # responses closer than this merge in any scoring: the simulator keeps them apart
TRUTH_MIN_AMPLITUDE_US = 0.05


@dataclass
class Participant:
    hr_bpm: float
    rmssd_ms: float
    scl_us: float
    ectopic_every: int = 250  # about one premature beat in this many
    artefact: bool = True
    fault: str | None = None
    scr_per_min: float = 2.5  # resting non-specific responses per minute
    drift_ppm: float = 30.0
    offset_s: float = 12.0
    seed: int = 0
    phase_targets: dict = field(default_factory=dict)


def phase_targets(person: Participant, group: str, phases: list[dict], scale: float = 1.0) -> dict[str, dict]:
    """Target HR, RMSSD and SCL per phase: baseline values, the group's effect in the audio."""
    effect = EFFECTS.get(group, EFFECTS["NEU"])
    targets = {}
    for phase in phases:
        weight = {"audio": 1.0}.get(phase["kind"], 0.5 if phase["name"] == "recovery" else 0.0)
        if phase["kind"] == "questionnaires":
            weight = 0.2
        targets[phase["name"]] = {
            "hr_bpm": person.hr_bpm + scale * weight * effect["hr_bpm"],
            "rmssd_ms": max(8.0, person.rmssd_ms + scale * weight * effect["rmssd_ms"]),
            "scl_us": max(0.5, person.scl_us + scale * weight * effect["scl_us"]),
            "scr_per_min": float(
                np.clip(person.scr_per_min * (1 + scale * weight * SCR_RATE_EFFECTS.get(group, 0.0)), 0.5, 5.0)
            ),
        }
    return targets


def _beats(targets, phases, end_s: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (session clock) and whether each is normal (False: an ectopic beat)."""

    def target_at(t):
        for phase in phases:
            if phase["start_s"] <= t < phase["end_s"]:
                return targets[phase["name"]]
        return targets[phases[0]["name"]] if t < phases[0]["start_s"] else targets[phases[-1]["name"]]

    times, normal = [], []
    t, noise = -2.0, 0.0
    while t < end_s + 2.0:
        goal = target_at(t)
        mean_rr = 60.0 / goal["hr_bpm"]
        # RMSSD is set by the beat-to-beat noise (AR(1), phi 0.5) and respiratory sinus arrhythmia.
        rsa = 0.35 * goal["rmssd_ms"] / 1000 * np.sin(2 * np.pi * 0.25 * t)
        sd = goal["rmssd_ms"] / 1000 * 0.72
        noise = 0.5 * noise + rng.normal(0, sd * np.sqrt(1 - 0.25))
        t += mean_rr + rsa + noise
        times.append(t)
        normal.append(True)
    return np.array(times), np.array(normal)


def _insert_ectopics(times: np.ndarray, every: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Premature beats at 65% of the interval; the next normal beat keeps its time (compensatory pause)."""
    extra = []
    for i in range(5, len(times) - 1, max(every, 10)):
        j = i + int(rng.integers(0, max(every // 2, 1)))
        if j < len(times) - 1:
            extra.append(times[j] + 0.65 * (times[j + 1] - times[j]))
    all_times = np.concatenate([times, extra])
    normal = np.concatenate([np.ones(len(times), bool), np.zeros(len(extra), bool)])
    order = np.argsort(all_times)
    return all_times[order], normal[order]


def _ecg_template(rate_hz: int) -> tuple[np.ndarray, int]:
    t = np.arange(-0.25, 0.45, 1 / rate_hz)

    def wave(centre, width, height):
        return height * np.exp(-0.5 * ((t - centre) / width) ** 2)

    template = (
        wave(-0.16, 0.025, 0.12)  # P
        + wave(-0.025, 0.008, -0.12)  # Q
        + wave(0.0, 0.009, 1.1)  # R
        + wave(0.028, 0.009, -0.25)  # S
        + wave(0.25, 0.045, 0.3)  # T
    )
    return template, int(0.25 * rate_hz)


def render(session_dir: Path, out_dir: Path, person: Participant, scale: float = 1.0) -> Path:
    """Write ``sub-<ID>_ses-<N>_physio.csv`` (and its truth) for one session folder."""
    from experiment.analysis.pipeline import read_session, session_events

    record = read_session(session_dir)
    events, phases = session_events(session_dir, record)
    rng = np.random.default_rng(person.seed)
    targets = phase_targets(person, record["group"], phases, scale)
    end_s = max(float(e["time_s"]) for e in events) + 5.0
    beat_s, _ = _beats(targets, phases, end_s, rng)
    all_beats, normal = _insert_ectopics(beat_s, person.ectopic_every, rng)

    # The recorder's clock: started before the session, running slightly fast or slow.
    to_recorder = lambda s: person.offset_s + (1 + person.drift_ppm * 1e-6) * s  # noqa: E731
    duration_s = to_recorder(end_s) + 5.0
    if person.fault == "truncated":
        duration_s = to_recorder(phases[len(phases) // 2]["start_s"])
    n = int(duration_s * RATE_HZ)
    time_s = np.arange(n) / RATE_HZ

    template, centre = _ecg_template(RATE_HZ)
    impulses = np.zeros(n + len(template))
    idx = np.round(to_recorder(all_beats) * RATE_HZ).astype(int) + centre
    amplitude = np.where(normal, 1.0, 1.4)  # ectopic beats look different
    keep = (idx >= 0) & (idx < len(impulses))
    np.add.at(impulses, idx[keep], amplitude[keep])
    from scipy.signal import fftconvolve

    ecg = fftconvolve(impulses, template)[centre + centre : centre + centre + n]
    ecg += 0.08 * np.sin(2 * np.pi * 0.3 * time_s) + 0.02 * np.sin(2 * np.pi * 50 * time_s)
    ecg += rng.normal(0, 0.015, n)

    eda, responses = _eda(time_s, phases, targets, to_recorder, rng)
    artefact_at, steps = (
        _movement(person, phases, time_s, ecg, eda, to_recorder, rng) if person.artefact else (None, [])
    )
    if person.fault == "flat_ecg":
        ecg[:] = 0.0

    digital = np.zeros(n, dtype=np.int16)
    if person.fault != "no_markers":
        for event in events:
            if event["sent_ok"] == "true":
                start = int(round(to_recorder(float(event["time_s"])) * RATE_HZ))
                digital[max(start, 0) : max(start + 10, 0)] = int(event["code"])

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"sub-{record['participant']}_ses-{record['session']}"
    path = out_dir / f"{stem}_physio.csv"
    write_export(path, time_s, ecg, eda, digital)
    truth = out_dir / "truth"
    _write_truth(truth / f"{stem}_truth.csv", record, phases, beat_s, targets, eda, time_s, to_recorder, artefact_at)
    _write_responses_truth(truth / f"{stem}_responses.csv", responses, steps)
    _add_response_truth(truth / f"{stem}_truth.csv", phases, responses, steps, to_recorder)
    return path


def _movement(person, phases, time_s, ecg, eda, to_recorder, rng) -> tuple[float | None, list[tuple[float, float]]]:
    """Movement, into ``ecg`` and ``eda``: an electrode pressed for 4 s (a sharp step up and back in
    the EDA, noise in the ECG) in the longest phase, and a smaller step, below the level measure's
    0.5 µS step, in the first rest. Returns the big one's time and every step (time, height)."""
    if len(phases) <= 2:
        return None, []
    longest = max(phases, key=lambda p: p["end_s"] - p["start_s"])
    artefact_at = to_recorder(longest["start_s"] + 0.6 * (longest["end_s"] - longest["start_s"]))
    span = (time_s >= artefact_at) & (time_s < artefact_at + 4.0)
    ecg[span] += np.cumsum(rng.normal(0, 0.15, span.sum())) + rng.normal(0, 0.6, span.sum())
    first_rest = next((p for p in phases if p["kind"] == "rest"), longest)
    small_at = to_recorder((first_rest["start_s"] + first_rest["end_s"]) / 2)
    steps = [(artefact_at, float(rng.uniform(0.6, 1.5))), (small_at, float(rng.uniform(0.15, 0.4)))]
    for at, height in steps:
        eda[(time_s >= at) & (time_s < at + 4.0)] += height
    return artefact_at, steps


def _eda(time_s, phases, targets, to_recorder, rng) -> tuple[np.ndarray, np.ndarray]:
    """The skin conductance, and its responses: (onset on the recorder clock, amplitude) rows."""
    level = np.full(len(time_s), targets[phases[0]["name"]]["scl_us"])
    for phase in phases:
        span = (time_s >= to_recorder(phase["start_s"])) & (time_s < to_recorder(phase["end_s"]))
        level[span] = targets[phase["name"]]["scl_us"]
    # Smooth the steps between phases (the tonic level moves over half a minute), cheaply at 10 Hz.
    coarse = level[::100]
    kernel = np.ones(300) / 300
    coarse = np.convolve(np.pad(coarse, 150, mode="edge"), kernel, mode="same")[150:-150]
    eda = np.interp(time_s, time_s[::100], coarse[: len(time_s[::100])])
    responses = _responses(phases, targets, to_recorder, time_s[-1], rng)
    # Each response rises for about 1.5 s and decays over seconds; scaled so that its peak rises
    # by exactly its amplitude when alone.
    t = np.arange(int(25 * RATE_HZ)) / RATE_HZ
    shape = np.exp(-t / 4.0) - np.exp(-t / 0.75)
    shape /= shape.max()
    for onset, amplitude in responses:
        first = int(onset * RATE_HZ)
        part = eda[first : first + len(shape)]
        part += amplitude * shape[: len(part)]
    hum = 0.01 * np.sin(2 * np.pi * 50 * time_s)  # mains hum picked up by the leads
    return eda + hum + rng.normal(0, 0.005, len(time_s)), responses


def _responses(phases, targets, to_recorder, end_s: float, rng) -> np.ndarray:
    """Onsets (recorder clock) and amplitudes, each phase at its own rate, never closer than
    ``SCR_SPACING_S``."""
    rows, last = [], -np.inf
    for phase in phases:
        start, stop = to_recorder(phase["start_s"]), min(to_recorder(phase["end_s"]), end_s - 25)
        per_s = targets[phase["name"]]["scr_per_min"] / 60
        at = start + rng.exponential(1 / per_s)
        while at < stop:
            if at - last >= SCR_SPACING_S:
                low, high = np.log(SCR_AMPLITUDE_US)
                rows.append((at, float(np.exp(rng.uniform(low, high)))))
                last = at
            at += rng.exponential(1 / per_s)
    return np.array(rows).reshape(-1, 2)


def write_export(path: Path, time_s, ecg, eda, digital) -> None:
    """A recorder-style CSV export, written with pyarrow (a 25-minute file in about a second)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table(
        {
            "time": pa.array(np.round(time_s, 3)),
            "ECG": pa.array(np.round(ecg, 4).astype(np.float32)),
            "EDA": pa.array(np.round(eda, 4).astype(np.float32)),
            "Digital": pa.array(digital.astype(np.int16)),
        }
    )
    with replaced_whole(path, "choose a --physio-dir you can write to") as tmp:
        pacsv.write_csv(table, tmp)


def _write_truth(path, record, phases, beat_s, targets, eda, time_s, to_recorder, artefact_at) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = np.ones(len(time_s), bool)
    if artefact_at is not None:
        clean &= ~((time_s >= artefact_at) & (time_s < artefact_at + 4.0))
    rows = []
    for phase in phases:
        inside = beat_s[(beat_s >= phase["start_s"]) & (beat_s < phase["end_s"])]
        nn = np.diff(inside) * 1000
        span = (time_s >= to_recorder(phase["start_s"])) & (time_s < to_recorder(phase["end_s"])) & clean
        rows.append(
            {
                "participant": record["participant"],
                "session": record["session"],
                "group": record["group"],
                "phase": phase["name"],
                "hr_bpm": 60000 / nn.mean() if len(nn) else "",
                "rmssd_ms": float(np.sqrt(np.mean(np.diff(nn) ** 2))) if len(nn) > 2 else "",
                "scl_us": float(eda[span].mean()) if span.any() else "",
            }
        )
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_responses_truth(path: Path, responses: np.ndarray, steps: list[tuple[float, float]]) -> None:
    rows = [
        {"kind": "response", "onset_s": round(float(a), 4), "amplitude_us": round(float(b), 5)} for a, b in responses
    ]
    rows += [{"kind": "movement step (4 s)", "onset_s": round(a, 4), "amplitude_us": round(b, 5)} for a, b in steps]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["kind", "onset_s", "amplitude_us"])
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["onset_s"]))


def response_truth(
    responses: np.ndarray, steps, start_s: float, end_s: float, min_amplitude_us: float = TRUTH_MIN_AMPLITUDE_US
) -> dict:
    """The responses a scorer should find between two recorder times: at least the minimum
    amplitude, not hidden by a movement step (a step over 0.5 µS makes about 8 s unusable)."""
    hidden = np.zeros(len(responses), bool)
    unusable_s = 0.0
    for at, height in steps:
        hidden |= (responses[:, 0] > at - 4.5) & (responses[:, 0] < at + 7.0)
        if height >= 0.5:
            unusable_s += max(0.0, min(end_s, at + 6.0) - max(start_s, at - 2.0))
    inside = (responses[:, 0] >= start_s) & (responses[:, 0] < end_s) & ~hidden
    counted = responses[inside & (responses[:, 1] >= min_amplitude_us), 1]
    minutes = (end_s - start_s - unusable_s) / 60
    return {
        "scr_n": len(counted),
        "scr_per_min": len(counted) / minutes if minutes > 0 else "",
        "scr_amp_us": float(counted.mean()) if len(counted) else "",
    }


def _add_response_truth(path: Path, phases, responses: np.ndarray, steps, to_recorder) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, phase in zip(rows, phases, strict=True):
        row.update(response_truth(responses, steps, to_recorder(phase["start_s"]), to_recorder(phase["end_s"])))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# --- sessions, for a study that was never run (demos, tests, the benchmark) ----------------------
# How long a simulated participant takes over the phases the protocol does not time.
UNTIMED_S = {"instructions": 40.0, "questionnaires": 110.0, "end": 8.0}
AUDIO_S = 660.0  # the paradigm's recording, where the protocol does not pin its length
SELF_REPORT_EFFECTS = {"CBS": 12.0, "LKM": 10.0, "RUM": -12.0, "PE": 3.0, "NEU": 0.0}


def full_protocol():
    """The shipped full protocol (its recordings need not be here: only its timeline and codes are used)."""
    from experiment.config import load_protocol
    from experiment.defaults import DEFAULT_PROTOCOL

    return load_protocol(DEFAULT_PROTOCOL, recordings_needed=False)


def timeline(protocol) -> tuple[tuple[str, str, float], ...]:
    """(name, kind, seconds) of each of the protocol's phases, as a simulated participant runs them."""
    audio_s = protocol.audio.expected_duration_s or AUDIO_S
    return tuple(
        (p.name, p.kind, p.duration_s or (audio_s if p.kind == "audio" else UNTIMED_S[p.kind])) for p in protocol.phases
    )


def make_session(
    data_dir: Path, participant: str, group: str, rng, phases=None, session: int = 1, protocol=None
) -> Path:
    """Write a completed session folder (session.json, events.csv, responses.csv) as the runner
    would have, with ``protocol``'s marker codes (default: the full protocol's), its timeline
    (or ``phases``: (name, kind, seconds) of a shorter one) and the state questionnaire."""
    from experiment.datastore import EVENT_COLUMNS, RESPONSE_COLUMNS
    from experiment.record import RECORD_FILE, SessionRecord

    protocol = protocol or full_protocol()
    folder = data_dir / f"sub-{participant}" / f"ses-{session}"
    if folder.exists():
        raise DataError(
            f"{folder} already exists: simulate sessions into an empty folder (real data are never touched)."
        )
    codes = dict(protocol.markers.codes)
    events, responses, phase_times = _run_timeline(phases or timeline(protocol), group, protocol, rng)
    folder.mkdir(parents=True)
    rows = [
        {"time_s": f"{s:.6f}", "code": codes[label], "label": label, "phase": phase, "sent_ok": "true", "detail": ""}
        for s, label, phase in sorted(events, key=lambda e: e[0])
    ]
    _write_csv(folder / "events.csv", EVENT_COLUMNS, rows)
    _write_csv(folder / "responses.csv", RESPONSE_COLUMNS, responses)
    SessionRecord(folder / RECORD_FILE).update(
        participant=participant, session=session, run=1, group=group, status="completed",
        phases=phase_times, marker_codes=codes, simulated=True,
    )  # fmt: skip
    return folder


def _run_timeline(phases, group: str, protocol, rng) -> tuple[list, list[dict], list[dict]]:
    """The events (time, label, phase), answers and phase times of one simulated session."""
    from experiment.defaults import STATE_QUESTIONNAIRE
    from experiment.questionnaires import load_questionnaire

    questionnaire = load_questionnaire(STATE_QUESTIONNAIRE)
    sync_s = protocol.markers.sync_interval_s
    events, responses, phase_times = [], [], []
    t = 2.0 + rng.uniform(0, 1)
    events.append((t, "session_start", ""))
    for name, kind, seconds in phases:
        start = t + rng.uniform(2, 6)
        events.append((start, f"{name}_start", name))
        if kind == "audio":
            events.append((start + 0.05, "audio_onset", name))
            events += [(start + 0.05 + s, "sync", name) for s in np.arange(sync_s, seconds, sync_s)]
            events.append((start + 0.05 + seconds, "audio_offset", name))
        if kind == "questionnaires":
            onset = start + 5
            shift = SELF_REPORT_EFFECTS.get(group, 0.0) if name == "post" else 0.0
            for position, item in enumerate(questionnaire.items, 1):
                rt = rng.uniform(2.5, 6.0)
                events.append((onset, "item_onset", name))
                responses.append(_response(onset, rt, name, questionnaire.id, item, position, shift, rng))
                onset += rt + 0.3
        end = start + seconds
        events.append((end, f"{name}_end", name))
        phase_times.append({"name": name, "kind": kind, "start_s": round(start, 6), "end_s": round(end, 6)})
        t = end
    events.append((t + 0.5, "session_end", ""))
    return events, responses, phase_times


def _response(onset, rt, phase, questionnaire_id, item, position, shift, rng) -> dict:
    if item.response == "likert":
        value = int(np.clip(round(rng.normal((item.points + 1) / 2 + shift / 25, 1.0)), 1, item.points))
    else:
        signed = -shift if item.reverse else shift
        value = int(np.clip(round(rng.normal(50 + signed, 12)), 0, 100))
    return {
        "time_s": f"{onset + rt:.6f}",
        "phase": phase,
        "questionnaire": questionnaire_id,
        "item": item.id,
        "value": value,
        "rt_s": f"{rt:.6f}",
        "onset_s": f"{onset:.6f}",
        "input": "mouse",
        "position": position,
        "response_type": item.response,
    }


def _write_csv(path: Path, columns, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)


def random_participant(rng, seed: int, fault: str | None = None) -> Participant:
    return Participant(
        hr_bpm=float(rng.uniform(60, 82)),
        rmssd_ms=float(rng.uniform(25, 60)),
        scl_us=float(rng.uniform(2, 10)),
        scr_per_min=float(rng.uniform(1.0, 3.5)),
        drift_ppm=float(rng.uniform(-60, 60)),
        offset_s=float(rng.uniform(3, 30)),
        fault=fault,
        seed=seed,
    )
