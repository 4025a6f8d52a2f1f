"""``status.html``: the weekly look at a running trial - progress per arm against the planned
sample, per station, the last sessions, incidents by kind, missing recordings, withdrawals."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from experiment.datastore import replaced_whole
from experiment.record import read_record

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:.4em 0 1.2em}td,th{border-bottom:1px solid #e2e2e2;"
    "padding:3px 9px;text-align:left}th{background:#f2f2f2}.bar{background:#7aa6c2;height:12px;display:inline-block}"
    ".note{color:#555;font-size:13px}"
)


def _table(header: list[str], rows: list[list]) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _e(value) -> str:
    return html.escape(str(value))


def write_status(out: Path, rows: list[dict], planned_per_arm: float, data_dir: Path, ledger_where: str) -> Path:
    arms = sorted({r["arm"] for r in rows})
    progress = []
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        done = sum(r["status"] == "completed" for r in mine)
        share = min(1.0, done / planned_per_arm) if planned_per_arm else 0.0
        bar = f"<span class='bar' style='width:{share * 200:.0f}px'></span> {done} of {planned_per_arm:g}"
        statuses = Counter(r["status"] for r in mine)
        progress.append([_e(arm), len(mine), bar] + [statuses.get(s, 0) for s in
                        ("not yet run", "ended early", "failed", "withdrawn", "erased")])  # fmt: skip
    stations = Counter((r["station"], r["status"]) for r in rows)
    by_station = [
        [_e(station), sum(n for (s, _), n in stations.items() if s == station),
         stations.get((station, "completed"), 0)]
        for station in sorted({r["station"] for r in rows})
    ]  # fmt: skip
    sessions = _recent_sessions(data_dir)
    incidents = Counter(kind for record in sessions for kind in _incident_kinds(record))
    missing = [[_e(r["participant"]), _e(r["arm"]), _e(r["status"])] for r in rows
               if r["recording_found"] == "no" and r["status"] in ("completed", "ended early")]  # fmt: skip
    withdrawn = [[_e(r["participant"]), _e(r["arm"]), _e(r["withdrawn_at"]), _e(r["reason"]), _e(r["erased_at"])]
                 for r in rows if r["status"] in ("withdrawn", "erased")]  # fmt: skip
    recent = [[_e(s.get("participant")), _e(s.get("session")), _e(s.get("started_at", "")), _e(s.get("station", "")),
               _e(s.get("status")), _e(s.get("message", ""))] for s in sessions[:15]]  # fmt: skip
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>Study status</title><style>{STYLE}</style>",
        "<h1>Study status</h1>",
        f"<p class='note'>{len(rows)} participants allocated in {html.escape(ledger_where)}; "
        f"data in {html.escape(str(data_dir))}. Arms are concealed unless the report was made with --unblind.</p>",
        "<h2>Progress per arm</h2>",
        _table(
            ["arm", "allocated", "completed of planned", "not yet run", "ended early", "failed", "withdrawn", "erased"],
            progress,
        ),  # fmt: skip
        "<h2>Per station</h2>",
        _table(["station", "allocated", "completed"], by_station),
        "<h2>Last sessions</h2>",
        _table(["participant", "session", "started", "station", "status", "why"], recent),
        "<h2>Incidents by kind</h2>",
        _table(["kind", "sessions"], [[_e(k), n] for k, n in incidents.most_common()]),
        "<h2>Missing recordings</h2>",
        _table(["participant", "arm", "status"], missing),
        "<h2>Withdrawn</h2>",
        _table(["participant", "arm", "withdrawn", "reason", "erased"], withdrawn),
        "<h2>Flow</h2><img src='consort.png' alt='CONSORT flow diagram' style='max-width:100%'>",
    ]
    path = out / "status.html"
    with replaced_whole(path, "choose an --out folder you can write to") as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path


def _recent_sessions(data_dir: Path) -> list[dict]:
    records = []
    for path in data_dir.glob("sub-*/ses-*/session.json"):
        try:
            records.append(read_record(path.parent, check_types=False))
        except Exception:  # noqa: BLE001 - an unreadable one is left out of this overview
            continue
    return sorted(records, key=lambda r: str(r.get("started_at", "")), reverse=True)


def _incident_kinds(record: dict) -> set[str]:
    return {str(i.get("kind", "?")) for i in record.get("incidents") or [] if isinstance(i, dict)}
