"""Progress per blueprint step and the workplace-innovation check, stored on
the box (SQLite, the box database of ``appliance.storage``).

Progress: one row per step that someone touched; a step without a row is
``not_started``. Check: one row per time the check was taken, one row per
answer. The answers and any note stay on the box. The only part of the check
that may ever leave it are the four domain scores, and only when the company
ticked ``share_scores`` for that run (``shareable_domain_scores``); the sync
allow-list decides the rest. Issue 6.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import sqlite_utils
from sqlite_utils.migrations import Migrations

from content.errors import ContentError
from content.schema import DOMAINS, SCALE_MAX, SCALE_MIN, band_for

migrations = Migrations("werkvloer.content")

Status = Literal["not_started", "busy", "done"]
STATUSES: tuple[str, ...] = ("not_started", "busy", "done")
STATUS_NAMES = {
    "not_started": {"nl": "niet begonnen", "en": "not started"},
    "busy": {"nl": "bezig", "en": "busy"},
    "done": {"nl": "klaar", "en": "done"},
}


@migrations()
def m001_step_progress(db: sqlite_utils.Database) -> None:
    # date = the day the status was reached, as the person says (local date,
    # YYYY-MM-DD); updated_ts = when the row was written (UTC ns).
    db.execute("""
        CREATE TABLE content_progress (
            step_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('not_started', 'busy', 'done')),
            date TEXT,
            note TEXT NOT NULL DEFAULT '',
            updated_ts INTEGER NOT NULL
        )""")


@migrations()
def m002_workplace_check(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE content_check_runs (
            id INTEGER PRIMARY KEY,
            taken_ts INTEGER NOT NULL,
            share_scores INTEGER NOT NULL DEFAULT 0 CHECK (share_scores IN (0, 1))
        )""")
    db.execute(f"""
        CREATE TABLE content_check_answers (
            run_id INTEGER NOT NULL REFERENCES content_check_runs(id) ON DELETE CASCADE,
            statement_id TEXT NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN {SCALE_MIN} AND {SCALE_MAX}),
            PRIMARY KEY (run_id, statement_id)
        )""")


# ------------------------------------------------------------------- progress

@dataclass(frozen=True)
class StepProgress:
    step_id: str
    status: str = "not_started"
    date: str | None = None
    note: str = ""


def get_progress(db: sqlite_utils.Database, step_id: str) -> StepProgress:
    row = db.execute("SELECT step_id, status, date, note FROM content_progress WHERE step_id = ?",
                     [step_id]).fetchone()
    return StepProgress(*row) if row else StepProgress(step_id)


def all_progress(db: sqlite_utils.Database) -> dict[str, StepProgress]:
    """step id -> progress, for every step that has a row (others: not started)."""
    rows = db.execute("SELECT step_id, status, date, note FROM content_progress ORDER BY step_id").fetchall()
    return {r[0]: StepProgress(*r) for r in rows}


def set_progress(db: sqlite_utils.Database, step_id: str, status: str, *,
                 date: dt.date | str | None = None, note: str | None = None) -> StepProgress:
    """Set a step's status; ``date`` defaults to today, ``note`` keeps the old note when None."""
    if status not in STATUSES:
        raise ContentError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if date is None:
        date = dt.date.today()
    day = date.isoformat() if isinstance(date, dt.date) else dt.date.fromisoformat(date).isoformat()
    if note is not None and len(note) > 2000:
        raise ContentError("note is longer than 2000 characters; keep it short, it is a note")
    with db.conn:
        db.execute(
            "INSERT INTO content_progress(step_id, status, date, note, updated_ts) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(step_id) DO UPDATE SET status=excluded.status, date=excluded.date, "
            "note=CASE WHEN ? THEN excluded.note ELSE content_progress.note END, updated_ts=excluded.updated_ts",
            [step_id, status, day, note or "", time.time_ns(), note is not None])
    return get_progress(db, step_id)


EXPORT_FIELDS = ["step_id", "title", "function", "status", "date", "note"]


def progress_rows(db: sqlite_utils.Database, library: object | None = None, *, lang: str = "nl") -> list[dict[str, str]]:
    """One row per step: every step of ``library`` (in blueprint order) or,
    without a library, every step with a row."""
    stored = all_progress(db)
    rows = []
    if library is not None:
        for step in library.steps():  # type: ignore[attr-defined]
            p = stored.get(step.id, StepProgress(step.id))
            rows.append({"step_id": step.id, "title": step.text(lang).title, "function": step.function,
                         "status": p.status, "date": p.date or "", "note": p.note})
    else:
        for p in stored.values():
            rows.append({"step_id": p.step_id, "title": "", "function": "",
                         "status": p.status, "date": p.date or "", "note": p.note})
    return rows


