"""Review pages: one per recording, showing what the analysis decided, and an index of them.

``OUT/review/sub-<ID>_ses-<N>.html`` holds everything it draws (no network, no other file): the
ECG at full rate (int16 steps, deflated, base64; a 26-minute 1000 Hz recording is about 2.7 MB), every beat with
its class, the intervals left out shaded with their reason, the phases, the RR tachogram, the
EDA (10 Hz), the phase values and the corrections made. The page draws only what is in view:
min/max per pixel column from a decimated copy when zoomed out, every sample when zoomed in.

Opened from disk it is for looking; served by ``python -m experiment review`` (review_server.py)
the same page edits: a click on a beat removes it, a click on the trace adds one, a drag
excludes a span, each written to the recording's corrections file at once.
"""

from __future__ import annotations

import base64
import html
import json
import zlib
from pathlib import Path

import numpy as np

from experiment.analysis.corrections import Corrections
from experiment.datastore import replaced_whole

TEMPLATE = Path(__file__).with_name("review_page.html")
EDA_RATE_HZ = 10
REVIEW_FOLDER = "review"
MANIFEST = "review.json"  # where the data came from, for the review server's re-measure


def page_name(participant: str, session: int, run_label: str = "") -> str:
    return f"sub-{participant}_ses-{session}{run_label}.html"


def write_review_page(
    path: Path,
    result,
    recording,
    windows: dict[str, tuple[float, float]],
    corrections: Corrections,
    clock: str = "recording time",
) -> None:
    """The page of one analysed recording (``result``: pipeline.SessionResult); ``clock``: what its
    times are (a BIDS dataset's recordings are on the session clock)."""
    data = {
        "participant": result.participant,
        "session": result.session,
        "group": result.group,
        "recording": recording.path.name,
        "clock": clock,
        "ecg": _ecg(recording.ecg),
        "eda": _eda(recording.eda),
        "beats": _columns(result.beats, ("time_s", "class", "used", "source")),
        "phases": _phases(result.phases, windows),
        "responses": _responses(result.responses),
        "corrections": [
            {"line": c.line, "action": c.action, "start_s": c.start_s, "end_s": c.end_s, "note": c.note}
            for c in corrections.lines
        ],
        "corrections_file": str(corrections.path or ""),
        "problem": result.problem or "",
    }
    title = f"Review: sub-{result.participant} ses-{result.session}"
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", _script_json(data))
    with replaced_whole(path, "choose an --out folder you can write to") as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_review_index(folder: Path, results, manifest: dict) -> Path:
    """``index.html``: every recording with its quality, artefact share and edits."""
    rows = []
    for r in sorted(results, key=lambda r: (r.participant, r.session)):
        name = page_name(r.participant, r.session, r.run_label)
        flagged = [p["phase"] for p in r.phases if p.get("quality") not in ("ok", "accepted")]
        artefacts = [float(p["artefact_pct"]) for p in r.phases if p.get("artefact_pct") not in ("", None)]
        shown = f"<a href='{name}'>{name.removesuffix('.html')}</a>" if (folder / name).exists() else name
        worst = f"{max(artefacts):.1f}" if artefacts else ""
        beats = sum(1 for b in r.beats if b["source"] != "removed by hand")
        rows.append(
            f"<tr><td>{shown}</td><td>{html.escape(r.group)}</td><td>{beats}</td><td>{worst}</td>"
            f"<td>{html.escape(', '.join(flagged)) or 'none'}</td><td>{len(r.edits)}</td>"
            f"<td class='problem'>{html.escape(r.problem or r.refusal or '')}</td></tr>"
        )
    if "bids" in manifest:
        use = (
            f"made from the BIDS dataset {html.escape(manifest['bids'])}, they are for looking: corrections are made "
            "on the raw recordings (<code>analyse --data-dir ... --physio-dir ...</code>, then <code>review</code>) "
            "and go with the next export."
        )
    else:
        use = "open it, or run <code>python -m experiment review --out OUT</code> to correct beats in it."
    page = (
        "<!doctype html><meta charset='utf-8'><title>Review: recordings</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}th{background:#f3f3f3}"
        ".problem{color:#a00}</style><h1>Review: recordings</h1>"
        f"<p>{len(results)} recordings. Each page shows every beat and what the analysis made of it; {use}</p>"
        "<table><tr><th>recording</th><th>group</th><th>beats</th><th>worst artefact % (phase)</th>"
        "<th>phases flagged</th><th>corrections</th><th>problem</th></tr>" + "".join(rows) + "</table>"
    )
    path = folder / "index.html"
    with replaced_whole(path, "choose an --out folder you can write to") as tmp:
        tmp.write_text(page, encoding="utf-8")
    with replaced_whole(folder / MANIFEST, "choose an --out folder you can write to") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path


def _ecg(channel) -> dict:
    values = np.asarray(channel.values, dtype=np.float64)
    values = np.nan_to_num(values - np.nanmedian(values))
    scale = max(float(np.max(np.abs(values))), 1e-9) / 32000
    samples = np.round(values / scale).astype("<i2")
    # Sample-to-sample steps (wrapping in 16 bits, undone exactly in the page), deflated: 40%
    # smaller than the samples themselves; the browser inflates them (DecompressionStream).
    steps = np.diff(samples, prepend=np.int16(0)).astype("<i2")
    packed = base64.b64encode(zlib.compress(steps.tobytes(), 1)).decode()
    start = float(channel.time_s[0]) if len(values) else 0.0
    return {"rate": float(channel.rate_hz), "start": start, "scale": scale, "deflated_steps_b64": packed}


def _eda(channel) -> dict | None:
    if channel is None or not len(channel.values):
        return None
    step = max(1, int(round(channel.rate_hz / EDA_RATE_HZ)))
    values = np.asarray(channel.values, dtype=np.float64)
    blocks = np.nan_to_num(values[: len(values) // step * step].reshape(-1, step).mean(axis=1))
    start = float(channel.time_s[0])
    return {"rate": channel.rate_hz / step, "start": start, "values": np.round(blocks, 4).tolist()}


def _responses(responses) -> dict:
    if responses is None:
        return {"onset_s": [], "peak_s": [], "amplitude_us": [], "min_amplitude_us": None}
    return {
        "onset_s": np.round(responses.onset_s, 3).tolist(),
        "peak_s": np.round(responses.peak_s, 3).tolist(),
        "amplitude_us": np.round(responses.amplitude_us, 4).tolist(),
        "min_amplitude_us": responses.min_amplitude_us,
    }


def _columns(rows: list[dict], names: tuple[str, ...]) -> dict:
    return {name: [row[name] for row in rows] for name in names}


def _phases(rows: list[dict], windows: dict[str, tuple[float, float]]) -> list[dict]:
    keep = ("phase", "hr_bpm", "rmssd_ms", "scl_us", "artefact_pct", "quality", "reason", "beats_edited")
    return [
        {k: row.get(k, "") for k in keep} | {"start": windows[row["phase"]][0], "end": windows[row["phase"]][1]}
        for row in rows
        if row["phase"] in windows
    ]


def _script_json(data: dict) -> str:
    # Inside <script type="application/json">: only "</" could end the element early.
    return json.dumps(data, separators=(",", ":"), allow_nan=False, default=_plain).replace("</", "<\\/")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
