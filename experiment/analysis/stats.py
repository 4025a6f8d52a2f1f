"""Change from baseline, group summaries with 95% confidence intervals, and the model of change
by group with the paradigm's planned contrasts (each self-compassion condition against each
control condition)."""

from __future__ import annotations

import numpy as np
import pandas as pd

MEASURES = ("hr_bpm", "rmssd_ms", "hf_ms2", "scl_us", "scr_per_min", "scr_amp_us")
USABLE_QUALITY = ("ok", "accepted")  # clean, or flagged and accepted after review
COMPASSION = ("CBS", "LKM")
CONTROLS = ("RUM", "PE", "NEU")


def change_from_baseline(phases: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Each phase's measures minus the same participant's baseline (rows of quality 'ok', or
    flagged and accepted after review, only)."""
    good = phases[phases["quality"].isin(USABLE_QUALITY)]
    keys = ["participant", "session"]
    base = good[good["phase"] == baseline].set_index(keys)[list(MEASURES)]
    changed = good.set_index(keys)
    for measure in MEASURES:
        changed[measure] = changed[measure] - base[measure].reindex(changed.index)
    return changed.reset_index()[["participant", "session", "group", "phase", *MEASURES]]


def summarise(frame: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """n, mean, SD and the t-based 95% CI of each value column per group of ``by``."""
    from scipy import stats

    rows = []
    for key, part in frame.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for value in values:
            data = pd.to_numeric(part[value], errors="coerce").dropna()
            n = len(data)
            mean = data.mean() if n else np.nan
            sd = data.std(ddof=1) if n > 1 else np.nan
            half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) if n > 1 else np.nan
            rows.append(dict(zip(by, key, strict=True)) | {
                "measure": value, "n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half,
            })  # fmt: skip
    return pd.DataFrame(rows)


def contrasts(change: pd.DataFrame, measures: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-way ANOVA of change by group, and each compassion-vs-control contrast, per measure.

    A linear model with one mean per group (``value ~ C(group) - 1``); contrasts are differences
    of group means with the model's pooled error, uncorrected p (planned comparisons; the
    report lists them all so a reader can apply Holm or Bonferroni).
    """
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    anova_rows, contrast_rows = [], []
    for measure in measures:
        data = change[["group", measure]].rename(columns={measure: "value"}).dropna()
        groups = sorted(data["group"].unique())
        if len(groups) < 2 or len(data) <= len(groups):
            continue
        full = smf.ols("value ~ C(group)", data=data).fit()
        table = anova_lm(full, typ=2)
        anova_rows.append({
            "measure": measure, "n": len(data), "df_group": table.loc["C(group)", "df"],
            "df_error": table.loc["Residual", "df"], "F": table.loc["C(group)", "F"],
            "p": table.loc["C(group)", "PR(>F)"],
        })  # fmt: skip
        means = smf.ols("value ~ C(group) - 1", data=data).fit()
        for sc in COMPASSION:
            for control in CONTROLS:
                if sc not in groups or control not in groups:
                    continue
                test = means.t_test(f"C(group)[{sc}] - C(group)[{control}] = 0")
                low, high = np.asarray(test.conf_int()).ravel()
                contrast_rows.append({
                    "measure": measure, "contrast": f"{sc} - {control}",
                    "estimate": float(np.ravel(test.effect)[0]), "se": float(np.ravel(test.sd)[0]),
                    "t": float(np.ravel(test.tvalue)[0]), "p": float(np.ravel(test.pvalue)[0]),
                    "ci_low": low, "ci_high": high,
                })  # fmt: skip
    return pd.DataFrame(anova_rows), pd.DataFrame(contrast_rows)
