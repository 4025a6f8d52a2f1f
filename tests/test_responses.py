"""Skin-conductance responses against the simulator's truth (known onsets and amplitudes, with
noise, mains hum, tonic drift between phases and movement steps), and the detector's rules on
made-up signals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import REPO

from experiment.analysis.responses import detect_responses

RATE_HZ = 1000


def response(t: np.ndarray, onset: float, amplitude: float) -> np.ndarray:
    after = np.clip(t - onset, 0, None)
    shape = np.exp(-after / 4.0) - np.exp(-after / 0.75)
    return amplitude * shape / 0.5524  # the shape's own peak rise


def detect(eda: np.ndarray, min_amplitude_us: float = 0.05):
    t = np.arange(len(eda)) / RATE_HZ
    return detect_responses(t, eda, np.ones(len(eda), bool), RATE_HZ, min_amplitude_us)


def test_a_response_is_found_with_its_onset_and_amplitude_and_a_step_is_not():
    t = np.arange(60 * RATE_HZ) / RATE_HZ
    rng = np.random.default_rng(0)
    eda = 5.0 + response(t, 10.0, 0.3) + response(t, 40.0, 0.04) + rng.normal(0, 0.003, len(t))
    eda[(t >= 25.0) & (t < 29.0)] += 0.3  # an electrode pressed for 4 s: a step, not a response
    found = detect(eda)
    assert len(found.onset_s) == 1  # the 0.04 µS one is below the minimum amplitude
    assert found.onset_s[0] == pytest.approx(10.0, abs=0.3) and found.amplitude_us[0] == pytest.approx(0.3, rel=0.05)
    smaller = detect(eda, min_amplitude_us=0.02)
    assert len(smaller.onset_s) == 2 and smaller.amplitude_us[1] == pytest.approx(0.04, rel=0.15)


def test_responses_riding_on_each_other_are_told_apart():
    t = np.arange(40 * RATE_HZ) / RATE_HZ
    eda = 3.0 + response(t, 10.0, 0.5) + response(t, 14.0, 0.3)
    found = detect(eda)
    assert len(found.onset_s) == 2 and found.onset_s[1] == pytest.approx(14.0, abs=0.4)


def test_a_slow_tonic_rise_is_no_response():
    t = np.arange(120 * RATE_HZ) / RATE_HZ
    eda = 4.0 + 0.8 / (1 + np.exp(-(t - 60) / 6))  # the level moving by 0.8 µS over half a minute
    assert len(detect(eda).onset_s) == 0


@pytest.mark.slow
def test_frequency_and_amplitude_per_phase_match_the_simulators_truth(tmp_path):
    """The issue's criterion: within 15% (or 0.3/min) and 20% in at least 90% of cells."""
    made = subprocess.run(
        [sys.executable, "-m", "experiment", "simulate-recorder", "--data-dir", str(tmp_path / "data"),
         "--physio-dir", str(tmp_path / "physio"), "--make-sessions", "10", "--seed", "7"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    analysed = subprocess.run(
        [sys.executable, "-m", "experiment", "analyse", "--data-dir", str(tmp_path / "data"),
         "--physio-dir", str(tmp_path / "physio"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert analysed.returncode == 0, analysed.stderr
    measured = pd.read_csv(tmp_path / "out" / "physio_phases.csv", dtype={"participant": str})
    truth = pd.concat(
        pd.read_csv(path, dtype={"participant": str}) for path in (tmp_path / "physio" / "truth").glob("*_truth.csv")
    )
    cells = measured.merge(truth, on=["participant", "phase"], suffixes=("", "_truth"))
    cells = cells[cells["kind"] != "end"]  # the closing screen's seconds
    assert len(cells) == 60 and (measured["scr_min_amplitude_us"] == 0.05).all()
    rate_ok = (cells["scr_per_min"] - cells["scr_per_min_truth"]).abs() <= np.maximum(
        0.15 * cells["scr_per_min_truth"], 0.3
    )
    amplitude_ok = ((cells["scr_amp_us"] / cells["scr_amp_us_truth"] - 1).abs() <= 0.2) | (cells["scr_n_truth"] == 0)
    assert (rate_ok & amplitude_ok).mean() >= 0.9, cells[~(rate_ok & amplitude_ok)].to_string()

    # movement steps are never counted: no response begins on one
    for path in (tmp_path / "physio" / "truth").glob("*_responses.csv"):
        events = pd.read_csv(path)
        steps = events.loc[events["kind"] != "response", "onset_s"]
        participant = path.name.split("_")[0]
        page = (tmp_path / "out" / "review" / f"{participant}_ses-1.html").read_text()
        onsets = _page_responses(page)
        for step in steps:
            assert not ((onsets > step - 0.5) & (onsets < step + 4.5)).any(), (participant, step)


def _page_responses(page: str) -> np.ndarray:
    import json
    import re

    data = json.loads(re.search(r'<script id="review-data" type="application/json">(.*?)</script>', page, re.S)[1])
    return np.asarray(data["responses"]["onset_s"])
