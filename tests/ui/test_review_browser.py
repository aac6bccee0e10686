"""Alert review queue, model status page and the maintenance override of a refused reset, in
Debian's Chromium against the real simulator + core + ui (issue 15)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import PINS, SCREENSHOTS, login
from .helpers import wait_for

pytestmark = pytest.mark.browser

TARGETS_JS = """
() => Array.from(document.querySelectorAll('main a, main button, main label.pick, nav a')).filter(e => {
  const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && (r.height < 48 || r.width < 48);
}).map(e => e.tagName + ' ' + Math.round(e.getBoundingClientRect().width) + 'x' +
         Math.round(e.getBoundingClientRect().height) + ' ' + e.textContent.trim().slice(0, 30))
"""


def _seed_alerts(stack: Any, name: str) -> list[int]:
    from appliance.alerts import AlertStore
    from appliance.database import open_box_db

    db = open_box_db(stack.config().db_path, migrate=False)
    try:
        store = AlertStore(db)
        ids = []
        for i in range(3):
            ids.append(store.raise_alert(
                source="guard", kind="guard.trip", severity="critical",
                title={"nl": f"Bewaking stopte de machine: {name} {i}", "en": f"Guard stopped the machine: {name} {i}"},
                dedupe_key=f"guard.trip.{name}{i}",
                evidence={"window": {"vibration": np.sin(np.arange(1024) / (5.0 + i)).astype("float32")},
                          "rate_hz": {"vibration": 2000.0}, "score": 0.9, "threshold": 0.5,
                          "model": "vibration-anomaly", "version": "1.0.0"}))
        return ids
    finally:
        db.conn.close()


def _labels(stack: Any, ids: list[int]) -> list[str | None]:
    from appliance.alerts import AlertStore
    from appliance.database import open_box_db

    db = open_box_db(stack.config().db_path, migrate=False)
    try:
        return [AlertStore(db).get(i).label for i in ids]
    finally:
        db.conn.close()


def test_review_cards_bulk_label_and_undo_at_800x480(stack: Any, page_factory: Any) -> None:
    name = f"rv{time.time_ns() % 10**8}"
    ids = _seed_alerts(stack, name)
    page = page_factory("800x480")
    login(page, stack.url, "maintenance")
    page.goto(stack.url + "/alerts")
    page.locator("#to-review").click()
    page.wait_for_selector(f"article[data-alert='{ids[0]}']")
    cards = {aid: page.locator(f"article[data-alert='{aid}']") for aid in ids}
    for c in cards.values():
        assert c.count() == 1
        assert c.locator("svg.chart-signal").count() == 1, "the window the model judged is on the card"
        assert "Score 0,90, drempel 0,50" in c.inner_text()
        for b in c.locator("button").all():
            box = b.bounding_box()
            assert box and box["height"] >= 64, f"label button {box} is not glove-sized"
    assert page.evaluate(TARGETS_JS) == [], "tap targets under 48 px"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "sideways scrolling"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-800x480.png"))
    # Two cards at once.
    cards[ids[0]].locator("label.pick").tap()
    cards[ids[1]].locator("label.pick").tap()
    page.locator("#bulk-true").click()
    page.wait_for_selector("div.banner-ok[role=status]")
    assert "2 meldingen beoordeeld: Terecht alarm." in page.locator("div.banner-ok[role=status]").inner_text()
    assert page.locator(f"article[data-alert='{ids[0]}']").count() == 0
    assert _labels(stack, ids) == ["true", "true", None]
    # A wrong tap: undo from the banner brings both back unlabelled.
    page.locator("#undo").click()
    page.wait_for_selector(f"article[data-alert='{ids[0]}']")
    assert _labels(stack, ids) == [None, None, None]
    # One card's own button; the "false alarm" chip then shows it.
    page.locator(f"article[data-alert='{ids[2]}'] button[value='{ids[2]}:false']").tap()
    page.wait_for_selector("div.banner-ok[role=status]")
    assert _labels(stack, ids) == [None, None, "false"]
    page.locator("#chips-label a.chip", has_text="Vals alarm").click()
    page.wait_for_selector(f"article[data-alert='{ids[2]}'] .review-label")
    assert page.locator(f"article[data-alert='{ids[0]}']").count() == 0


def test_a_rule_trip_card_draws_the_signal_around_the_trip(stack: Any, page_factory: Any) -> None:
    """A real rule trip (a jam at the simulator: motor current over 20 A, the guard in shadow) keeps no
    window; its card draws the recorder's samples around it with the limit line."""
    from appliance.alerts import AlertStore
    from appliance.database import open_box_db

    def rule_alert() -> Any:
        db = open_box_db(stack.config().db_path, migrate=False)
        try:
            return next((a for a in AlertStore(db).list(limit=200) if a.state != "closed" and a.dedupe_key
                         in ("guard.shadow.vastgelopen", "guard.trip.vastgelopen")), None)
        finally:
            db.conn.close()

    stack.sim(op="state", state="running", hold_s=600)
    assert stack.ipc("guard.status")["mode"] == "shadow"
    try:
        stack.sim(op="inject", fault="jam")
        a = wait_for(rule_alert, timeout_s=20, what="the rule's trip alert")
    finally:
        stack.sim(op="clear")
    page = page_factory("800x480")
    login(page, stack.url, "maintenance")
    page.goto(stack.url + "/alerts/review?label=all&name=vastgelopen")
    card = page.locator(f"article[data-alert='{a.id}']")
    card.wait_for()
    fig = card.locator("figure.trip-trace")
    assert fig.locator("svg.chart-trace").count() == 1, card.inner_html()
    line = fig.locator("polyline.trace-line")
    assert int(line.get_attribute("data-points") or 0) >= 2
    limit = fig.locator("line.trace-limit")
    assert limit.get_attribute("data-limit") == "20.0"
    # The jam's samples reach over the limit: a point of the line lies above the dashed one.
    y_limit = float(limit.get_attribute("y1") or 0)
    ys = [float(p.split(",")[1]) for p in (line.get_attribute("points") or "").split()]
    assert ys and min(ys) < y_limit, (min(ys), y_limit)
    assert "Motorstroom van 60 s voor tot 10 s na de melding" in fig.inner_text()
    box = fig.locator("svg").bounding_box()
    assert box and box["width"] >= 300 and box["x"] + box["width"] <= 800
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "sideways scrolling"
    card.screenshot(path=str(SCREENSHOTS / "review-rule-trip-800x480.png"))


