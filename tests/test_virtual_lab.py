"""The tests' stand-ins themselves: a virtual screen must behave like a lab PC's screen."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from helpers import VirtualScreen


@pytest.mark.slow
def test_the_virtual_screen_keeps_its_state_when_its_last_client_leaves():
    """An X server that resets when its last client leaves turns away a client connecting
    during the reset (a session's window or dialog then fails to open). A reset clears the
    root window's properties: one set by a client that then left must still be there."""
    with VirtualScreen() as screen:
        env = os.environ | screen.env()
        subprocess.run(
            ["xprop", "-root", "-f", "EXPERIMENT_MARK", "8s", "-set", "EXPERIMENT_MARK", "kept"], env=env, check=True
        )
        time.sleep(1.0)  # a reset, if any, is over
        shown = subprocess.run(["xprop", "-root", "EXPERIMENT_MARK"], env=env, capture_output=True, text=True)
        assert shown.stdout.strip() == 'EXPERIMENT_MARK(STRING) = "kept"', shown.stdout + shown.stderr
