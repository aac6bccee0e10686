"""The stop screen names the guard trip that stopped the machine, and only for the stop it made
(in-process app over a real box database)."""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

from appliance.database import open_box_db
from local_ui import security, store
from local_ui.app import create_app

S = 1_000_000_000


def _stop(db: Any, start: int, end: int) -> int:
    cur = db.conn.execute("INSERT INTO kpi_stops(start_ts, end_ts, dur_s, state, sched, day) VALUES (?, ?, ?, ?, ?, ?)",
                          [start, end, (end - start) / S, "down", 1, "2026-12-02"])
    return int(cur.lastrowid)


def test_a_guard_trip_is_the_cause_only_of_the_stop_it_made(box_config: Any) -> None:
    """An armed trip, the stop it made, a reset that let the machine run 4 s, then a stop of its own
    8 s after the trip: that second stop is not the guard's (seen when the UI reset test ran just
    before the stop tests: the reason form came prefilled with the trip's text)."""
    db = open_box_db(box_config.db_path)
    store.migrations.apply(db)
    security.set_pin(db, "admin", "246810")  # set up: the pages are served
    trip = time.time_ns() - 3600 * S
    with db.conn:
        db.conn.execute("INSERT INTO guard_trips(ts, mode, cause_kind, cause, sample_mono_ns, decided_mono_ns) "
                        "VALUES (?, 'armed', 'rule', 'vastgelopen', 1, 2)", [trip])
        made = _stop(db, trip + S // 20, trip + 4 * S)
        later = _stop(db, trip + 8 * S, trip + 60 * S)
    db.conn.close()
    c = TestClient(create_app(box_config), client=("127.0.0.1", 40000), base_url="http://127.0.0.1")
    r = c.get(f"/stops/{made}")
    assert r.url.path == f"/stops/{made}", r.url
    assert 'id="stop-trip"' in r.text, "the stop the trip made does not name it"
    page = c.get(f"/stops/{later}").text
    assert 'id="stop-trip"' not in page and "vastgelopen" not in page.lower()
