"""Figures and the HTML report a researcher opens first."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from experiment.analysis.stats import USABLE_QUALITY
from experiment.config import GROUP_KEYS

LABELS = {
    "hr_bpm": "Heart rate (bpm)",
    "rmssd_ms": "RMSSD (ms)",
    "hf_ms2": "HF power (ms²)",
    "scl_us": "Skin conductance level (µS)",
}


def figures(summary: pd.DataFrame, minutes: pd.DataFrame, audio_phase: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    audio = summary[summary["phase"] == audio_phase]
    fig, axes = plt.subplots(1, len(LABELS), figsize=(4 * len(LABELS), 3.6))
    for axis, (measure, label) in zip(axes, LABELS.items(), strict=True):
        rows = (
            audio[audio["measure"] == measure]
            .set_index("group")
            .reindex([g for g in GROUP_KEYS if g in set(audio["group"])])
        )
        x = np.arange(len(rows))
        errors = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
        axis.bar(x, rows["mean"], yerr=errors, capsize=4, color="#7aa6c2")
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set_xticks(x, rows.index)
        axis.set_title(f"{label}\nchange from baseline", fontsize=10)
    fig.tight_layout()
    paths.append(out / "change_by_group.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    if not minutes.empty:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        ok = minutes[minutes["quality"].isin(USABLE_QUALITY)].copy()
        ok["t"] = ok.groupby(["participant", "session"]).cumcount() + 1
        for axis, measure in zip(axes, ("hr_bpm", "scl_us"), strict=True):
            for group, part in ok.groupby("group"):
                course = part.groupby("t")[measure].mean()
                axis.plot(course.index, course.values, label=group)
            axis.set_xlabel("minute of the session (rest, questionnaires, audio, ...)")
            axis.set_title(f"{LABELS[measure]} minute by minute", fontsize=10)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        paths.append(out / "timecourse.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def write_html(
    out: Path, tables: dict[str, pd.DataFrame], pictures: list[Path], problems: list[dict], note: str
) -> Path:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Self-compassion paradigm: results</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}h2{margin-top:1.6em}"
        ".bad{color:#a00}</style>",
        "<h1>Self-compassion paradigm: results</h1>",
        f"<p>{html.escape(note)}</p>",
    ]
    if problems:
        parts.append("<h2 class='bad'>Sessions with problems (the tables hold what could be measured)</h2><ul>")
        parts += [
            f"<li><b>sub-{html.escape(p['participant'])} ses-{p['session']}</b>: {html.escape(p['reason'])}</li>"
            for p in problems
        ]
        parts.append("</ul>")
    for picture in pictures:
        parts.append(f"<h2>{html.escape(picture.stem.replace('_', ' '))}</h2><img src='{picture.name}' width='100%'>")
    for title, table in tables.items():
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="", border=0))
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