def test_model_status_is_live_with_latency_and_gaps(stack: Any, page_factory: Any) -> None:
    page = page_factory("1280x800")
    login(page, stack.url, "maintenance")
    page.goto(stack.url + "/settings")
    page.locator("#to-model-status").click()
    card = page.locator("[data-binding=trilling]")
    card.wait_for()
    assert "drempel" in card.inner_text()
    before = card.locator("[data-ms=windows]").inner_text()
    # Live over the SSE stream: the count of judged windows moves without a reload.
    page.wait_for_function(
        "(b) => { const e = document.querySelector('[data-binding=trilling] [data-ms=windows]');"
        " return e && e.textContent !== b; }", arg=before, timeout=15_000)
    api = page.request.get(stack.url + "/api/v1/models/status").json()
    (b,) = [x for x in api["bindings"] if x["name"] == "trilling"]
    assert b["inferences"] > 0 and b["p50"] is not None and sum(b["latency"]["counts"]) == b["inferences"]
    page.reload()
    assert re.search(r"hoogstens [\d,]+ ms", card.locator("[data-ms=p50]").inner_text())
    assert card.locator(".ms-hist svg").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "model-status-1280x800.png"))


STUCK_RULE = """
[[guard.rules]]
name = "temp_sensor"
kind = "above"
signal = "temperature"
limit = 10.0
for_ms = 200
"""


