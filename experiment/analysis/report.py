"""The results report a researcher opens first, and could put in a supplement.

``report.html`` with its figures beside it: the session minute by minute with the phases shaded
(each group's mean change from its participants' baselines, with a 95% confidence band), the
change during the audio by group with every participant's own value, the statistics in short
labelled tables, the data quality of every recording (artefacts, edits made in review, phases
left out and why) and every correction with its note.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from experiment.analysis.stats import MEASURES, USABLE_QUALITY, change_from_baseline
from experiment.config import GROUP_KEYS

LABELS = {
    "hr_bpm": "Heart rate (bpm)",
    "rmssd_ms": "RMSSD (ms)",
    "hf_ms2": "HF power (ms²)",
    "scl_us": "Skin conductance level (µS)",
    "scr_per_min": "SCRs per minute",
    "scr_amp_us": "SCR amplitude (µS)",
}
COLOURS = {"CBS": "#1b9e77", "LKM": "#66a61e", "RUM": "#d95f02", "PE": "#e7298a", "NEU": "#7570b3"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:24px}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border-bottom:1px solid #e2e2e2;
padding:3px 9px;text-align:right;white-space:nowrap}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.bad{color:#a00}.note{color:#555;font-size:13px}img{max-width:100%}caption{text-align:left;
font-size:13px;color:#555;caption-side:bottom;padding-top:4px}
"""


def _groups(frame: pd.DataFrame) -> list[str]:
    present = set(frame["group"]) if "group" in frame else set()
    return [g for g in GROUP_KEYS if g in present] + sorted(present - set(GROUP_KEYS))


