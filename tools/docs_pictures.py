"""The pictures of docs/analysis.md: the report, a review page and three minutes of one
participant's EDA with the responses marked, from a simulated 15-participant study,
photographed by the tests' headless Chromium (tests/helpers.headless_chromium).

    .venv/bin/python tools/docs_pictures.py      (about a minute; writes docs/images/*.png)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from helpers import headless_chromium  # noqa: E402


def experiment(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "experiment", *args], cwd=ROOT, check=True, capture_output=True)


def main() -> None:
    images = ROOT / "docs" / "images"
    images.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        data, physio, out = (str(Path(folder) / name) for name in ("data", "physio", "out"))
        experiment("simulate-recorder", "--data-dir", data, "--physio-dir", physio, "--make-sessions", "15")
        experiment("analyse", "--data-dir", data, "--physio-dir", physio, "--out", out)
        browser = headless_chromium(1300, 1000)
        try:
            beats = (Path(out) / "beats" / "sub-S004_ses-1_beats.csv").read_text().splitlines()[1:]
            ectopic = next(float(row.split(",")[0]) for row in beats if ",ectopic," in row)  # one worth showing
            browser.get((Path(out) / "review" / "sub-S004_ses-1.html").as_uri() + f"#t={ectopic - 8:.1f},16")
            browser.save_screenshot(str(images / "review_page.png"))
            browser.get((Path(out) / "review" / "sub-S003_ses-1.html").as_uri())
            baseline = browser.execute_script(
                "return JSON.parse(document.getElementById('review-data').textContent).phases"
                ".find(p => p.phase === 'baseline')"
            )
            browser.get((Path(out) / "review" / "sub-S003_ses-1.html").as_uri() + f"#t={baseline['start']:.1f},180")
            browser.refresh()  # the view is read from the address when the page opens
            browser.find_element("id", "eda").screenshot(str(images / "responses.png"))
            browser.get((Path(out) / "report.html").as_uri())
            browser.set_window_size(1300, browser.execute_script("return document.body.scrollHeight") + 40)
            browser.save_screenshot(str(images / "report.png"))
        finally:
            browser.quit()
    print(f"written: {images / 'review_page.png'}, {images / 'responses.png'}, {images / 'report.png'}")


if __name__ == "__main__":
    main()
