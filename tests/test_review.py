"""The review pages in a real browser (Debian's headless Chromium through Selenium): a full-length
26-minute, 1000 Hz recording's page loads fast and draws; served by ``python -m experiment
review``, clicks on real elements become lines of the corrections file, undo takes them back,
re-measure rewrites the page; the report and a review page are photographed (into docs/images
when EXPERIMENT_SCREENSHOTS names that folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from experiment.analysis import simulate
from experiment.analysis.corrections import read_corrections

LOAD_LIMIT_S = 3.0


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two full-length simulated sessions (the shipped protocol's 26 minutes), analysed."""
    root = tmp_path_factory.mktemp("review")
    rng = np.random.default_rng(11)
    for n, group in ((1, "CBS"), (2, "RUM")):
        folder = simulate.make_session(root / "data", f"P00{n}", group, rng)
        simulate.render(folder, root / "physio", simulate.random_participant(rng, n))
    result = run("analyse", "--data-dir", root / "data", "--physio-dir", root / "physio", "--out", root / "out")
    assert result.returncode == 0, result.stderr
    return root


def run(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "experiment", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture
def server(study):
    """``python -m experiment review`` on a free port; stopped by its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiment", "review", "--out", str(study / "out"), "--no-browser"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("Review pages at http://127.0.0.1:"), line + proc.stderr.read()
    yield line.split()[3].removesuffix("/index.html")
    proc.terminate()
    proc.communicate(timeout=10)  # its output read and its pipes closed


def open_page(browser, url: str) -> float:
    started = time.perf_counter()
    browser.get(url)
    while not browser.execute_script("return Boolean(window.review && window.review.ready)"):
        assert time.perf_counter() - started < 30, "the page never finished drawing"
        time.sleep(0.01)
    return time.perf_counter() - started


def inked_pixels(browser, canvas_id: str) -> int:
    return browser.execute_script(
        """const c = document.getElementById(arguments[0]);
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++; return n;""",
        canvas_id,
    )


def click_at(browser, time_s: float, drag_to_s: float | None = None) -> None:
    """A click (or a drag) on the ECG trace at a recording time, by the mouse, as a person does."""
    canvas = browser.find_element(By.ID, "ecg")
    half = canvas.size["width"] / 2
    x = browser.execute_script("return window.review.xOf(arguments[0])", time_s)
    actions = ActionChains(browser).move_to_element_with_offset(canvas, round(x - half), 10)
    if drag_to_s is None:
        actions.click()
    else:
        to_x = browser.execute_script("return window.review.xOf(arguments[0])", drag_to_s)
        actions.click_and_hold().move_by_offset(round(to_x - x), 0).release()
    actions.perform()


def corrections_lines(study: Path, expected: int, timeout_s: float = 5.0):
    path = study / "physio" / "corrections" / "sub-P001_ses-1_corrections.csv"
    deadline = time.monotonic() + timeout_s
    while True:
        lines = read_corrections(path).lines
        if len(lines) == expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.timing  # a load time: measured alone, not beside four sessions competing for two cores
def test_a_26_minute_recording_page_loads_fast_offline_and_draws(study, browser):
    page = study / "out" / "review" / "sub-P001_ses-1.html"
    assert page.stat().st_size < 8e6
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched from the network
    load_s = open_page(browser, page.as_uri())
    assert load_s < LOAD_LIMIT_S, f"{load_s:.2f} s"
    for canvas in ("overview", "ecg", "rr", "eda"):
        assert inked_pixels(browser, canvas) > 2000, canvas
    table = pd.read_csv(study / "out" / "beats" / "sub-P001_ses-1_beats.csv")
    assert len(table) > 1200  # 26 minutes of beats, every one on the page
    assert (
        browser.execute_script("return window.review.beats.length")
        == (~table["class"].isin(["extra", "removed"])).sum()
    )
    # the whole recording at once draws from the decimated copy, quickly
    started = time.perf_counter()
    browser.find_element(By.ID, "whole").click()
    assert browser.execute_script("return window.review.view().span") > 1500
    assert time.perf_counter() - started < 1.0
    rows = browser.find_elements(By.CSS_SELECTOR, "#phases tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]][:2] == ["welcome", "baseline"]
    index = (study / "out" / "review" / "index.html").read_text()
    assert "sub-P001_ses-1.html" in index and "sub-P002_ses-1.html" in index


def test_the_overview_names_each_phase_within_its_own_band(study, browser):
    """Narrow phases (the welcome, the questionnaires) have their names shortened or left out,
    not written over their neighbours' (the table and the jump menu have them whole)."""
    open_page(browser, (study / "out" / "review" / "sub-P001_ses-1.html").as_uri())
    labels = browser.execute_script(
        """const ctx = document.getElementById("overview").getContext("2d"), drawn = [], fillText = ctx.fillText;
        ctx.fillText = function (text, x, y) {
          drawn.push([text, x, this.measureText(text).width]);
          return fillText.call(this, text, x, y);
        };
        document.getElementById("whole").click();
        return drawn;"""
    )
    phases = browser.execute_script(
        "return JSON.parse(document.getElementById('review-data').textContent).phases.map(p => p.phase)"
    )
    names = [text for text, _, _ in labels]
    assert "baseline" in names  # a wide phase keeps its whole name
    assert all(t in phases or (t.endswith("…") and any(p.startswith(t[:-1]) for p in phases)) for t in names)
    for (text, x, width), (following, next_x, _) in pairwise(labels):
        assert x + width <= next_x, f"{text!r} runs into {following!r}"


def test_clicks_in_the_served_page_edit_the_corrections_file(study, browser, server):
    open_page(browser, f"{server}/sub-P001_ses-1.html#t=200,12")
    beats = browser.execute_script("return window.review.beats.map(b => [b.t, b.cls])")
    target = next(t for t, cls in beats if t > 205 and cls == "normal")

    click_at(browser, target)
    (line,) = corrections_lines(study, 1)
    assert line.action == "remove_beat" and abs(line.start_s - target) < 0.002

    browser.find_element(By.ID, "undo").click()
    assert corrections_lines(study, 0) == []

    browser.find_element(By.ID, "note").send_keys("T wave taken for a beat")
    click_at(browser, target)
    click_at(browser, target + 0.5, drag_to_s=target + 2.5)
    remove, exclude = corrections_lines(study, 2)
    assert remove.action == "remove_beat" and remove.note == "T wave taken for a beat"
    assert exclude.action == "exclude" and exclude.start_s == pytest.approx(target + 0.5, abs=0.05)
    assert exclude.end_s == pytest.approx(target + 2.5, abs=0.05)

    browser.execute_script("window.beforeRemeasure = true")
    browser.find_element(By.ID, "remeasure").click()
    deadline = time.monotonic() + 60
    while browser.execute_script("return window.beforeRemeasure === true || !(window.review && window.review.ready)"):
        assert time.monotonic() < deadline, browser.find_element(By.ID, "status").text
        time.sleep(0.2)
    # the page came back measured with the edits: the beat removed, its phase counting one edit
    classes = browser.execute_script("return JSON.parse(document.getElementById('review-data').textContent).beats")
    removed = [t for t, source in zip(classes["time_s"], classes["source"], strict=True) if source == "removed by hand"]
    assert removed == [pytest.approx(target, abs=1e-3)]
    edits = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[5].text
             for r in browser.find_elements(By.CSS_SELECTOR, "#phases tr")[1:]}  # fmt: skip
    assert sum(int(v) for v in edits.values()) == 1


def test_the_report_and_a_review_page_photographed(study, browser, tmp_path):
    folder = Path(os.environ.get("EXPERIMENT_SCREENSHOTS") or tmp_path)
    open_page(browser, (study / "out" / "review" / "sub-P002_ses-1.html").as_uri() + "#t=560,20")
    review = folder / "review_page.png"
    browser.save_screenshot(str(review))
    browser.get((study / "out" / "report.html").as_uri())
    report = folder / "report.png"
    browser.set_window_size(1400, 2600)
    browser.save_screenshot(str(report))
    browser.set_window_size(1400, 1000)
    assert review.stat().st_size > 50_000 and report.stat().st_size > 50_000
