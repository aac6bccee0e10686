"""The UI in a real Chromium against the real ui and core processes with the simulator.

Screens at the three Raspberry Pi touch displays: no horizontal scrolling, no
text cut off, tap targets >= 48 px, no serious/critical axe violations, and
screenshots under tests/artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import SCREENSHOTS, VIEWPORTS, login
from .helpers import wait_for

pytestmark = pytest.mark.browser

PAGES = ["/", "/stops", "/alerts", "/kpis", "/blueprint", "/skills", "/check", "/settings", "/login"]

# Elements that hold text or can be tapped; checked for clipping and size.
LAYOUT_JS = """
() => {
  const doc = document.documentElement;
  const out = {hscroll: doc.scrollWidth > doc.clientWidth + 1, clipped: [], small: []};
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  for (const el of document.querySelectorAll('main *, header *, nav *')) {
    if (!visible(el) || el.closest('svg') || el.closest('.table-wrap') || el.tagName === 'PRE') continue;
    const hasText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (hasText && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'auto')
      out.clipped.push(el.tagName + '.' + el.className + ': ' + el.textContent.trim().slice(0, 40));
  }
  for (const el of document.querySelectorAll('a.btn, button, .tab, select, input:not([type=hidden]), label.choice, textarea')) {
    if (!visible(el) || el.closest('.osk')) continue;
    const r = el.getBoundingClientRect();
    if (el.matches('input[type=radio], input[type=checkbox]')) continue;  // the whole label.choice is the target
    if (r.height < 48 || r.width < 48) out.small.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' ' + (el.textContent || '').trim().slice(0, 30));
  }
  return out;
}
"""


def _axe_serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
            for v in result.response["violations"] if v.get("impact") in ("serious", "critical")]


def test_operator_assigns_reason_to_a_stop(stack: Any, page_factory: Any) -> None:
    page = page_factory("800x480")
    before = stack.get_json("/api/v1/stops")
    assert before, "the seeded stops need a reason"
    target = before[0]
    page.goto(stack.url + "/stops")
    first = page.locator(f"li.stop[data-stop='{target['id']}']")
    first.locator("button[value='breakdown.mechanical']").tap()
    page.wait_for_selector(".banner-ok")
    assert "Mechanisch" in page.locator(".banner-ok").inner_text()
    after = {s["id"] for s in stack.get_json("/api/v1/stops")}
    assert target["id"] not in after
    from appliance.database import open_box_db
    from appliance.kpi.queries import get_stop

    db = open_box_db(stack.config().db_path, migrate=False)
    stop = get_stop(db, target["id"])
    assert (stop.reason, stop.reason_role) == ("breakdown.mechanical", "operator")
    db.conn.close()


def test_maintenance_acknowledges_and_labels_an_alert(stack: Any, page_factory: Any) -> None:
    import numpy as np

    from appliance.alerts import AlertStore
    from appliance.database import open_box_db

    db = open_box_db(stack.config().db_path, migrate=False)
    aid = AlertStore(db).raise_alert(
        source="guard", kind="trilling", severity="critical", title="Trilling boven drempel",
        dedupe_key=f"test-{time.time_ns()}", detail="score 0.93 > 0.8",
        evidence={"window": {"vibration": np.sin(np.arange(4000) / 7.0).astype("float32")}, "rate_hz": 2000.0})
    page = page_factory("1280x800")
    login(page, stack.url, "maintenance")
    page.goto(stack.url + "/alerts")
    page.locator(f"li[data-alert='{aid}'] a").click()
    page.wait_for_url(f"**/alerts/{aid}")  # count() does not wait for the navigation the click started
    page.locator("#evidence").wait_for()
    assert page.locator("#evidence svg").count() == 1
    page.locator("#alert-ack").click()
    page.wait_for_selector(".banner-ok")
    page.locator("#comment").fill("deur stond open, geen lagerschade")
    osk = page.locator(".osk button[data-key=done]")
    if osk.is_visible():  # the on-screen keyboard of the touch display: close it with its ✓
        osk.tap()
    page.locator("#label-false").click()
    page.wait_for_selector("#alert-label")
    a = AlertStore(db).get(aid)
    assert (a.state, a.label, a.label_role, a.ack_role) == ("labelled", "false", "maintenance", "maintenance")
    assert a.comment == "deur stond open, geen lagerschade"
    page.goto(stack.url + "/alerts?state=all")
    stats = page.locator("#model-stats").inner_text()
    assert "trilling" in stats
    db.conn.close()


def test_coordinator_downloads_csv_matching_the_api(stack: Any, page_factory: Any) -> None:
    page = page_factory("1280x800")
    login(page, stack.url, "coordinator")
    # Yesterday and today: in the first hour after local midnight today has no closed
    # hour yet, yesterday always has 24.
    today = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    span = f"granularity=hour&start={today - dt.timedelta(days=1)}&end={today}"
    page.goto(stack.url + "/kpis?" + span)
    # Issue 16: the open hour keeps counting between the download and the API read
    # (1634.15 vs 1639.16 s), so only the periods closed before both reads are compared.
    closed_before = time.time_ns()
    probe = page.request.get(stack.url + "/api/v1/kpi/export?format=csv&" + span)
    assert probe.status == 200, probe.text()
    with page.expect_download() as dl:
        page.locator("#export-csv").click()
    with open(dl.value.path(), encoding="utf-8-sig") as fh:
        text = fh.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    api = page.request.get(stack.url + "/api/v1/kpi/periods?" + span).json()
    closed = [i for i, want in enumerate(api) if want["end_ts"] <= closed_before]
    assert rows and closed and len(rows) >= len(closed)
    for got, want in ((rows[i], api[i]) for i in closed):
        assert abs(dt.datetime.fromisoformat(got["start"]).timestamp() - want["start_ts"] / 1e9) < 60
        for key in ("pq", "apt_s", "oee"):
            if want.get(key) is None:
                assert got.get(key) in ("", None)
            else:
                assert float(got[key]) == pytest.approx(want[key], rel=1e-6, abs=1e-6)


def test_admin_arms_guard_fault_trips_and_reset(stack: Any, page_factory: Any) -> None:
    status = stack.ipc("guard.status")
    assert status.get("ok") and "mode" in status, status
    page = page_factory("800x480")
    login(page, stack.url, "admin")
    page.goto(stack.url + "/settings")
    page.locator("#guard-arm").click()
    page.locator("#guard-arm-confirm").click()  # arming asks first
    wait_for(lambda: stack.ipc("guard.status").get("mode") == "armed", what="guard armed")
    page.goto(stack.url + "/")
    page.wait_for_selector("#guard-tile[data-guard=armed]")
    stack.sim(op="inject", fault="jam")
    try:
        wait_for(lambda: stack.ipc("guard.status").get("tripped"), timeout_s=15, what="guard trip")
        tripped_at = time.time_ns()
        page.wait_for_selector("#guard-tile[data-guard=tripped]", timeout=5000)
        shown_at = time.time_ns()
        # The requirement: TRIPPED on screen within 1 s of the trip.
        assert (shown_at - tripped_at) / 1e9 < 1.0
        cause = page.locator("#guard-cause").inner_text()
        assert cause and "object" not in cause  # the rule's name, readable
        page.screenshot(path=str(SCREENSHOTS / "tripped-800x480.png"))
    finally:
        stack.sim(op="clear")
    # Reset once the cause is gone (a reset while it holds is refused: tests/ui/test_home_live.py).
    wait_for(lambda: not (stack.get_json("/api/v1/home")["guard"]["cause"] or {}).get("persists"), what="cause gone")
    page.locator("#guard-reset").click()
    wait_for(lambda: not stack.ipc("guard.status").get("tripped"), what="guard reset")
    page.wait_for_selector("#guard-tile[data-guard=armed]")
    stack.ipc("guard.set_mode", mode="shadow", role="admin")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_screens_fit_touch_displays(stack: Any, page_factory: Any, viewport: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = page_factory(viewport)
    login(page, stack.url, "admin")
    problems = []
    for path in PAGES:
        page.goto(stack.url + path)
        page.wait_for_load_state("load")
        name = (path.strip("/") or "home").replace("/", "-")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport}.png"), full_page=True)
        layout = page.evaluate(LAYOUT_JS)
        if layout["hscroll"]:
            problems.append(f"{path}: horizontal scrolling")
        problems += [f"{path}: text cut off: {c}" for c in layout["clipped"]]
        problems += [f"{path}: tap target < 48 px: {s}" for s in layout["small"]]
        if viewport == "1280x800":  # axe once per page is enough; the DOM is the same at every size
            problems += [f"{path}: axe {v}" for v in _axe_serious(page)]
    assert not problems, "\n".join(problems)


def test_language_switch_shows_no_untranslated_strings(stack: Any, page_factory: Any) -> None:
    from babel.messages.pofile import read_po

    from local_ui.i18n import po_path

    with po_path("nl").open("rb") as fh:
        nl = {m.id: m.string for m in read_po(fh) if m.id}
    dutch_only = {v for k, v in nl.items() if v != k and len(v) > 6}
    english_only = {k for k, v in nl.items() if v != k and len(k) > 6}
    page = page_factory("1280x800")
    login(page, stack.url, "admin")
    for lang, forbidden in (("en", dutch_only), ("nl", english_only)):
        page.goto(stack.url + "/")
        btn = page.locator(f"header button[name=lang][value={lang}]")
        if btn.count():
            btn.click()
        assert page.locator("html").get_attribute("lang") == lang
        for path in PAGES[:-1]:
            page.goto(stack.url + path)
            texts = set(t.strip() for t in page.locator("main, header, nav").all_inner_texts()[0:3] for t in t.split("\n"))
            leaked = sorted(t for t in texts if t in forbidden)
            assert not leaked, f"{lang} {path}: untranslated {leaked}"


def test_maintenance_installs_and_activates_a_model_in_settings(stack: Any, page_factory: Any, tmp_path: Any) -> None:
    from .test_models_api import bumped

    src = bumped(tmp_path, "1.3.0")
    base = stack.ipc("guard.status")["models"][0]["version"]
    page = page_factory("1280x800")
    login(page, stack.url, "maintenance")
    page.goto(stack.url + "/settings#models")
    page.locator("#model-file").set_input_files(str(src / "model.tflite"))
    page.locator("#manifest-file").set_input_files(str(src / "manifest.json"))
    page.locator("#model-install-submit").click()
    page.wait_for_selector(".banner-ok")
    assert "1.3.0" in page.locator(".banner-ok").inner_text()
    page.locator("[id='activate-vibration-anomaly-1.3.0']").click()
    page.wait_for_selector("#model-vibration-anomaly[data-active='1.3.0']")
    # The running core took it without a restart, and the screen says so.
    assert "nieuwe model" in page.locator(".banner-ok").inner_text()
    assert stack.ipc("guard.status")["models"][0]["version"] == "1.3.0"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#models").screenshot(path=str(SCREENSHOTS / "settings-models-1280x800.png"))
    page.locator("#rollback-vibration-anomaly").click()
    page.wait_for_selector(f"#model-vibration-anomaly[data-active='{base}']")
    assert stack.ipc("guard.status")["models"][0]["version"] == base


def test_operator_picks_a_product_on_home(stack: Any, page_factory: Any) -> None:
    from appliance.database import open_box_db

    page = page_factory("800x480")
    page.goto(stack.url + "/")
    page.locator("#product-as_b").tap()
    page.wait_for_selector("#product-as_b[aria-pressed=true]")
    assert "As B" in page.locator(".banner-ok").inner_text()
    db = open_box_db(stack.config().db_path, migrate=False)
    try:
        assert db.execute("SELECT value FROM settings WHERE key = 'kpi.product'").fetchone()[0] == "as_b"
        assert db.execute("SELECT role FROM audit WHERE action = 'kpi.set_product' AND target = 'as_b'").fetchone() == (
            "operator",)
    finally:
        db.conn.close()
