"""content.progress on a real SQLite file, migrated by appliance.storage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from appliance.database import open_box_db
from appliance.errors import ContentError
from content import progress


@pytest.fixture
def db(tmp_path: Path):
    return open_box_db(tmp_path / "x.db")


def test_migrations_create_the_tables(db) -> None:
    names = set(db.table_names())
    assert {"content_progress", "content_check_runs", "content_check_answers"} <= names


def test_progress_round_trip_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = open_box_db(path)
    assert progress.get_progress(db, "box-baseline").status == "not_started"
    progress.set_progress(db, "box-baseline", "busy", date="2026-03-02", note="week 10 is a normal week")
    progress.set_progress(db, "box-baseline", "done", date="2026-03-09")  # keeps the note
    db.conn.close()

    again = open_box_db(path)
    p = progress.get_progress(again, "box-baseline")
    assert (p.status, p.date, p.note) == ("done", "2026-03-09", "week 10 is a normal week")
    progress.set_progress(again, "box-baseline", "done", date="2026-03-09", note="")
    assert progress.get_progress(again, "box-baseline").note == ""
    assert set(progress.all_progress(again)) == {"box-baseline"}


def test_set_progress_refuses_bad_input(db) -> None:
    with pytest.raises(ContentError):
        progress.set_progress(db, "box-baseline", "half-done")
    with pytest.raises(ValueError):
        progress.set_progress(db, "box-baseline", "busy", date="yesterday")


def test_export_csv_and_json(db, library) -> None:
    progress.set_progress(db, "mb-prod-01", "busy", date="2026-04-01", note="dagstart om 7:15")
    rows = list(csv.DictReader(io.StringIO(progress.export_progress_csv(db, library, lang="nl"))))
    assert len(rows) == len(library.steps())
    row = next(r for r in rows if r["step_id"] == "mb-prod-01")
    assert row["status"] == "busy" and row["date"] == "2026-04-01" and row["note"] == "dagstart om 7:15"
    assert row["title"] == library.step("mb-prod-01").text("nl").title
    assert next(r for r in rows if r["step_id"] == "box-baseline")["status"] == "not_started"

    data = json.loads(progress.export_progress_json(db))
    assert data == {"progress": [{"step_id": "mb-prod-01", "title": "", "function": "", "status": "busy",
                                  "date": "2026-04-01", "note": "dagstart om 7:15"}]}


def test_scoring_per_domain_with_reverse_items(library) -> None:
    statements = library.statements()
    answers = {s.id: 4 for s in statements}
    results = progress.score_answers(statements, answers)
    # knowledge-skills: four normal items at 4, one reverse item at 4 -> counts as 2: (16 + 2) / 5
    assert results["knowledge-skills"].score == 3.6
    assert results["knowledge-skills"].band == "high"
    assert results["work-organisation"].score == 4.0  # no reverse items
    # technology: six normal items since wi-te-03 (reverse) and wi-te-04 were retired (issue 14)
    assert results["technology"].score == 4.0 and results["culture-motivation"].score == 3.6
    assert [r.total for r in results.values()] == [5, 5, 5, 6]
    assert all(r.answered == r.total for r in results.values())


def test_scoring_partial_and_empty(library) -> None:
    statements = library.statements()
    results = progress.score_answers(statements, {"wi-te-01": 1, "wi-te-02": 2})
    assert results["technology"].score == 1.5 and results["technology"].band == "low"
    assert results["technology"].answered == 2
    assert results["culture-motivation"].score is None and results["culture-motivation"].band is None


def test_check_answers_stored_and_only_scores_shareable_with_consent(db, library) -> None:
    statements = library.statements()
    ids = [s.id for s in statements]
    answers = {sid: 3 for sid in ids}
    run = progress.save_check(db, answers, statement_ids=ids)
    assert progress.check_answers(db, run) == answers
    assert progress.shareable_domain_scores(db, statements) is None  # not agreed

    progress.set_share_scores(db, run, True)
    shared = progress.shareable_domain_scores(db, statements)
    assert shared == {"knowledge-skills": 3.0, "work-organisation": 3.0, "culture-motivation": 3.0, "technology": 3.0}

    run2 = progress.save_check(db, {ids[0]: 5}, statement_ids=ids)  # a new run, no consent yet
    assert run2 > run and progress.shareable_domain_scores(db, statements) is None
    assert [r["id"] for r in progress.check_runs(db)] == [run, run2]


def test_save_check_refuses_bad_scores(db, library) -> None:
    ids = [s.id for s in library.statements()]
    for bad in ({ids[0]: 0}, {ids[0]: 6}, {ids[0]: 2.5}, {"wi-nope": 3}):
        with pytest.raises(ContentError):
            progress.save_check(db, bad, statement_ids=ids)
    assert progress.check_runs(db) == []
