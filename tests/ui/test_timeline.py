"""Shift timeline and shift report from the real KPI engine's data (in-process app, real SQLite):
segments cover the shift without gaps or overlaps, stops carry their reason and colour, and a reason
given through the Stops endpoints shows on the bar and in the report."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from appliance.database import open_box_db
from local_ui import security
from local_ui.app import create_app

from .helpers import seed_stops
from .test_security import _csrf

DAY = dt.date(2026, 11, 30)


def _client(box_config: Any) -> TestClient:
    db = open_box_db(box_config.db_path)
    db.conn.close()
    noon = dt.datetime.combine(DAY, dt.time(12, 0), tzinfo=ZoneInfo(box_config.box.timezone))
    seed_stops(box_config, box_config.db_path, now_ns=int(noon.timestamp()) * 10**9)  # 40 min up to 12:00
    app = create_app(box_config, session_secret="s")
    db = open_box_db(box_config.db_path, migrate=False)
    security.set_pin(db, "admin", "1234")
    db.conn.close()
    return TestClient(app, client=("127.0.0.1", 40000))  # the kiosk: the operator needs no login


def test_segments_cover_the_shift_and_stops_carry_their_reason(box_config: Any) -> None:
    c = _client(box_config)
    body = c.get(f"/api/v1/timeline?day={DAY}").json()
    assert body["day"] == DAY.isoformat()
    (shift,) = body["shifts"]  # no shifts configured: the whole day is one pseudo-shift
    segs = shift["segments"]
    assert segs[0]["start_utc_ns"] == shift["start_utc_ns"]
    assert segs[-1]["end_utc_ns"] == shift["until_utc_ns"] == shift["end_utc_ns"]  # a past day: covered to its end
    for a, b in zip(segs, segs[1:], strict=False):
        assert a["end_utc_ns"] == b["start_utc_ns"], (a, b)
    kinds = [s["kind"] for s in segs]
    assert kinds[0] == "no_data" and kinds[-1] == "no_data" and "run" in kinds
    stops = [s for s in segs if s["kind"] == "stop"]
    assert len(stops) == 2, segs
    assert [round(s["duration_s"] / 60) for s in stops] == [4, 3]
    assert all(s["tappable"] and s["stop_id"] and s["reason"] is None for s in stops)
    assert {s["colour"] for s in stops} == {"#b3261e"}  # reason needed

    # Give the first stop a reason through the Stops endpoint: the bar shows it in its group's colour.
    csrf = {"X-CSRF-Token": c.get("/api/v1/session").json()["csrf"]}
    r = c.post(f"/api/v1/stops/{stops[0]['stop_id']}/reason", json={"reason": "breakdown.electrical"}, headers=csrf)
    assert r.status_code == 200, r.text
    segs = c.get(f"/api/v1/timeline?day={DAY}").json()["shifts"][0]["segments"]
    first = next(s for s in segs if s["stop_id"] == stops[0]["stop_id"])
    assert (first["reason"], first["reason_label"], first["colour"]) == ("breakdown.electrical", "Storing / Elektrisch", "#4c0519")

    page = c.get(f"/timeline?day={DAY}")
    assert page.status_code == 200, page.text[:500]
    assert f'href="/stops/{stops[1]["stop_id"]}?next=%2Ftimeline%3Fday%3D{DAY}"' in page.text
    assert "Tijdlijn per dienst" in page.text and "Elektrisch" in page.text


def test_shift_report_has_oee_counts_and_stops(box_config: Any) -> None:
    c = _client(box_config)
    key = f"{DAY}/24h"
    rep = c.get("/api/v1/timeline/report", params={"shift": key}).json()
    assert rep["key"] == key
    assert 0 < rep["kpis"]["availability"] < 1 and rep["kpis"]["oee"] is not None
    assert rep["counts"]["produced"] > 0 and rep["counts"]["good"] == rep["counts"]["produced"]
    assert [round(s["duration_s"] / 60) for s in rep["stops"]] == [4, 3]
    assert rep["stops_without_reason"] == 2
    page = c.get("/timeline/report", params={"shift": key})
    assert page.status_code == 200
    assert "Dienstrapport" in page.text and "Reden nodig" in page.text and 'id="report-stops"' in page.text
    en = c.post("/language", data={"lang": "en", "next": "/", "csrf": _csrf(page.text)})
    assert en.status_code in (200, 303)
    page = c.get("/timeline/report", params={"shift": key})
    assert "Shift report" in page.text and "Reason needed" in page.text
    assert c.get("/api/v1/timeline/report", params={"shift": f"{DAY}/night"}).status_code == 404
    assert c.get("/api/v1/timeline", params={"day": "30-11-2026"}).status_code == 422


def test_a_bar_per_configured_shift(tmp_path: Any) -> None:
    """With the demo's two shifts, a Monday has two bars, each covered from its start to its end."""
    from appliance.config import load_config

    from .helpers import DEMO, free_port

    text = DEMO.read_text(encoding="utf-8").replace('data_dir = "', f'data_dir = "{tmp_path}/data" #', 1)
    text = text.replace("port = 8080", f"port = {free_port()}\nallowed_hosts = [\"testserver\"]", 1)
    p = tmp_path / "box.toml"
    p.write_text(text, encoding="utf-8")
    cfg = load_config(p)
    assert [s.name for s in cfg.machine.shifts] == ["Vroeg", "Laat"]
    c = _client(cfg)  # DAY (2026-11-30) is a Monday; the seeded stops lie in "Vroeg" (11:20-12:00)
    shifts = c.get(f"/api/v1/timeline?day={DAY}").json()["shifts"]
    assert [s["name"] for s in shifts] == ["Vroeg", "Laat"]
    for sh in shifts:
        segs = sh["segments"]
        assert segs[0]["start_utc_ns"] == sh["start_utc_ns"] and segs[-1]["end_utc_ns"] == sh["end_utc_ns"]
        assert all(a["end_utc_ns"] == b["start_utc_ns"] for a, b in zip(segs, segs[1:], strict=False))
    assert sum(s["kind"] == "stop" for s in shifts[0]["segments"]) == 2
    assert {s["kind"] for s in shifts[1]["segments"]} == {"no_data"}
    page = c.get(f"/timeline?day={DAY}")
    assert page.text.count('class="gantt"') == 2 and "Vroeg 30-11-2026 (06:00–14:30)" in page.text


