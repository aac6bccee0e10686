"""No developer text on Dutch screens: alert detail, evidence values, alert history and the
audit list in words, local times and rounded numbers (in-process app, real SQLite)."""

from __future__ import annotations

import re
import time
from typing import Any

from .test_kpi_page import _admin


def test_alert_page_and_audit_are_in_words(box_config: Any) -> None:
    from appliance.alerts import AlertStore
    from appliance.storage import open_db

    c = _admin(box_config)
    db = open_db(box_config.db_path)
    try:
        aid = AlertStore(db).raise_alert(
            source="guard", kind="guard.trip", severity="critical", title={"nl": "Bewaking stopte de machine", "en": "x"},
            dedupe_key=f"t-{time.time_ns()}", detail="motor_current = 23.341 above 20 for 200 ms",
            evidence={"score": 74.77493286132812, "motor_current": 23.341})
        AlertStore(db).acknowledge(aid, role="maintenance")
    finally:
        db.conn.close()
    page = c.get(f"/alerts/{aid}").text
    assert "motor_current" not in page and "Motorstroom 23,3\u00a0A, boven de grens van 20" in page
    assert "74.77" not in page and "74,8" in page
    assert "gemeld" in page and "bevestigd" in page and ">raised<" not in page
    settings = c.get("/settings").text
    audit = settings[settings.index('id="audit"'):]
    assert "ingelogd" in audit and "ui.login" not in audit
    assert not re.search(r"\d{18}", audit), "nanosecond stamps in the audit list"
