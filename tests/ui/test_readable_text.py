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


def test_alert_detail_in_the_screen_language_with_the_raw_error_apart(box_config: Any) -> None:
    """A detail stored in both languages: the Dutch screen shows the Dutch sentence, the English one the
    English; the device's own error text apart, as code marked stored; the API gives both."""
    from appliance.alerts import AlertStore
    from appliance.storage import open_db

    c = _admin(box_config)
    db = open_db(box_config.db_path)
    try:
        store = AlertStore(db)
        aid = store.raise_alert(
            source="driver", kind="device_lost", severity="critical", dedupe_key=f"t-{time.time_ns()}",
            title={"nl": "Geen verbinding met cel_plc", "en": "No connection to cel_plc"},
            detail={"nl": "Het apparaat antwoordt niet. Controleer de kabel.", "en": "The device does not answer.",
                    "error": "[Errno 111] Connection refused"})
        rule = store.raise_alert(
            source="guard", kind="guard.trip", severity="critical", dedupe_key=f"r-{time.time_ns()}", title="x",
            detail="motor_current = 23.341 above 20 for 200 ms. Outputs: stop_relay: confirmed")  # an old row
    finally:
        db.conn.close()
    page = c.get(f"/alerts/{aid}").text
    shown = re.search(r'<p class="big" id="alert-detail">([^<]*)</p>', page)
    assert shown and shown[1] == "Het apparaat antwoordt niet. Controleer de kabel."
    assert re.search(r"<code data-stored>\[Errno 111\] Connection refused</code>", page)
    assert "The device does not answer" not in page
    assert "<h1>Geen verbinding met cel_plc</h1>" in page  # a title in both languages is scanned, not skipped
    old = c.get(f"/alerts/{rule}").text
    assert "Motorstroom 23,3\u00a0A, boven de grens van 20" in old and "Outputs: stop_relay" in old
    assert "<h1 data-stored>x</h1>" in old  # a plain title (an old row, a tool's) is shown as stored
    api = c.get(f"/api/v1/alerts/{aid}").json()  # the session's language, as the pages
    assert api["detail"] == "Het apparaat antwoordt niet. Controleer de kabel."
    assert api["detail_error"] == "[Errno 111] Connection refused" and api["detail_raw"].startswith("{")


def test_settings_config_summary_is_in_the_screen_language(box_config: Any) -> None:
    """The config summary on Settings: a table with Dutch labels and the configured names as they are
    (it was the English check-config text in a <pre> marked stored); the API keeps both."""
    c = _admin(box_config)
    page = c.get("/settings").text
    card = page[page.index('id="config"'):page.index('id="language"')]
    assert "data-stored" not in card.split('id="config-summary"')[1].split("</table>")[0]
    for word in ("Bronnen", "Signalen", "Stopuitgangen", "Tijdzone", "Toegang op afstand"):
        assert f'<th scope="row">{word}</th>' in card, word
    assert "Sources:" not in card and "remote access" not in card and "signals" not in card
    assert box_config.box.name in card and box_config.box.timezone in card
    api = c.get("/api/v1/settings").json()
    assert api["summary"].startswith("Box ") and api["summary_data"]["box"]["name"] == box_config.box.name


def test_a_config_problem_shows_its_key_as_code_and_the_message_as_stored(box_config: Any, tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from appliance.database import open_box_db
    from local_ui import security
    from local_ui.app import create_app

    from .test_kpi_page import _csrf

    bad = tmp_path / "bad.toml"
    bad.write_text('[box]\nname = "x"\nlanguage = "fr"\n', encoding="utf-8")
    app = create_app(box_config, session_secret="s", config_path=bad)
    db = open_box_db(box_config.db_path, migrate=False)
    security.set_pin(db, "admin", "1234")
    db.conn.close()
    c = TestClient(app, client=("127.0.0.1", 40000))
    c.post("/login", data={"role": "admin", "pin": "1234", "csrf": _csrf(c.get("/login").text), "next": "/"})
    page = c.get("/settings").text
    card = page[page.index('id="config"'):page.index('id="language"')]
    assert "Het configuratiebestand op schijf heeft fouten" in card
    assert re.search(r"<li><code>[^<]*language[^<]*</code>: <span data-stored>[^<]+</span></li>", card), card


def test_an_armed_trip_s_outputs_are_words_of_the_screen_s_language() -> None:
    # The visible-text scan meets this detail only when an armed trip happens to be in the review
    # queue (a fresh-clone run had one: 'Outputs: stop_spoel confirmed' failed in English).
    from appliance.config import load_config
    from appliance.guard.store import OutputResult
    from appliance.guard.threads import rule_detail
    from appliance.guard.trips import with_outputs

    from .visible_text import config_names, leftover

    cfg = load_config("configs/demo.toml")
    results = [OutputResult("stop_spoel", "modbus", 1, True, None), OutputResult("noodrelais", "gpio", 2, False, "boom")]
    d = with_outputs(rule_detail("motor_current", "above", 22.9, 20.0, 200), results)
    names = config_names(cfg) | {"noodrelais"}
    for lang in ("nl", "en"):
        assert leftover(d["outputs"][lang], lang, names) == [], d["outputs"][lang]
