"""A 0-100 visual analogue scale: one item per screen, mouse or keyboard.

No marker is shown until the participant chooses a point (a preset marker anchors answers).
Mouse: click or drag on the line, then click Continue. Keyboard: left/right move by 1,
up/down by 10 (the first press places the marker in the middle), Enter continues.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiment.questionnaires import VAS_MAX, VAS_MIN, Item
from experiment.ui.display import Display

LINE_HALF_WIDTH = 0.5  # height units: the line spans -0.5..0.5
LINE_Y = -0.05
BUTTON_POS = (0, -0.3)
BUTTON_SIZE = (0.3, 0.08)
KEY_STEPS = {"left": -1, "right": 1, "down": -10, "up": 10}
SUBMIT_KEYS = ("return", "num_enter")


@dataclass(frozen=True)
class Answer:
    value: int
    onset_s: float
    time_s: float
    input: str

    @property
    def rt_s(self) -> float:
        return self.time_s - self.onset_s


class VisualAnalogueScale:
    def __init__(self, display: Display) -> None:
        self.display = display
        v = display.visual
        win = display.win
        fg = display.settings.foreground
        self.line = v.Line(
            win, start=(-LINE_HALF_WIDTH, LINE_Y), end=(LINE_HALF_WIDTH, LINE_Y), lineColor=fg, lineWidth=4
        )
        self.ticks = [
            v.Line(win, start=(x, LINE_Y - 0.02), end=(x, LINE_Y + 0.02), lineColor=fg, lineWidth=4)
            for x in (-LINE_HALF_WIDTH, LINE_HALF_WIDTH)
        ]
        self.marker = v.Rect(win, width=0.012, height=0.07, fillColor="#ffb000", lineColor=None)
        self.value_text = display.text("", height=0.035, color="#ffb000")
        self.button = v.Rect(
            win, width=BUTTON_SIZE[0], height=BUTTON_SIZE[1], pos=BUTTON_POS, fillColor="#4a6fa5", lineColor=None
        )
        self.button_disabled = v.Rect(
            win, width=BUTTON_SIZE[0], height=BUTTON_SIZE[1], pos=BUTTON_POS, fillColor="#505050", lineColor=None
        )
        self.button_text = display.text("Continue", pos=BUTTON_POS, height=0.04)
        self.hint = display.text(
            "Click on the line, or use the arrow keys. Then press Enter or click Continue.",
            pos=(0, -0.42),
            height=0.025,
            color="#a0a0a0",
        )

    @staticmethod
    def value_at(x: float) -> int:
        fraction = (x + LINE_HALF_WIDTH) / (2 * LINE_HALF_WIDTH)
        return int(round(min(max(fraction, 0.0), 1.0) * (VAS_MAX - VAS_MIN) + VAS_MIN))

    @staticmethod
    def x_of(value: int) -> float:
        return (value - VAS_MIN) / (VAS_MAX - VAS_MIN) * 2 * LINE_HALF_WIDTH - LINE_HALF_WIDTH

    def _on_line(self, pos) -> bool:
        return abs(pos[0]) <= LINE_HALF_WIDTH + 0.03 and abs(pos[1] - LINE_Y) <= 0.06

    def _on_button(self, pos) -> bool:
        return abs(pos[0] - BUTTON_POS[0]) <= BUTTON_SIZE[0] / 2 and abs(pos[1] - BUTTON_POS[1]) <= BUTTON_SIZE[1] / 2

    def ask(self, item: Item, on_onset, shot: str) -> Answer:
        """Show ``item`` until answered; ``on_onset`` runs at the first flip (the onset marker)."""
        d = self.display
        question = d.text(item.text, pos=(0, 0.2), height=d.settings.text_height * 1.1)
        low = d.text(item.anchor_low, pos=(-LINE_HALF_WIDTH, LINE_Y - 0.07), height=0.03, wrap=0.3)
        high = d.text(item.anchor_high, pos=(LINE_HALF_WIDTH, LINE_Y - 0.07), height=0.03, wrap=0.3)
        value: int | None = None
        used_mouse = used_keys = False
        # A button held down from the previous screen must be released before it counts,
        # so one click can never answer two items.
        mouse_armed = not any(d.mouse.getPressed())
        d.clear_input()
        if d.autopilot is not None:
            d.autopilot.on_screen("vas", item=item)
        onset_s = None
        while True:
            stims = [question, self.line, *self.ticks, low, high, self.hint]
            if value is not None:
                self.marker.pos = (self.x_of(value), LINE_Y)
                self.value_text.text = str(value)
                self.value_text.pos = (self.x_of(value), LINE_Y + 0.07)
                stims += [self.marker, self.value_text, self.button, self.button_text]
            else:
                stims += [self.button_disabled, self.button_text]
            flip_s = d.frame(
                stims, on_flip=on_onset if onset_s is None else None, shot=shot if value is not None else None
            )
            onset_s = flip_s if onset_s is None else onset_s

            for name, t in d.keys(tuple(KEY_STEPS) + SUBMIT_KEYS):
                if name in SUBMIT_KEYS and value is not None:
                    return Answer(value, onset_s, t, _input_name(used_mouse, used_keys))
                if name in KEY_STEPS:
                    used_keys = True
                    value = 50 if value is None else min(VAS_MAX, max(VAS_MIN, value + KEY_STEPS[name]))

            pressed = d.mouse.getPressed()[0]
            if not pressed:
                mouse_armed = True
            elif mouse_armed:
                pos = d.mouse.getPos()
                if self._on_line(pos):
                    used_mouse = True
                    value = self.value_at(pos[0])
                elif value is not None and self._on_button(pos):
                    return Answer(value, onset_s, d.clock.now(), _input_name(used_mouse, used_keys))


def _input_name(used_mouse: bool, used_keys: bool) -> str:
    if used_mouse and used_keys:
        return "mouse+keyboard"
    return "mouse" if used_mouse else "keyboard"