def _ci_half(values: pd.Series) -> float:
    from scipy import stats

    values = values.dropna()
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def change_figure(phases: pd.DataFrame, audio_phase: str, out: Path) -> Path | None:
    """Change from baseline during the audio: group mean with its 95% CI, and each participant."""
    import matplotlib.pyplot as plt

    change = change_from_baseline(phases)
    audio = change[change["phase"] == audio_phase]
    if audio.empty:
        return None
    groups = _groups(audio)
    rng = np.random.default_rng(0)  # the same jitter every run
    fig, axes = plt.subplots(2, (len(MEASURES) + 1) // 2, figsize=(13, 7.2))
    for axis, measure in zip(axes.ravel(), MEASURES, strict=False):
        for x, group in enumerate(groups):
            values = audio.loc[audio["group"] == group, measure].dropna()
            colour = COLOURS.get(group, "#555")
            axis.scatter(x + rng.uniform(-0.18, 0.18, len(values)), values, s=12, color=colour, alpha=0.45, lw=0)
            if len(values):
                axis.errorbar(x + 0.3, values.mean(), yerr=_ci_half(values), fmt="o", color=colour, capsize=4, ms=6)
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(groups)), groups)
        axis.set_title(f"{LABELS[measure]}\nchange from baseline, '{audio_phase}'", fontsize=10)
    fig.tight_layout()
    path = out / "change_by_group.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def timecourse_figure(phases: pd.DataFrame, minutes: pd.DataFrame, out: Path) -> Path | None:
    """Minute by minute across the session's phases (shaded and named): each group's mean change
    from its participants' baselines, with the 95% confidence band."""
    import matplotlib.pyplot as plt

    usable = minutes[minutes["quality"].isin(USABLE_QUALITY)].copy()
    if usable.empty:
        return None
    order = list(dict.fromkeys(phases["phase"]))
    lengths = usable.groupby("phase")["minute"].max().reindex(order).dropna()
    starts = dict(zip(lengths.index, np.r_[0, np.cumsum(lengths.to_numpy())[:-1]], strict=True))
    usable["x"] = usable["phase"].map(starts) + usable["minute"] - 0.5
    baseline = phases[(phases["phase"] == "baseline") & phases["quality"].isin(USABLE_QUALITY)]
    baseline = baseline.set_index(["participant", "session"])
    keys = pd.MultiIndex.from_frame(usable[["participant", "session"]])
    fig, axes = plt.subplots(3, 1, figsize=(11, 8.6), sharex=True)
    for axis, measure in zip(axes, ("hr_bpm", "scl_us", "scr_per_min"), strict=True):
        usable["change"] = usable[measure].to_numpy() - baseline[measure].reindex(keys).to_numpy()
        for n, (phase, start) in enumerate(starts.items()):
            if n % 2 == 0:
                axis.axvspan(start, start + lengths[phase], color="#f0f0f0", lw=0)
            if measure == "hr_bpm":
                axis.text(start + 0.1, 1.01, phase, transform=axis.get_xaxis_transform(), fontsize=8, va="bottom")
        for group in _groups(usable):
            by_minute = usable[usable["group"] == group].groupby("x")["change"]
            mean, half = by_minute.mean(), by_minute.apply(_ci_half)
            colour = COLOURS.get(group, "#555")
            axis.plot(mean.index, mean.values, color=colour, label=group, lw=1.6)
            axis.fill_between(mean.index, mean - half, mean + half, color=colour, alpha=0.15, lw=0)
        axis.axhline(0, color="black", lw=0.6)
        axis.set_ylabel(f"{LABELS[measure]}\nchange from baseline", fontsize=9)
    axes[0].legend(fontsize=8, ncol=len(_groups(usable)), loc="upper left")
    axes[-1].set_xlabel("minute of the session (phases shaded and named; questionnaire phases as long as the longest)")
    fig.tight_layout()
    path = out / "timecourse.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quality_table(phases: pd.DataFrame, problems: pd.DataFrame, corrections: pd.DataFrame) -> pd.DataFrame:
    """Per recording: artefacts, edits made in review, the phases left out of the statistics and why."""
    rows = []
    for (participant, session), part in phases.groupby(["participant", "session"], sort=True):
        artefacts = pd.to_numeric(part["artefact_pct"], errors="coerce")
        # (the closing screen's few seconds are never enough beats: not news worth a line each)
        left_out = part[~part["quality"].isin(USABLE_QUALITY) & (part["kind"] != "end")]
        accepted = part[part["quality"] == "accepted"]
        edits = corrections[(corrections["participant"] == participant) & (corrections["session"] == session)]
        why = [f"{phase}: {reason}" for phase, reason in zip(left_out["phase"], left_out["reason"], strict=True)]
        rows.append({
            "participant": participant, "session": session, "group": part["group"].iloc[0],
            "artefact % (median)": round(float(artefacts.median()), 1),
            "artefact % (worst)": round(float(artefacts.max()), 1),
            "edits in review": len(edits), "reviewed": "yes" if int(part["reviewed"].max() or 0) else "no",
            "phases left out": "; ".join(why), "accepted after review": ", ".join(accepted["phase"]),
        })  # fmt: skip
    for problem in problems.itertuples():
        if not any(r["participant"] == problem.participant and r["session"] == problem.session for r in rows):
            rows.append(
                {"participant": problem.participant, "session": problem.session, "phases left out": problem.reason}
            )
    return pd.DataFrame(rows)


def pivot(frame: pd.DataFrame, rows: str, columns: str, cell, row_order=None) -> pd.DataFrame:
    """A short table: one row per ``rows`` value, one column per ``columns`` value, ``cell(row)`` in each."""
    if frame.empty:
        return pd.DataFrame()
    table = frame.assign(cell=frame.apply(cell, axis=1)).pivot(index=rows, columns=columns, values="cell")
    order = [m for m in MEASURES if m in table.columns] + [c for c in table.columns if c not in MEASURES]
    table = table.reindex(row_order or list(dict.fromkeys(frame[rows])), columns=order)
    table.columns.name = None
    return table.rename(columns=lambda c: LABELS.get(c, str(c).replace("_", " "))).reset_index()


def _mean_ci(r) -> str:
    interval = "" if pd.isna(r["ci_low"]) else f" [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"  # none from one value
    return f"{r['mean']:.2f}{interval} ({r['n']})"


def _difference(r) -> str:
    return f"{r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}], p {_p(r['p'])}"


