"""The recorder's signals checked from their last seconds: a real ECG (MIT-BIH record 100, with
its cardiologists' beat annotations) and its faults, skin conductance and its faults, the rate."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REPO

from experiment.recorder.signals import check_ecg, check_eda, measured_rate_hz, rate_problem

EXCERPT = REPO / "tests" / "data" / "ecg" / "mitdb-100-20min"


@pytest.fixture(scope="module")
def ecg():
    """Ten seconds of the annotated lead II and the annotations' own heart rate over them."""
    import wfdb

    record = wfdb.rdrecord(str(EXCERPT), channels=[0], sampto=3600)
    notes = wfdb.rdann(str(EXCERPT), "atr", sampto=3600)
    beats_s = notes.sample[np.isin(notes.symbol, ["N", "A", "V"])] / record.fs
    return record.p_signal[:, 0], record.fs, 60.0 / np.median(np.diff(beats_s))


def test_a_real_ecg_gives_its_heart_rate_and_a_quality(ecg):
    samples, rate_hz, truth_bpm = ecg
    check = check_ecg(samples, rate_hz, "ECG100")
    assert check.ok, check.problem
    assert check.value == pytest.approx(truth_bpm, abs=2.0)
    assert check.quality > 0.8


def test_a_flat_or_clipped_ecg_is_named_with_what_to_check(ecg):
    samples, rate_hz, _ = ecg
    flat = check_ecg(np.full(samples.size, 0.3), rate_hz, "ECG100")
    clipped = check_ecg(np.clip(samples, None, np.percentile(samples, 90)), rate_hz, "ECG100")
    assert flat.problem.startswith("The ECG channel 'ECG100' is flat: check that the electrodes")
    assert "clipped" in clipped.problem and "gain" in clipped.problem


def test_skin_conductance_in_range_is_its_level_and_out_of_range_is_said():
    rng = np.random.default_rng(1)
    drifting = 4.0 + np.linspace(0, 0.3, 1000) + rng.normal(0, 0.002, 1000)
    assert check_eda(drifting, "EDA").ok and check_eda(drifting, "EDA").value == pytest.approx(4.15, abs=0.01)
    assert "is flat" in check_eda(np.full(1000, 4.0), "EDA").problem
    off = check_eda(0.01 + rng.normal(0, 0.001, 1000), "EDA")
    assert off.problem.startswith("The EDA channel 'EDA' reads 0.01 µS, outside 0.05-100 µS")


def test_a_stream_that_loses_samples_is_told_from_one_that_keeps_its_rate():
    stamps = np.arange(0, 10, 1 / 1000)
    assert measured_rate_hz(stamps) == pytest.approx(1000, rel=1e-6)
    assert rate_problem("BioRadio", 1000, measured_rate_hz(stamps)) == ""
    assert "delivers 950.0 samples/s, not its nominal 1000" in rate_problem("BioRadio", 1000, 950.0)
