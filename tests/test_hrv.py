"""Heart rate and HRV against cardiologist beat annotations (an excerpt of MIT-BIH record 100,
tests/data/ecg/, with its atrial premature beats), also on degraded copies; how each kind of
beat artefact is handled; and the artefact share flagged per value."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import REPO
from hrv_validation import DEGRADATIONS, degrade, detection, five_minute_windows, load_record, ours, truth

from experiment.analysis import pipeline, simulate
from experiment.analysis.ectopy import classify
from experiment.analysis.recorders import Columns

EXCERPT = REPO / "tests" / "data" / "ecg" / "mitdb-100-20min"


@pytest.fixture(scope="module", params=[0, 1], ids=["MLII", "V5"])
def record(request):
    return load_record(EXCERPT, request.param)


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_values_agree_with_the_annotation_within_the_stated_limits(record, kind):
    ecg, rate = degrade(record.ecg_mv, record.rate_hz, kind)
    windows = five_minute_windows(record)
    results, beats = ours(ecg, rate, windows)
    tp, fn, fp = detection(beats.times_s, record.beat_s)
    assert tp / (tp + fn) >= 0.995 and tp / (tp + fp) >= 0.995, (tp, fn, fp)
    for (start, end), (value, result) in zip(windows, results, strict=True):
        expected, ectopic = truth(record, start, end)
        assert 0.01 < ectopic <= 0.05  # atrial premature beats in every window, as the excerpt was chosen
        assert abs(value.hr_bpm - expected.hr_bpm) <= 0.5, (start, value, expected)
        assert abs(value.rmssd_ms / expected.rmssd_ms - 1) <= 0.05, (start, value, expected)
        assert abs(value.hf_ms2 / expected.hf_ms2 - 1) <= 0.10, (start, value, expected)
        assert 1.0 < result.artefact_pct <= 5.0 and result.quality == "ok"


def rr_times(intervals_ms: list[float]) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.asarray(intervals_ms) / 1000)]


def steady(n: int, seed: int = 0) -> list[float]:
    """Sinus rhythm around 800 ms with a breathing rhythm and beat-to-beat noise."""
    rng = np.random.default_rng(seed)
    return list(800 + 30 * np.sin(2 * np.pi * np.arange(n) / 4.5) + rng.normal(0, 8, n))


def test_an_extra_beat_is_removed_and_the_interval_it_split_is_kept():
    rr = steady(120)
    rr[60:61] = [330.0, rr[60] - 330.0]  # a T wave taken for a beat splits interval 60
    classes = classify(rr_times(rr))
    assert classes.extra == 1 and len(classes.times_s) == len(rr)  # one beat fewer than detected
    assert classes.normal.mean() > 0.97 and classes.ectopic == 0


def test_a_missed_beat_leaves_its_long_interval_out():
    rr = steady(120)
    rr[60:62] = [rr[60] + rr[61]]  # the beat between them was not detected
    classes = classify(rr_times(rr))
    assert classes.missed == 1 and not classes.normal[60] and classes.normal[58] and classes.normal[62]


def test_a_premature_beat_leaves_both_its_intervals_out():
    rr = steady(120)
    rr[60], rr[61] = 0.82 * rr[60], rr[61] + 0.18 * rr[60]  # 18% early, compensatory pause
    classes = classify(rr_times(rr))
    assert classes.ectopic == 1
    assert list(np.flatnonzero(~classes.normal)) == [60, 61]


def test_a_sudden_sinus_pause_is_not_taken_for_an_ectopic_beat():
    rr = steady(120)
    rr[61] = rr[60] * 1.22  # a long interval after an ordinary one: nothing came early
    classes = classify(rr_times(rr))
    assert classes.ectopic == 0 and classes.normal[60]


def test_phases_with_more_than_five_percent_artefacts_are_flagged(tmp_path):
    phases = (("welcome", "instructions", 10.0), ("baseline", "rest", 120.0), ("end", "end", 5.0))
    rng = np.random.default_rng(5)
    folder = simulate.make_session(tmp_path / "data", "P001", "NEU", rng, phases=phases)
    person = replace(simulate.random_participant(rng, 3), ectopic_every=12, artefact=False)  # ~8% ectopic
    simulate.render(folder, tmp_path / "physio", person)
    result = pipeline.analyse_session(folder, tmp_path / "physio", Columns())
    baseline = pd.DataFrame(result.phases).set_index("phase").loc["baseline"]
    assert baseline["artefact_pct"] > 5 and baseline["quality"] == "artefacts"
    assert "of beats ectopic, missed or extra" in baseline["reason"]
    truth_rows = pd.read_csv(tmp_path / "physio" / "truth" / "sub-P001_ses-1_truth.csv").set_index("phase")
    # flagged, not spoiled: the values are still those of the normal beats
    assert abs(baseline["hr_bpm"] - truth_rows.loc["baseline", "hr_bpm"]) < 1.0
    assert abs(baseline["rmssd_ms"] / truth_rows.loc["baseline", "rmssd_ms"] - 1) < 0.1
