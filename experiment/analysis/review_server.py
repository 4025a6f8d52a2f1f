"""``python -m experiment review --out OUT``: the review pages served so that they edit.

Served on 127.0.0.1 only (nothing on the network can reach it), on a free port unless
``--port`` names one; the address is printed and opened in the default browser. A click in a
page becomes one line of the recording's corrections file (corrections.py), written whole at
once (the file is replaced, never half-written: a crash leaves the old file or the new one);
undo takes the last line away; re-measure analyses that recording again with its corrections
and rewrites its page. The tables (physio_phases.csv, the report) change only when ``analyse``
runs again: the corrections file is the only state.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import threading
import webbrowser
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from experiment.analysis.corrections import ACTIONS, HEADER, CorrectionError, corrections_file, read_corrections
from experiment.analysis.responses import DEFAULT_MIN_AMPLITUDE_US
from experiment.analysis.review_page import MANIFEST, REVIEW_FOLDER
from experiment.config import AnalysisSettings
from experiment.datastore import replaced_whole
from experiment.errors import DataError

RECORDING = re.compile(r"^sub-([A-Za-z0-9]+)_ses-(\d+)$")


class Review:
    """What the server edits: the corrections folder, and how to measure a recording again."""

    def __init__(self, out: Path, physio_dir: Path | None, corrections_dir: Path | None) -> None:
        folder = out / REVIEW_FOLDER
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            raise DataError(f"No review pages in {folder}: run python -m experiment analyse --out {out} first.")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if "bids" in manifest:
            raise DataError(
                f"The review pages in {folder} were made from the BIDS dataset {manifest['bids']}: open them to look. "
                "Corrections are made on the raw recordings: run analyse with --data-dir and --physio-dir, then review."
            )
        self.folder = folder
        self.data_dir = Path(manifest["data_dir"])
        self.physio_dir = physio_dir or Path(manifest["physio_dir"])
        self.corrections_dir = corrections_dir or (
            self.physio_dir / "corrections" if physio_dir else Path(manifest["corrections_dir"])
        )
        self.columns = manifest.get("columns", "")
        self.settings = AnalysisSettings(float(manifest.get("scr_min_amplitude_us", DEFAULT_MIN_AMPLITUDE_US)))
        self._lock = threading.Lock()  # one edit of a file at a time

    def path_of(self, recording: str) -> tuple[Path, str, int]:
        match = RECORDING.match(recording or "")
        if not match:
            raise DataError(f"'{recording}' is not a recording name like sub-P001_ses-1.")
        participant, session = match.group(1), int(match.group(2))
        return corrections_file(self.corrections_dir, participant, session), participant, session

    def lines(self, recording: str) -> list[dict]:
        path, _, _ = self.path_of(recording)
        return [
            {"line": c.line, "action": c.action, "start_s": c.start_s, "end_s": c.end_s, "note": c.note}
            for c in read_corrections(path).lines
        ]

    def add(self, recording: str, action: str, start_s: float, end_s: float | None, note: str) -> list[dict]:
        if action not in ACTIONS:
            raise DataError(f"'{action}' is none of {', '.join(ACTIONS)}.")
        row = [action, f"{float(start_s):.4f}", "" if end_s is None else f"{float(end_s):.4f}", note.strip()]
        with self._lock:
            path, _, _ = self.path_of(recording)
            self._rewrite(path, [*self._rows(path), row])
            read_corrections(path)  # what was written reads back as a valid file
        return self.lines(recording)

    def undo(self, recording: str) -> list[dict]:
        with self._lock:
            path, _, _ = self.path_of(recording)
            rows = self._rows(path)
            if not rows:
                raise DataError("There is no edit to undo.")
            self._rewrite(path, rows[:-1])
        return self.lines(recording)

    def remeasure(self, recording: str) -> str:
        from experiment.analysis.pipeline import analyse_runs, runs_of_session
        from experiment.analysis.recorders import Columns

        _, participant, session = self.path_of(recording)
        runs = runs_of_session(self.data_dir, participant, session)
        if not runs:
            folder = self.data_dir / f"sub-{participant}" / f"ses-{session}"
            raise DataError(f"There is no session folder {folder}: was the data folder moved?")
        columns = Columns.parse(self.columns)
        results = analyse_runs(runs, self.physio_dir, columns, self.corrections_dir, self.folder, self.settings)
        if results[0].refusal:
            raise CorrectionError(results[0].refusal)
        if all(r.problem and not r.phases for r in results):
            raise DataError(results[0].problem)
        return (
            f"Measured again with {len(results[0].edits)} correction(s); run analyse again for the tables and report."
        )

    @staticmethod
    def _rows(path: Path) -> list[list[str]]:
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in list(csv.reader(handle))[1:] if row]

    @staticmethod
    def _rewrite(path: Path, rows: list[list[str]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
        with replaced_whole(path, "check that the corrections folder can be written") as tmp:
            tmp.write_text(text.getvalue(), encoding="utf-8")


def handler_for(review: Review):
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(review.folder), **kwargs)

        def log_message(self, *args) -> None:  # the terminal shows edits, not every request
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            if self.path == "/favicon.ico":
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()
                return
            super().do_GET()

        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                recording = body.get("recording", "")
                if self.path == "/api/edit":
                    lines = review.add(
                        recording, body.get("action", ""), body["start_s"], body.get("end_s"), body.get("note", "")
                    )
                    print(f"{recording}: {body['action']} at {float(body['start_s']):.3f} s", flush=True)
                    self._answer(HTTPStatus.OK, {"corrections": lines, "message": f"saved: {body['action']}"})
                elif self.path == "/api/corrections":  # the file as it is now (the page may be older)
                    self._answer(HTTPStatus.OK, {"corrections": review.lines(recording)})
                elif self.path == "/api/undo":
                    self._answer(HTTPStatus.OK, {"corrections": review.undo(recording), "message": "last edit undone"})
                elif self.path == "/api/remeasure":
                    self._answer(HTTPStatus.OK, {"message": review.remeasure(recording)})
                else:
                    self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such action {self.path}"})
            except (DataError, KeyError, ValueError, TypeError) as err:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(err)})

        def _answer(self, status: HTTPStatus, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def serve(review: Review, port: int = 0) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), handler_for(review))


def review_main(argv: list[str]) -> int:
    from experiment.analysis.cli import refuse_in_one_sentence

    parser = argparse.ArgumentParser(prog="python -m experiment review", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the folder analyse wrote (with review/)")
    parser.add_argument("--physio-dir", type=Path, help="the recordings (default: where analyse read them)")
    parser.add_argument("--corrections", type=Path, help="the corrections folder (default: PHYSIO/corrections)")
    parser.add_argument("--port", type=int, default=0, help="a port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the address, open no browser")
    return refuse_in_one_sentence(_review, parser.parse_args(argv), "REVIEW")


def _review(args) -> int:
    review = Review(args.out, args.physio_dir, args.corrections)
    try:
        server = serve(review, args.port)
    except OSError as err:
        raise DataError(f"Cannot listen on 127.0.0.1:{args.port} ({err.strerror}): choose another --port.") from None
    address = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    print(f"Review pages at {address} (edits go to {review.corrections_dir}); Ctrl+C to stop.", flush=True)
    if not args.no_browser:
        webbrowser.open(address)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
