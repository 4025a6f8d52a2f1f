"""One questionnaire item per screen: a 0-100 visual analogue scale or Likert buttons.

Both take the mouse and the keyboard, and neither shows a preset answer (a preset marker
anchors answers). VAS: click or drag on the line; left/right move by 1, up/down by 10 (the
first press places the marker in the middle). Likert: click a button or press its number;
left/right move between buttons. Enter or the Continue button goes on - once an answer is
chosen, unless the questionnaire lets items be skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiment.questionnaires import VAS_MAX, VAS_MIN, Item
from experiment.ui.display import Display

LINE_HALF_WIDTH = 0.5  # height units: the VAS line spans -0.5..0.5
SCALE_Y = -0.05
BUTTON_POS = (0, -0.3)
BUTTON_SIZE = (0.3, 0.08)
KEY_STEPS = {"left": -1, "right": 1, "down": -10, "up": 10}
SUBMIT_KEYS = ("return", "num_enter")
MARK_COLOUR = "#ffb000"


@dataclass(frozen=True)
class Answer:
    value: int | None  # None: skipped (only where the questionnaire allows it)
    onset_s: float
    time_s: float
    input: str

    @property
    def rt_s(self) -> float:
        return self.time_s - self.onset_s


class VasScale:
    keys = tuple(KEY_STEPS)

    def __init__(self, display: Display, item: Item) -> None:
        v, win, fg = display.visual, display.win, display.settings.foreground
        self.line = v.Line(
            win, start=(-LINE_HALF_WIDTH, SCALE_Y), end=(LINE_HALF_WIDTH, SCALE_Y), lineColor=fg, lineWidth=4
        )
        self.ticks = [
            v.Line(win, start=(x, SCALE_Y - 0.02), end=(x, SCALE_Y + 0.02), lineColor=fg, lineWidth=4)
            for x in (-LINE_HALF_WIDTH, LINE_HALF_WIDTH)
        ]
        self.anchors = [
            display.text(item.anchor_low, pos=(-LINE_HALF_WIDTH, SCALE_Y - 0.07), height=0.03, wrap=0.3),
            display.text(item.anchor_high, pos=(LINE_HALF_WIDTH, SCALE_Y - 0.07), height=0.03, wrap=0.3),
        ]
        self.marker = v.Rect(win, width=0.012, height=0.07, fillColor=MARK_COLOUR, lineColor=None)
        self.value_text = display.text("", height=0.035, color=MARK_COLOUR)

    @staticmethod
    def value_at_x(x: float) -> int:
        fraction = (x + LINE_HALF_WIDTH) / (2 * LINE_HALF_WIDTH)
        return int(round(min(max(fraction, 0.0), 1.0) * (VAS_MAX - VAS_MIN) + VAS_MIN))

    @staticmethod
    def x_of(value: int) -> float:
        return (value - VAS_MIN) / (VAS_MAX - VAS_MIN) * 2 * LINE_HALF_WIDTH - LINE_HALF_WIDTH

    def stims(self, value: int | None) -> list:
        stims = [self.line, *self.ticks, *self.anchors]
        if value is not None:
            self.marker.pos = (self.x_of(value), SCALE_Y)
            self.value_text.text = str(value)
            self.value_text.pos = (self.x_of(value), SCALE_Y + 0.07)
            stims += [self.marker, self.value_text]
        return stims

    def after_key(self, value: int | None, key: str) -> int:
        return 50 if value is None else min(VAS_MAX, max(VAS_MIN, value + KEY_STEPS[key]))

    def value_at(self, pos) -> int | None:
        on_line = abs(pos[0]) <= LINE_HALF_WIDTH + 0.03 and abs(pos[1] - SCALE_Y) <= 0.06
        return self.value_at_x(pos[0]) if on_line else None


class LikertScale:
    def __init__(self, display: Display, item: Item) -> None:
        v, win = display.visual, display.win
        self.points = item.points
        self.keys = ("left", "right") + tuple(str(n) for n in range(1, min(self.points, 9) + 1))
        self.width = min(0.12, 1.1 / self.points - 0.02)
        spacing = self.width + 0.02
        self.xs = [(n - (self.points - 1) / 2) * spacing for n in range(self.points)]
        self.boxes = [
            v.Rect(
                win,
                width=self.width,
                height=0.09,
                pos=(x, SCALE_Y),
                fillColor="#505050",
                lineColor=display.settings.foreground,
                lineWidth=2,
            )
            for x in self.xs
        ]
        self.numbers = [display.text(str(n + 1), pos=(x, SCALE_Y), height=0.04) for n, x in enumerate(self.xs)]
        self.labels = [
            display.text(label, pos=(x, SCALE_Y - 0.09), height=0.025, wrap=max(self.width, 0.14))
            for x, label in zip(self.xs, item.labels, strict=True)
            if label
        ]

    def stims(self, value: int | None) -> list:
        for n, box in enumerate(self.boxes):
            box.fillColor = MARK_COLOUR if value == n + 1 else "#505050"
        return [*self.boxes, *self.numbers, *self.labels]

    def after_key(self, value: int | None, key: str) -> int:
        if key.isdigit():
            return int(key)
        if value is None:
            return (self.points + 1) // 2
        return min(self.points, max(1, value + (1 if key == "right" else -1)))

    def value_at(self, pos) -> int | None:
        for n, x in enumerate(self.xs):
            if abs(pos[0] - x) <= self.width / 2 and abs(pos[1] - SCALE_Y) <= 0.045:
                return n + 1
        return None


class ItemScreen:
    """Asks one item and returns the answer; the Continue button and hint are shared."""

    def __init__(self, display: Display) -> None:
        self.display = display
        v, win = display.visual, display.win
        self.button = v.Rect(
            win, width=BUTTON_SIZE[0], height=BUTTON_SIZE[1], pos=BUTTON_POS, fillColor="#4a6fa5", lineColor=None
        )
        self.button_disabled = v.Rect(
            win, width=BUTTON_SIZE[0], height=BUTTON_SIZE[1], pos=BUTTON_POS, fillColor="#505050", lineColor=None
        )
        self.button_text = display.text("Continue", pos=BUTTON_POS, height=0.04)
        self.hints = {
            "vas": display.text(
                "Click on the line, or use the arrow keys. Then press Enter or click Continue.",
                pos=(0, -0.42),
                height=0.025,
                color="#a0a0a0",
            ),
            "likert": display.text(
                "Click a box, or press its number. Then press Enter or click Continue.",
                pos=(0, -0.42),
                height=0.025,
                color="#a0a0a0",
            ),
        }

    def _on_button(self, pos) -> bool:
        return abs(pos[0] - BUTTON_POS[0]) <= BUTTON_SIZE[0] / 2 and abs(pos[1] - BUTTON_POS[1]) <= BUTTON_SIZE[1] / 2

    def ask(self, item: Item, on_onset, shot: str, required: bool = True) -> Answer:
        """Show ``item`` until answered; ``on_onset`` runs at the first flip (the onset marker)."""
        d = self.display
        scale = VasScale(d, item) if item.response == "vas" else LikertScale(d, item)
        question = d.text(item.text, pos=(0, 0.2), height=d.settings.text_height * 1.1)
        value: int | None = None
        used: set[str] = set()
        # A button held down from the previous screen must be released before it counts,
        # so one click can never answer two items.
        mouse_armed = not any(d.mouse.getPressed())
        d.clear_input()  # also resets the click times, so only clicks on this screen count
        last_click = 0.0
        if d.autopilot is not None:
            d.autopilot.on_screen(item.response, item=item)
        onset_s = None
        while True:
            can_go_on = value is not None or not required
            stims = [question, *scale.stims(value), self.hints[item.response]]
            stims += [self.button if can_go_on else self.button_disabled, self.button_text]
            flip_s = d.frame(
                stims, on_flip=on_onset if onset_s is None else None, shot=shot if value is not None else None
            )
            onset_s = flip_s if onset_s is None else onset_s

            for name, t in d.keys(scale.keys + SUBMIT_KEYS):
                if name in SUBMIT_KEYS:
                    if value is not None or not required:  # a key just before Enter counts
                        return Answer(value, onset_s, t, _input_name(used, value))
                else:
                    used.add("keyboard")
                    value = scale.after_key(value, name)

            # A quick tap is pressed and released between two frames: the click time shows it
            # even when the button is already up again.
            held, click_times = d.mouse.getPressed(getTime=True)
            new_click = click_times[0] != last_click
            last_click = click_times[0]
            if not held[0] and not new_click:
                mouse_armed = True
            elif mouse_armed or new_click:
                mouse_armed = True
                pos = d.mouse.getPos()
                chosen = scale.value_at(pos)
                if chosen is not None:
                    used.add("mouse")
                    value = chosen
                elif can_go_on and self._on_button(pos):
                    return Answer(value, onset_s, d.clock.now(), _input_name(used | {"mouse"}, value))


def _input_name(used: set[str], value: int | None) -> str:
    if value is None:
        return "skipped"
    return "+".join(sorted(used)) or "keyboard"