def export_progress_csv(db: sqlite_utils.Database, library: object | None = None, *, lang: str = "nl") -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(progress_rows(db, library, lang=lang))
    return buf.getvalue()


def export_progress_json(db: sqlite_utils.Database, library: object | None = None, *, lang: str = "nl") -> str:
    return json.dumps({"progress": progress_rows(db, library, lang=lang)}, ensure_ascii=False, indent=2)


# ------------------------------------------------- workplace-innovation check

@dataclass(frozen=True)
class DomainResult:
    domain: str
    score: float | None  # mean on the 1-5 scale, one decimal; None = nothing answered
    answered: int
    total: int
    band: str | None


def score_answers(statements: Iterable[object], answers: Mapping[str, int]) -> dict[str, DomainResult]:
    """Domain -> result. A reverse statement counts as 6 - score. Pure."""
    sums: dict[str, list[int]] = {d: [] for d in DOMAINS}
    totals = dict.fromkeys(DOMAINS, 0)
    for st in statements:
        totals[st.domain] += 1  # type: ignore[attr-defined]
        score = answers.get(st.id)  # type: ignore[attr-defined]
        if score is None:
            continue
        sums[st.domain].append(SCALE_MAX + SCALE_MIN - score if st.reverse else score)  # type: ignore[attr-defined]
    out = {}
    for d in DOMAINS:
        mean = round(sum(sums[d]) / len(sums[d]), 1) if sums[d] else None
        out[d] = DomainResult(d, mean, len(sums[d]), totals[d], band_for(mean) if mean is not None else None)
    return out


def save_check(db: sqlite_utils.Database, answers: Mapping[str, int], *, statement_ids: Iterable[str] | None = None,
               share_scores: bool = False, ts: int | None = None) -> int:
    """Store one run of the check; returns its id. Unknown statements and
    scores outside 1-5 are refused before anything is written."""
    known = set(statement_ids) if statement_ids is not None else None
    for sid, score in answers.items():
        if known is not None and sid not in known:
            raise ContentError(f"no statement {sid!r} in the loaded check")
        if not isinstance(score, int) or isinstance(score, bool) or not SCALE_MIN <= score <= SCALE_MAX:
            raise ContentError(f"score of {sid!r} must be a whole number {SCALE_MIN}-{SCALE_MAX}, not {score!r}")
    with db.conn:
        cur = db.execute("INSERT INTO content_check_runs(taken_ts, share_scores) VALUES (?, ?)",
                         [ts or time.time_ns(), int(share_scores)])
        run_id = int(cur.lastrowid or 0)
        db.conn.executemany("INSERT INTO content_check_answers(run_id, statement_id, score) VALUES (?, ?, ?)",
                            [(run_id, sid, score) for sid, score in answers.items()])
    return run_id


def check_answers(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    rows = db.execute("SELECT statement_id, score FROM content_check_answers WHERE run_id = ?", [run_id]).fetchall()
    return dict(rows)


def check_runs(db: sqlite_utils.Database) -> list[dict[str, int]]:
    rows = db.execute("SELECT id, taken_ts, share_scores FROM content_check_runs ORDER BY id").fetchall()
    return [{"id": r[0], "taken_ts": r[1], "share_scores": r[2]} for r in rows]


def latest_run(db: sqlite_utils.Database) -> int | None:
    row = db.execute("SELECT max(id) FROM content_check_runs").fetchone()
    return row[0] if row and row[0] is not None else None


def set_share_scores(db: sqlite_utils.Database, run_id: int, share: bool) -> None:
    with db.conn:
        db.execute("UPDATE content_check_runs SET share_scores = ? WHERE id = ?", [int(share), run_id])


def check_result(db: sqlite_utils.Database, run_id: int, statements: Iterable[object]) -> dict[str, DomainResult]:
    return score_answers(statements, check_answers(db, run_id))


def shareable_domain_scores(db: sqlite_utils.Database, statements: Iterable[object]) -> dict[str, float | None] | None:
    """The only check data that may leave the box: the four domain scores of
    the latest run, and only if the company agreed for that run. None otherwise."""
    run_id = latest_run(db)
    if run_id is None:
        return None
    if not db.execute("SELECT share_scores FROM content_check_runs WHERE id = ?", [run_id]).fetchone()[0]:
        return None
    return {d: r.score for d, r in check_result(db, run_id, statements).items()}


def result_as_dict(results: Mapping[str, DomainResult]) -> dict[str, dict[str, object]]:
    return {d: asdict(r) for d, r in results.items()}
