"""The participant's window: one frame loop, keyboard and mouse input, the technician's
Escape key, screenshots and the autopilot's key presses.

Everything that draws goes through :meth:`Display.frame`, so there is one place where keys
are read, Escape is caught and confirmed, and the autopilot injects its presses.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from experiment.clock import SessionClock
from experiment.config import DisplaySettings
from experiment.errors import DeviceError, SessionAborted

log = logging.getLogger(__name__)
ABORT_KEY = "escape"
# Without vsync (a virtual display) flips return at once; pace the loop like a 60 Hz screen
# instead of spinning a core.
MIN_FRAME_S = 1 / 60


def require_screen() -> None:
    """Refuse with one sentence where no screen can be reached (pyglet and Qt would crash)."""
    if not sys.platform.startswith("linux") or os.environ.get("WAYLAND_DISPLAY"):
        return
    display = os.environ.get("DISPLAY")
    if not display:
        raise DeviceError(
            "No screen was found (DISPLAY is not set): start the session from the lab PC's desktop, "
            "or for a dry run on a server use ./demo.sh or xvfb-run."
        )
    if _x_display_answers(display) is False:
        raise DeviceError(
            f"No screen was found: the screen DISPLAY={display} does not answer (the desktop session "
            "ended, or the variable is left over): start the session from the lab PC's desktop."
        )


def import_window_modules() -> None:
    """Import what the first window needs (PsychoPy's visual side: about 1.5 s), so that work
    can overlap other checks; the window itself opens later."""
    from psychopy import event, visual  # noqa: F401


def _x_display_answers(display: str) -> bool | None:
    """Whether the X server ``display`` accepts a client (None: libX11 not found, not checked)."""
    import ctypes
    import ctypes.util

    library = ctypes.util.find_library("X11")
    if library is None:
        return None
    xlib = ctypes.CDLL(library)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode())
    if not connection:
        return False
    xlib.XCloseDisplay(connection)
    return True


class Display:
    """A PsychoPy window plus the input around it.

    ``frame_s`` paces the frames (the window's own vsync paces them too where there is one).

    Parameters
    ----------
    settings : DisplaySettings
        From the protocol file.
    clock : SessionClock
        Every time reported here is on this clock.
    autopilot : Autopilot or None
        The simulated participant, when running unattended.
    screenshot_dir : Path or None
        Where the first frame of each named screen is saved as PNG.
    """

    frame_s = MIN_FRAME_S

    def __init__(
        self,
        settings: DisplaySettings,
        clock: SessionClock,
        autopilot=None,
        screenshot_dir: Path | None = None,
        fullscreen: bool | None = None,
    ) -> None:
        require_screen()
        from psychopy import event, visual
        from psychopy import logging as psychopy_logging

        psychopy_logging.console.setLevel(psychopy_logging.ERROR)
        self._event = event
        self.visual = visual
        self.settings = settings
        self.clock = clock
        self.autopilot = autopilot
        self.screenshot_dir = screenshot_dir
        self._shots_taken: set[str] = set()
        self.on_frame: Callable[[], None] | None = None  # the technician console's refresh
        self._last_flip = 0.0
        try:
            self.win = visual.Window(
                size=settings.size,
                fullscr=settings.fullscreen if fullscreen is None else fullscreen,
                color=settings.background,
                colorSpace="hex",
                units="height",
                allowGUI=False,
                winType="pyglet",
                checkTiming=False,
            )
        except Exception as err:  # noqa: BLE001 - pyglet raises assorted errors when no display exists
            raise DeviceError(
                f"Cannot open the participant's window ({err}): check that a screen is connected."
            ) from None
        self.mouse = event.Mouse(win=self.win, visible=True)
        self.aspect = self.win.size[0] / self.win.size[1]
        # psychopy key times come from its own clock; map them onto the session clock.
        from psychopy import core

        self._psychopy_time = core.getTime

    # --- drawing -------------------------------------------------------------------------
    def text(
        self,
        text: str,
        pos=(0, 0),
        height: float | None = None,
        wrap: float | None = None,
        color: str | None = None,
        bold: bool = False,
    ):
        return self.visual.TextStim(
            self.win,
            text=text,
            pos=pos,
            height=height or self.settings.text_height,
            wrapWidth=wrap or min(1.2, self.aspect * 0.9),
            color=color or self.settings.foreground,
            colorSpace="hex",
            bold=bold,
            alignText="center",
            anchorHoriz="center",
        )

    def fixation(self):
        return self.text("+", height=0.08)

    def frame(self, stims, on_flip: Callable[[], None] | None = None, shot: str | None = None) -> float:
        """Draw ``stims``, flip, and return the session time of the flip.

        ``on_flip`` runs right after the flip (markers locked to the screen change).
        """
        for stim in stims:
            stim.draw()
        if shot and self.screenshot_dir and shot not in self._shots_taken:
            self._shots_taken.add(shot)
            self.screenshot(shot)  # from the back buffer: exactly what the flip will show
        if on_flip is not None:
            self.win.callOnFlip(on_flip)
        wait = self.frame_s - (time.perf_counter() - self._last_flip)
        if wait > 0.004:
            time.sleep(wait - 0.002)
        self.win.flip()
        if not self._last_flip:
            log.info("First screen shown")
        self._last_flip = time.perf_counter()
        flip_s = self.clock.now()
        if self.autopilot is not None:
            self.autopilot.tick(self)
        if self.on_frame is not None:
            self.on_frame()
        return flip_s

    def screenshot(self, name: str) -> Path:
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.screenshot_dir / f"{len(self._shots_taken):02d}_{name}.png"
        self.win.getMovieFrame(buffer="back")
        self.win.saveMovieFrames(str(path))
        return path

    # --- input ---------------------------------------------------------------------------
    def press(self, key: str) -> None:
        """Inject a key press into the window's real event path (pyglet -> psychopy.event)."""
        from pyglet.window import key as pyglet_key

        symbol = getattr(pyglet_key, f"_{key}" if key.isdigit() else key.upper())  # pyglet names 7 "_7"
        self.win.winHandle.dispatch_event("on_key_press", symbol, 0)

    def clear_input(self) -> None:
        """Forget stale presses (so one press never answers two screens) - but never Escape."""
        if ABORT_KEY in self._event.getKeys():
            self.confirm_abort()
        self._event.clearEvents()
        self.mouse.clickReset()

    def keys(self, allowed: tuple[str, ...]) -> list[tuple[str, float]]:
        """Keys pressed since the last call, as (name, session time); Escape is handled here."""
        offset = self._psychopy_time() - time.perf_counter()
        pressed = []
        for name, t in self._event.getKeys(timeStamped=True):
            if name == ABORT_KEY:
                self.confirm_abort()
            elif name in allowed:
                pressed.append((name, self.clock.from_perf_counter(t - offset)))
        return pressed

    def confirm_abort(self) -> None:
        """Ask the technician to confirm ending the session; raise SessionAborted on yes."""
        log.warning("Escape pressed: asking the technician to confirm ending the session")
        prompt = self.text(
            "Technician: end this session now?\n\nPress Y to end it (all data so far is kept), or N to carry on.",
            color="#ffd27f",
        )
        self._event.clearEvents()
        if self.autopilot is not None:
            self.autopilot.on_screen("confirm_abort")
        while True:
            self.frame([prompt], shot="confirm_abort")
            answers = [name for name, _ in self._event.getKeys(timeStamped=True)]
            if "y" in answers:
                raise SessionAborted("The technician ended the session (Escape, confirmed).")
            if "n" in answers:
                log.info("Session continues (abort not confirmed)")
                return

    def wait_for_key(
        self, stims, keys: tuple[str, ...], shot: str, on_flip=None, autopilot_screen: str = "text"
    ) -> tuple[str, float]:
        """Show ``stims`` until one of ``keys``; return the key and its session time."""
        self.clear_input()
        if self.autopilot is not None:
            self.autopilot.on_screen(autopilot_screen)
        self.frame(stims, on_flip=on_flip, shot=shot)
        while True:
            pressed = self.keys(keys)
            if pressed:
                return pressed[0]
            self.frame(stims)

    def show_for(
        self, stims, duration_s: float, shot: str, on_flip=None, until: Callable[[], bool] | None = None
    ) -> float:
        """Show ``stims`` for ``duration_s`` from the first flip (or until ``until()``)."""
        self.clear_input()
        start = self.frame(stims, on_flip=on_flip, shot=shot)
        while self.clock.now() - start < duration_s - self.frame_s / 2:
            if until is not None and until():
                break
            self.keys(())  # only Escape matters here
            self.frame(stims)
        return start

    def close(self) -> None:
        self.win.close()
