"""A participant driven through the real X input path (xdotool on Xvfb): clicks and keys at
known positions give exactly those answers, and the screen shows each item's text."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
from helpers import (
    find_window,
    pass_checks_and_sound_check,
    read_csv,
    session_dir,
    start_session,
    wait_for,
    write_protocol,
    xdotool,
)
from PIL import Image, ImageGrab

from experiment.ui.scales import BUTTON_POS, SCALE_Y, LikertScale, VasScale

# Planned answers: (value, how). VAS values 0-100, Likert 1-7.
PLAN = {
    "pre": {
        "sc_kind": (12, "click+enter"),
        "crit_harsh": (37, "click+button"),
        "aff_safe": (50, "keys"),
        "sc_cold": (88, "click+enter"),
        "kind_likely": (3, "number"),
    },
    "post": {
        "sc_kind": (95, "click+button"),
        "crit_harsh": (5, "click+enter"),
        "aff_safe": (63, "keys"),
        "sc_cold": (41, "click+button"),
        "kind_likely": (6, "click+button"),
    },
}


class Window:
    """Maps the experiment's height units to screen pixels for xdotool."""

    def __init__(self, window_id: str) -> None:
        self.id = window_id

    def measure(self) -> None:
        # Asked each time: a new window is mapped first and centred afterwards.
        geometry = xdotool("getwindowgeometry", self.id)
        self.x0, self.y0 = map(int, re.search(r"Position: (\d+),(\d+)", geometry).groups())
        self.width, self.height = map(int, re.search(r"Geometry: (\d+)x(\d+)", geometry).groups())

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        self.measure()
        return round(self.x0 + self.width / 2 + x * self.height), round(self.y0 + self.height / 2 - y * self.height)

    def click(self, x: float, y: float) -> None:
        px, py = self.pixel(x, y)
        xdotool("mousemove", "--sync", str(px), str(py))
        xdotool("click", "1")

    def screenshot(self, path: Path) -> np.ndarray:
        self.measure()
        ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).save(path)  # the whole X screen, as a participant sees it
        image = np.asarray(Image.open(path).convert("L")).astype(int)
        return image[self.y0 : self.y0 + self.height, self.x0 : self.x0 + self.width]


def vas_keys(value: int) -> list[str]:
    """The participant uses the keyboard only: first press places 50, then steps."""
    tens, ones = divmod(abs(value - 50), 10)
    coarse, fine = ("Up", "Right") if value >= 50 else ("Down", "Left")
    return ["Right"] + [coarse] * tens + [fine] * ones


def answer(window: Window, item: str, value: int, how: str, likert_points: int = 7) -> None:
    if how == "keys":
        xdotool("key", "--delay", "30", *vas_keys(value), "Return")
        return
    if how == "number":
        xdotool("key", str(value), "Return")
        return
    if item == "kind_likely":  # click the Likert box
        spacing = min(0.12, 1.1 / likert_points - 0.02) + 0.02
        window.click((value - 1 - (likert_points - 1) / 2) * spacing, SCALE_Y)
    else:
        window.click(VasScale.x_of(value), SCALE_Y)
    time.sleep(0.2)
    if how.endswith("enter"):
        xdotool("key", "Return")
    else:
        window.click(*BUTTON_POS)


def test_answers_given_with_mouse_and_keys_are_recorded_exactly(tmp_path):
    assert LikertScale  # the click positions above follow its layout
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5, audio_s=1.0)
    data = tmp_path / "data"
    folder = session_dir(data, "P070")
    proc = start_session(
        "--protocol", str(protocol), "--participant", "P070", "--technician", "AB", "--data-dir", str(data)
    )
    shots: dict[str, np.ndarray] = {}
    try:
        xdotool("windowfocus", "--sync", find_window("New session", process=proc))
        time.sleep(0.3)
        xdotool("key", "Return")  # the dialog is pre-filled
        window = Window(find_window("PsychoPy", process=proc))
        events, responses = folder / "events.csv", folder / "responses.csv"
        pass_checks_and_sound_check(window.id, folder)
        answered = 0
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            onsets = [r for r in read_csv(events) if r["label"] == "item_onset"] if events.exists() else []
            if len(onsets) > answered:
                phase = onsets[answered]["phase"]
                item = onsets[answered]["detail"].split("/")[1]
                time.sleep(0.4)
                shots[f"{phase}/{item}"] = window.screenshot(tmp_path / f"{phase}_{item}.png")
                answer(window, item, *PLAN[phase][item])
                wait_for(lambda n=answered: len(read_csv(responses)) > n, 10, f"the answer to {phase}/{item}")
                answered += 1
            elif "end_start" in (events.read_text() if events.exists() else ""):
                xdotool("key", "space")
                break
            else:
                xdotool("key", "space")  # instructions and rest screens; ignored elsewhere
                time.sleep(0.5)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    rows = read_csv(folder / "responses.csv")
    assert [(r["phase"], r["item"]) for r in rows] == [(p, i) for p in PLAN for i in PLAN[p]]
    for row in rows:
        planned, how = PLAN[row["phase"]][row["item"]]
        assert abs(int(row["value"]) - planned) <= (0 if row["item"] == "kind_likely" else 1), row
        assert row["input"] == ("keyboard" if how in ("keys", "number") else "mouse"), row
    # Each item's text was on the screen: the question band differs between items, the
    # scale band shows the scale, and nothing is drawn outside them but the background.
    question_band = {key: shot[int(shot.shape[0] * 0.2) : int(shot.shape[0] * 0.38)] for key, shot in shots.items()}
    assert all((band > 200).sum() > 500 for band in question_band.values())  # light text on grey
    assert np.abs(question_band["pre/sc_kind"] - question_band["pre/crit_harsh"]).sum() > 10_000
    assert np.array_equal(question_band["pre/sc_kind"] > 200, question_band["post/sc_kind"] > 200)