def _seed_pins(cfg: Any, db_path: Path) -> None:
    from appliance.database import open_box_db
    from local_ui import security, store

    db = open_box_db(db_path)
    store.migrations.apply(db)
    for role, pin in PINS.items():
        security.set_pin(db, role, pin)
    db.conn.close()


def test_maintenance_override_resets_a_guard_held_by_a_stuck_sensor(tmp_path: Path, page_factory: Any) -> None:
    from .helpers import Stack

    st = Stack(tmp_path, seed=_seed_pins)
    text = st.config_path.read_text(encoding="utf-8")
    # A temperature sensor stuck above its limit (the demo machine is at 22 °C or more): the cause never goes.
    st.config_path.write_text(text.replace("[[guard.outputs]]", STUCK_RULE.lstrip() + "\n[[guard.outputs]]", 1),
                              encoding="utf-8")
    with _started(st) as stack:
        stack.ipc("guard.set_mode", mode="armed", role="admin")
        # The rule held already in shadow (edge-triggered: no new trip on arming); a reset restarts its hold time.
        stack.ipc("guard.reset", role="admin")
        wait_for(lambda: stack.ipc("guard.status").get("tripped"), timeout_s=15, what="trip on the stuck sensor")
        wait_for(lambda: (_home(stack)["guard"]["cause"] or {}).get("override"), timeout_s=10,
                 what=f"an overridable cause: {_home(stack)['guard']}")
        page = page_factory("800x480")
        page.goto(stack.url + "/")
        page.wait_for_selector("#guard-tile[data-guard=tripped] #guard-refuse:not([hidden])")
        # The operator's reset is refused while the sensor reads beyond its limit.
        page.locator("#guard-reset").click()
        page.wait_for_selector("div.banner-bad[role=status]")
        assert stack.ipc("guard.status").get("tripped")
        page.locator("#guard-override a").click()
        page.wait_for_selector("#login-submit")  # maintenance logs in with a PIN
        page.locator("input[name=role][value=maintenance]").check()
        for digit in PINS["maintenance"]:
            page.locator(f".keypad button[data-key='{digit}']").click()
        page.locator("#login-submit").click()
        page.wait_for_selector("#override-form")
        cause = page.locator("#override-cause").inner_text()
        assert "Temperatuur" in cause and "grens 10" in cause, cause
        assert "buiten de grens" in page.locator("#override").inner_text()
        assert "geen veiligheidsfunctie" in page.locator("#override .safety-note").inner_text().lower()
        # Without the tick and a reason nothing happens (the browser asks; the server refuses too).
        page.locator("#override-why").fill("Sensor hangt vast op 22 graden, machine nagekeken: koud")
        osk = page.locator(".osk button[data-key=done]")
        if osk.is_visible():
            osk.tap()
        page.locator("#override-confirm").check()
        assert page.locator("#override-shadow").is_checked()
        page.locator("#override-submit").click()
        page.wait_for_selector("div.banner-ok[role=status]")
        st_now = stack.ipc("guard.status")
        assert not st_now.get("tripped") and st_now.get("mode") == "shadow", st_now
        assert page.locator(".safety-note").count() >= 1
        from appliance.database import open_box_db

        db = open_box_db(stack.config().db_path, migrate=False)
        try:
            rows = db.conn.execute("SELECT role, detail FROM audit WHERE action = 'guard.reset_override'").fetchall()
        finally:
            db.conn.close()
        assert len(rows) == 1 and rows[0][0] == "maintenance" and "Sensor hangt vast" in rows[0][1], rows
        page.screenshot(path=str(SCREENSHOTS / "override-done-800x480.png"))


class _started:
    def __init__(self, st: Any) -> None:
        self.st = st

    def __enter__(self) -> Any:
        return self.st.start()

    def __exit__(self, *exc: Any) -> None:
        self.st.stop()


def _home(stack: Any) -> dict[str, Any]:
    with urllib.request.urlopen(stack.url + "/api/v1/home", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]