def labelled(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    frame = frame.copy()
    if "measure" in frame:
        frame["measure"] = frame["measure"].map(lambda m: LABELS.get(m, str(m).replace("_", " ")))
    return frame.rename(columns=names)


def _p(value) -> str:
    return "" if pd.isna(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def write_report(out: Path, outputs: dict[str, pd.DataFrame], audio_phase: str, note: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    phases, problems = outputs["physio_phases.csv"], outputs["problems.csv"]
    pictures = []
    if not phases.empty:
        pictures = [
            ("The session minute by minute", timecourse_figure(phases, outputs["physio_minutes.csv"], out)),
            (f"Change from baseline during '{audio_phase}', by group", change_figure(phases, audio_phase, out)),
        ]
    anova, contrasts = outputs["anova.csv"], outputs["contrasts.csv"]
    if len(anova):
        anova = anova.assign(p=anova["p"].map(_p))
    summary, selfreport = outputs["group_summary.csv"], outputs["selfreport_summary.csv"]
    physiology = contrasts[contrasts["measure"].isin(MEASURES)] if len(contrasts) else pd.DataFrame()
    questionnaires = contrasts[~contrasts["measure"].isin(MEASURES)] if len(contrasts) else pd.DataFrame()
    groups = _groups(summary) if len(summary) else None

    def of_phase(name: str) -> pd.DataFrame:  # (an empty summary has no columns at all)
        return summary[summary["phase"] == name] if "phase" in summary else pd.DataFrame()

    tables = [
        (f"Change from baseline during '{audio_phase}': mean [95% CI] (n)",
         pivot(of_phase(audio_phase), "group", "measure", _mean_ci, groups)),
        ("Change from baseline during 'recovery': mean [95% CI] (n)",
         pivot(of_phase("recovery"), "group", "measure", _mean_ci, groups)),
        ("Self-report change (post - pre): mean [95% CI] (n)",
         pivot(selfreport, "group", "subscale", _mean_ci, groups)),
        ("One-way ANOVA of change by group (audio phase; self-report: post - pre)",
         labelled(anova, {"df_group": "df (group)", "df_error": "df (error)"})),
        ("Planned contrasts, physiology: difference in change [95% CI], uncorrected p",
         pivot(physiology, "contrast", "measure", _difference)),
        ("Planned contrasts, self-report: difference in change [95% CI], uncorrected p",
         pivot(questionnaires, "contrast", "measure", _difference)),
        ("Data quality per recording", quality_table(phases, problems, outputs["corrections.csv"])),
        ("Corrections made in review (from the corrections files)", outputs["corrections.csv"]),
        ("Clock alignment of each recording to its session", outputs["alignment.csv"]),
    ]  # fmt: skip
    return write_html(out, tables, [(t, p) for t, p in pictures if p is not None], problems.to_dict("records"), note)


def write_html(out: Path, tables, pictures, problems: list[dict], note: str) -> Path:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Self-compassion paradigm: results</title>",
        f"<style>{STYLE}</style><h1>Self-compassion paradigm: results</h1><p>{html.escape(note)}</p>",
        "<p class='note'>Every recording's beats and what the analysis made of them: <a href='review/index.html'>"
        "review pages</a> (corrections: <code>python -m experiment review --out</code> this folder). The tables "
        "beside this page hold every value (physio_phases.csv, physio_minutes.csv, group_summary.csv, ...).</p>",
    ]
    if problems:
        parts.append("<h2 class='bad'>Sessions with problems (the tables hold what could be measured)</h2><ul>")
        for problem in problems:
            who = html.escape(f"sub-{problem['participant']} ses-{problem['session']}")
            parts.append(f"<li><b>{who}</b>: {html.escape(str(problem['reason']))}</li>")
        parts.append("</ul>")
    for title, picture in pictures:
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{picture.name}' alt='{html.escape(title)}'>")
    for title, table in tables:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if table is None or table.empty:
            parts.append("<p class='note'>none</p>")
            continue
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="", border=0))
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
