"""The alert review queue (in-process app, real SQLite): cards with the evidence, filter chips,
bulk labelling audited per alert like a single label, undo, and the labels reaching the
dataset export unchanged; the model status page from a real guard's status shape."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .helpers import kiosk_client
from .test_kpi_page import _admin
from .test_security import _csrf


def _raise(db: Any, *, name: str, score: float | None = None, ts_ns: int | None = None,
           detail: str | None = None) -> int:
    from appliance.alerts import AlertStore

    evidence = None
    if score is not None:
        evidence = {"window": {"vibration": np.sin(np.arange(2000) / 5.0).astype("float32"),
                               "motor_current": np.full(20, 12.0, dtype="float32")},
                    "rate_hz": {"vibration": 2000.0}, "window_start_ts": time.time_ns(),
                    "score": score, "threshold": 0.5, "model": "vibration-anomaly", "version": "1.0.0"}
    return AlertStore(db).raise_alert(
        source="guard", kind="guard.trip", severity="critical",
        title={"nl": f"Bewaking stopte de machine: {name}", "en": f"Guard stopped the machine: {name}"},
        dedupe_key=f"guard.trip.{name}",
        detail=detail, evidence=evidence, ts_ns=ts_ns)


def _seed(box_config: Any) -> dict[str, int]:
    from appliance.alerts import AlertStore
    from appliance.storage import open_db

    db = open_db(box_config.db_path)
    try:
        ids = {"model": _raise(db, name="trilling", score=0.8734),
               "rule": _raise(db, name="vastgelopen", detail="motor_current = 23.341 above 20 for 200 ms"),
               "old": _raise(db, name="oud", ts_ns=time.time_ns() - 3 * 86_400 * 10**9,
                             detail="motor_current = 25 above 20 for 200 ms")}
        AlertStore(db).acknowledge(ids["rule"], role="maintenance")
    finally:
        db.conn.close()
    return ids


def test_review_cards_show_the_evidence_and_filter_by_chip(box_config: Any) -> None:
    c = _admin(box_config)
    ids = _seed(box_config)
    page = c.get("/alerts/review").text
    for aid in ids.values():
        assert f'data-alert="{aid}"' in page
    assert "Score 0,87, drempel 0,50 · invoer: Trilling, Motorstroom" in page, "the model's score against its threshold"
    assert "Motorstroom 23,3\u00a0A, boven de grens van 20,0\u00a0A" in page and "motor_current" not in page
    assert page.count('class="chart chart-signal"') == 1, "a picture only where the guard kept the window"
    assert page.count('name="card"') == 6  # true / false per card
    by_rule = c.get("/alerts/review?name=vastgelopen").text
    assert f'data-alert="{ids["rule"]}"' in by_rule and f'data-alert="{ids["model"]}"' not in by_rule
    from local_ui import fmt
    from local_ui.routers.review import _day
    today = _day(time.time_ns(), fmt.Formatter("nl", box_config.box.timezone))
    by_day = c.get(f"/alerts/review?day={today}").text
    assert f'data-alert="{ids["old"]}"' not in by_day and f'data-alert="{ids["model"]}"' in by_day
    assert ">Vandaag<" in page, "the day chips name today"


def test_bulk_label_is_audited_per_alert_and_undo_restores(box_config: Any) -> None:
    from appliance.alerts import AlertStore
    from appliance.storage import open_db

    c = _admin(box_config)
    ids = _seed(box_config)
    page = c.get("/alerts/review").text
    r = c.post("/alerts/review/label", data={"csrf": _csrf(page), "ids": [ids["model"], ids["rule"]], "label": "true",
                                             "next": "/alerts/review"})
    assert r.status_code == 200 and "2 meldingen beoordeeld: Terecht alarm." in r.text
    assert f'data-alert="{ids["model"]}"' not in r.text, "a labelled card stays in the unlabelled queue"
    db = open_db(box_config.db_path)
    try:
        store = AlertStore(db)
        assert [store.get(i).label for i in (ids["model"], ids["rule"], ids["old"])] == ["true", "true", None]
        audit = db.conn.execute("SELECT role, action, target FROM audit WHERE action = 'alert.label' ORDER BY id").fetchall()
        assert audit == [("admin", "alert.label", f"alert:{ids['model']}"), ("admin", "alert.label", f"alert:{ids['rule']}")]
        # One card's own button: relabel the rule alert as a false alarm; undo gives it "true" back.
        c.post("/alerts/review/label", data={"csrf": _csrf(page), "card": f"{ids['rule']}:false", "next": "/alerts/review?label=all"})
        assert store.get(ids["rule"]).label == "false"
        r = c.post("/alerts/review/undo?next=/alerts/review", data={"csrf": _csrf(page)})
        assert "Beoordeling ongedaan gemaakt." in r.text
        assert store.get(ids["rule"]).label == "true"
        # The first (bulk) labels are undone through the API: both back to no label, in the queue again.
        c.post("/api/v1/alerts/label", json={"ids": [ids["model"]], "label": "false"},
               headers={"X-CSRF-Token": _csrf(page)})
        assert c.post("/api/v1/alerts/label/undo", headers={"X-CSRF-Token": _csrf(page)}).json() == {"undone": 1}
        a = store.get(ids["model"])
        assert (a.label, a.state) == ("true", "labelled")
        unl = db.conn.execute("SELECT count(*) FROM audit WHERE action = 'alert.unlabel'").fetchone()[0]
        assert unl == 2
    finally:
        db.conn.close()


def test_review_labels_reach_the_dataset_export(box_config: Any, tmp_path: Any) -> None:
    from appliance.models.dataset_export import export_alerts
    from appliance.storage import open_db

    c = _admin(box_config)
    ids = _seed(box_config)
    page = c.get("/alerts/review").text
    c.post("/alerts/review/label", data={"csrf": _csrf(page), "card": f"{ids['model']}:false", "next": "/alerts/review"})
    db = open_db(box_config.db_path)
    try:
        export_alerts(db, tmp_path / "ds")
    finally:
        db.conn.close()
    files = [p for p in (tmp_path / "ds").rglob("*") if p.is_file()]
    assert files, "the review's label did not reach the dataset export"


def test_operator_may_not_label(box_config: Any) -> None:
    c = kiosk_client(box_config, pins={"admin": "1234"})
    assert c.get("/alerts/review", follow_redirects=False).status_code == 303  # to the login
    home = c.get("/").text
    r = c.post("/api/v1/alerts/label", json={"ids": [1], "label": "true"}, headers={"X-CSRF-Token": _csrf(home)})
    assert r.status_code == 401


def test_a_rule_trip_card_and_alert_page_draw_the_signal_around_the_trip(box_config: Any) -> None:
    """Rule trips keep no window: the picture comes from the recorder's stored samples (the real
    Recorder thread into the box's SQLite file), 60 s before to 10 s after, with the rule's limit."""
    import re

    from appliance.bus import SampleQueue
    from appliance.recorder import Recorder
    from appliance.storage import open_db
    from drivers.samples import Sample

    trip = time.time_ns() - 120 * 10**9
    q = SampleQueue("recorder")
    with Recorder(box_config.db_path, q, batch_interval_s=0.05):  # stop flushes
        for i in range(-120, 31):  # 1 Hz from 120 s before to 30 s after: 71 inside the picture's window
            q.put(Sample("motor_current", 25.0 if i >= -1 else 12.0 + (i % 3), mono_ns=i + 200,
                         utc_ns=trip + i * 10**9))
    c = _admin(box_config)
    db = open_db(box_config.db_path)
    try:
        rule = _raise(db, name="vastgelopen", ts_ns=trip, detail="motor_current = 25 above 20 for 200 ms")
        bare = _raise(db, name="teller_staat_stil", ts_ns=trip - 3600 * 10**9)  # no samples stored then
        model = _raise(db, name="trilling", score=0.9)
    finally:
        db.conn.close()

    def card(html: str, aid: int) -> str:
        start = html.index(f'data-alert="{aid}"')
        end = html.find('<article class="card review-card"', start)
        return html[start:end if end > 0 else None]

    page = c.get("/alerts/review").text
    got = card(page, rule)
    m = re.search(r'<polyline class="trace-line" data-points="(\d+)"[^>]* points="([^"]+)"', got)
    assert m and int(m[1]) == 71 and len(m[2].split()) == 71, got
    assert 'class="trace-limit" data-limit="20.0"' in got and 'class="trace-mark"' in got
    assert ">20,0\u00a0A<" in got, "the limit's value beside its line"
    assert "Motorstroom van 60 s voor tot 10 s na de melding" in got
    # A stalled rule with nothing stored around its trip: a plain sentence, no chart.
    empty = card(page, bare)
    assert "Geen opgeslagen waarden van Stuks geteld rond de melding." in empty
    assert "<svg" not in empty and "trip-trace-empty" in empty
    assert "trip-trace" not in card(page, model), "a model trip shows its own window"
    # The alert's own page: the same picture, larger.
    one = c.get(f"/alerts/{rule}").text
    assert 'id="trip-trace"' in one and 'data-points="71"' in one and 'data-limit="20.0"' in one
    assert 'viewBox="0 0 640 200"' in one
