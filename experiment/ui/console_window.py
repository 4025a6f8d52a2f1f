"""The technician console as a window on a second screen, in its own process.

The session process must never wait for this window (a second OpenGL window in the session
would make every participant frame wait for a second screen refresh), so it runs apart and
reads status lines from its standard input: each line replaces the text, and the window's title
carries it too (what a test, or a screen reader, can read). End of input closes it.

    python -m experiment.ui.console_window X Y WIDTH HEIGHT
"""

from __future__ import annotations

import subprocess
import sys
import threading

TITLE = "Technician console"


class ConsoleWindow:
    """The session side: starts the window process and feeds it lines; never blocks."""

    def __init__(self, geometry: tuple[int, int, int, int]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "experiment.ui.console_window", *map(str, geometry)],
            stdin=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def write(self, line: str) -> None:
        if self._proc.poll() is not None:
            return  # the technician closed it: the terminal still has everything
        try:
            self._proc.stdin.write(line.replace("\n", " ") + "\n")
        except (BrokenPipeError, OSError):
            pass

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def second_screen(win) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of a screen other than the participant's window's, if there is one."""
    try:
        screens = win.winHandle.display.get_screens()
        here = win.winHandle.screen
    except AttributeError:  # not a pyglet window
        return None
    # A mirrored screen (same place, same size) shows what the participant sees: not a second one.
    shapes = [(s.x, s.y, s.width, s.height) for s in screens]
    others = [shape for shape in shapes if shape != (here.x, here.y, here.width, here.height)]
    return others[0] if others else None


def main(argv: list[str]) -> int:
    from PyQt6.QtCore import QObject, pyqtSignal
    from PyQt6.QtGui import QFont
    from PyQt6.QtWidgets import QApplication, QLabel

    x, y, width, height = (int(v) for v in argv[:4])
    app = QApplication(sys.argv[:1])
    label = QLabel("Waiting for the session ...")
    label.setWindowTitle(TITLE)
    label.setFont(QFont("monospace", 16))
    label.setWordWrap(True)
    label.setMargin(24)
    label.setStyleSheet("background: #202020; color: #f0f0f0;")
    label.setGeometry(x, y, width, height)
    label.show()

    class Lines(QObject):
        line = pyqtSignal(str)
        ended = pyqtSignal()

    lines = Lines()

    def show(text: str) -> None:
        label.setText(text.replace(" | ", "\n"))
        label.setWindowTitle(f"{TITLE}: {text}")

    lines.line.connect(show)
    lines.ended.connect(app.quit)

    def read() -> None:
        for text in sys.stdin:
            lines.line.emit(text.rstrip("\n"))
        lines.ended.emit()

    threading.Thread(target=read, daemon=True).start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