def test_shift_report_as_a_pdf_made_on_the_box(box_config: Any) -> None:
    import io

    from pypdf import PdfReader

    c = _client(box_config)
    key = f"{DAY}/24h"
    rep = c.get("/api/v1/timeline/report", params={"shift": key}).json()
    csrf = {"X-CSRF-Token": c.get("/api/v1/session").json()["csrf"]}
    first = rep["stops"][0]["id"]
    assert c.post(f"/api/v1/stops/{first}/reason", json={"reason": "breakdown.electrical",
                                                          "comment": "Zekering F3 vervangen"},
                  headers=csrf).status_code == 200
    page = c.get("/timeline/report", params={"shift": key})
    assert f'href="/timeline/report.pdf?shift={DAY}/24h"' in page.text  # the button on the print page
    assert "Zekering F3 vervangen" in page.text  # the stop's comment on the print page too

    got = c.get("/timeline/report.pdf", params={"shift": key})
    assert got.status_code == 200, got.text[:300]
    assert got.headers["content-type"] == "application/pdf"
    assert f'filename="dienstrapport-{DAY}-24h.pdf"' in got.headers["content-disposition"]
    pdf = PdfReader(io.BytesIO(got.content))
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    oee = f"{rep['kpis']['oee'] * 100:.1f}".replace(".", ",")  # Dutch decimal comma, as on the page
    assert "Dienstrapport" in text and f"OEE {oee}" in text.replace("\xa0", " "), text
    assert "Storing / Elektrisch" in text and "Reden nodig" in text  # one stop with, one without a reason
    assert "Zekering F3 vervangen" in text
    assert all(h in text for h in ("03:00", "12:00", "21:00")) and "13:00" not in text  # 24 h: a tick every 3 h
    assert "Stilstanden (2, 1 zonder reden)" in text, text
    assert c.get("/timeline/report.pdf", params={"shift": f"{DAY}/night"}).status_code == 404
