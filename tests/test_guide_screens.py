"""The technician guide's pictures come from a real session (tools/guide_screens.py). The
test takes them again into a temporary folder - the checkout is never written - and checks
that every screen was drawn, that the committed picture of it exists and is the same size,
and that the technician guide (docs/technician.md) shows it. When a screen changes on purpose,
run the tool and commit."""

from __future__ import annotations

import numpy as np
from guide_screens import GUIDE, SCREENS, take
from helpers import REPO, write_protocol
from PIL import Image


def test_guide_screens_come_from_a_real_session(tmp_path):
    protocol = write_protocol(tmp_path / "protocol", rest_s=0.5)
    taken = take(protocol, tmp_path / "screens", tmp_path / "work")
    guide = (REPO / "docs" / "technician.md").read_text()
    assert sorted(taken) == sorted(SCREENS)
    for picture, path in taken.items():
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        drawn = (pixels != pixels[0, 0]).any(axis=2).sum()
        assert drawn > 100, f"{picture} is blank"  # something (at least the fixation cross) was drawn
        committed = GUIDE / f"{picture}.png"
        assert committed.exists(), f"{committed} is missing: run tools/guide_screens.py and commit it"
        with Image.open(committed) as old, Image.open(path) as new:
            assert old.size == new.size, f"{picture} changed size: run tools/guide_screens.py"
        assert f"(screens/{picture}.png)" in guide, f"the technician guide does not show {picture}"
