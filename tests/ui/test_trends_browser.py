"""Live trends (issue 15): Home's sparklines with the guard's limit line, OEE per day and per
shift against target, and today's timeline bar following the machine without a reload.
Real simulator + core + ui, Debian's Chromium; uPlot served from the box."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import SCREENSHOTS, VIEWPORTS, login
from .helpers import wait_for

pytestmark = pytest.mark.browser

SPARK = "document.querySelector('[data-spark=motor_current]')"


def _api(page: Any, url: str, path: str) -> Any:
    r = page.request.get(url + path)
    assert r.ok, (path, r.status)
    return r.json()


def test_sparkline_follows_the_simulator_and_draws_the_rule_limit(stack: Any, page_factory: Any) -> None:
    limit = next(r.limit for r in stack.config().guard.rules if r.name == "vastgelopen")
    page = page_factory("800x480")
    page.goto(stack.url + "/")
    page.wait_for_selector("body[data-sparks=ready]")
    # The limit line: a series at the rule's limit, named after the rule, inside the drawn y range.
    limit_series = page.evaluate(f"""() => {{ const u = {SPARK}._uplot;
        return {{label: u.series[2].label, values: Array.from(new Set(u.data[2])), ymax: u.scales.y.max,
                 ymin: u.scales.y.min, dash: u.series[2].dash}}; }}""")
    assert limit_series["label"] == "vastgelopen"
    assert limit_series["values"] in ([limit], [])  # [] only while no sample was recorded yet
    assert limit_series["ymin"] <= limit <= limit_series["ymax"] and limit_series["dash"]
    # A simulator change: the sparkline's newest point comes from the live stream, and it is the
    # same sample (time and value) the recorder stores and the API serves.
    t_change = time.time_ns()
    stack.sim(op="state", state="down", hold_s=600)
    try:
        page.wait_for_function(f"Number({SPARK}.dataset.lastT) > {t_change + 1_000_000_000}", timeout=15_000)
        last_t, last_v, n_limit, drawn_v = page.evaluate(f"""() => {{ const e = {SPARK}; const u = e._uplot;
            return [Number(e.dataset.lastT), Number(e.dataset.lastV), u.data[2].at(-1), u.data[1].at(-1)]; }}""")
        assert n_limit == limit and drawn_v == last_v

        def recorded() -> bool:
            h = _api(page, stack.url, "/api/v1/trends?signal=motor_current&window_s=20")["signals"][0]
            # A JavaScript number holds UTC ns to ~256 ns (2^53 < 1.8e18): same sample = within 1 us.
            return any(abs(t - last_t) < 1000 and v == last_v for t, v in zip(h["t"], h["v"], strict=True))

        # 20 s at a 100 ms poll is under the 300-point cap: every sample is in the answer.
        wait_for(recorded, timeout_s=15, what=f"the sample ({last_t}, {last_v}) in /api/v1/trends")
        # After a reload the history is there at once (from the recorder, not only from the stream).
        page.reload()
        page.wait_for_selector("body[data-sparks=ready]")
        first = page.evaluate(f"{SPARK}._uplot.data[0][0]")
        assert int(page.evaluate(f"{SPARK}.dataset.points")) > 5 and first * 1e9 < t_change
        page.locator("#live-values").screenshot(path=str(SCREENSHOTS / "home-sparklines-800x480.png"))
    finally:
        stack.sim(op="state", state="running", hold_s=600)


ROW = "tr[data-row=motor_current]"


def test_a_live_value_beyond_its_limit_is_marked_in_words_and_clears(stack: Any, page_factory: Any) -> None:
    """A jam at the simulator draws locked-rotor current (25 A) over the rule's limit (above 20 for 200 ms):
    Home's live value and its sparkline say so in words, live, and clear when the jam is gone."""
    page = page_factory("800x480")
    stack.sim(op="state", state="running", hold_s=600)
    page.goto(stack.url + "/")
    page.wait_for_selector("body[data-sparks=ready]")
    page.wait_for_function("document.body.dataset.liveTs")
    badge = page.locator(f"{ROW} [data-beyond-for=motor_current]")
    wait_for(lambda: "motor_current" not in _api(page, stack.url, "/api/v1/home")["beyond"], timeout_s=15,
             what="the motor current under its limit before the jam")
    page.wait_for_selector(f"{ROW} [data-beyond-for=motor_current]", state="hidden")
    try:
        stack.sim(op="inject", fault="jam")
        page.wait_for_selector(f"{ROW}.beyond [data-beyond-for=motor_current]:not([hidden])", timeout=15_000)
        assert badge.inner_text().replace("\u00a0", " ") == "boven grens 20,0 A"
        shown = float(page.locator(f"{ROW} [data-live=motor_current]").inner_text().replace(",", "."))
        assert shown > 20.0, f"highlighted at {shown} A"
        # Not colour alone: words and an arrow in a badge big enough to read at arm's length.
        style = page.evaluate("""() => { const b = document.querySelector('[data-beyond-for=motor_current]');
            const s = getComputedStyle(b); return {size: parseFloat(s.fontSize), weight: s.fontWeight,
            arrow: getComputedStyle(b, '::before').content, bg: s.backgroundColor}; }""")
        assert style["size"] >= 16 and style["weight"] in ("700", "bold") and "\u25b2" in style["arrow"], style
        assert page.get_attribute("[data-spark=motor_current]", "data-beyond") == "1"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        box = badge.bounding_box()
        assert box and box["x"] + box["width"] <= 800
        api = _api(page, stack.url, "/api/v1/home")["beyond"].get("motor_current")
        assert api and api["rule"] == "vastgelopen" and api["limit"] == 20.0
        page.locator("#live-values").screenshot(path=str(SCREENSHOTS / "home-beyond-limit-800x480.png"))
    finally:
        stack.sim(op="clear")
    # Back under the limit: the mark goes, without a reload.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_selector(f"{ROW} [data-beyond-for=motor_current]", state="hidden", timeout=15_000)
    assert page.locator(f"{ROW}.beyond").count() == 0
    assert page.get_attribute("[data-spark=motor_current]", "data-beyond") == "0"
    assert page.evaluate("window.__sameDocument === true")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_sparklines_fit_every_screen(stack: Any, page_factory: Any, viewport: str) -> None:
    page = page_factory(viewport)
    page.goto(stack.url + "/")
    page.wait_for_selector("body[data-sparks=ready]")
    box = page.locator("[data-spark=motor_current] canvas").bounding_box()
    assert box is not None and box["width"] >= 80 and box["height"] >= 32
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
    label = page.locator("[data-spark=motor_current]").get_attribute("aria-label")
    assert label.startswith("Motorstroom, laatste 10 minuten") and "grens 20,0 A" in label
    if viewport == "1280x800":
        # A narrower window: the sparkline follows its cell (no sideways scrolling after a resize either).
        wide = box["width"]
        page.set_viewport_size({"width": 800, "height": 480})
        page.wait_for_function(f"{SPARK}._uplot.width < {wide - 20}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways after resize"
        page.set_viewport_size({"width": 1280, "height": 800})
        # English: the signal's label_en, the same limit
        page.locator("button[name=lang][value=en]").click()
        page.wait_for_selector("html[lang=en] body[data-sparks=ready]")
        label = page.locator("[data-spark=motor_current]").get_attribute("aria-label")
        assert label.startswith("Motor current, last 10 minutes") and "limit 20.0 A" in label


def test_oee_charts_equal_the_api_rows_and_draw_the_target(stack: Any, page_factory: Any) -> None:
    cfg = stack.config()
    page = page_factory("1280x800")
    login(page, stack.url, "coordinator")
    today = dt.datetime.now(ZoneInfo(cfg.box.timezone)).date()
    keys = ("oee", "availability", "performance", "quality")

    def chart_equals_api(g: str, days: int) -> tuple[bool, Any]:
        page.wait_for_selector(f"#oee-chart-{g}[data-ready='1']")
        start = (today - dt.timedelta(days=days - 1)).isoformat()
        rows = _api(page, stack.url, f"/api/v1/kpi/periods?granularity={g}&start={start}")
        assert rows, f"no {g} rows: the stack seeds an hour and more of running"
        data = page.evaluate(f"document.getElementById('oee-chart-{g}')._uplot.data")
        want = [[r["start_ts"] / 1e9 for r in rows], *[[r[k] for r in rows] for k in keys]]
        return data[:5] == want, (data, want, set(data[5]))

    for g, days in (("day", 28), ("shift", 14)):
        # Today's period grows with every KPI write (machine.flush_s): the page's fetch and the test's may
        # straddle one, so load again until both saw the same write (a few seconds at most).
        seen: list[Any] = []
        for _ in range(6):
            page.goto(stack.url + "/kpis")
            ok, pair = chart_equals_api(g, days)
            seen.append(pair)
            if ok:
                break
        assert ok, seen[-1]
        assert seen[-1][2] == {cfg.machine.oee_target}
        labels = page.evaluate(f"document.getElementById('oee-chart-{g}')._uplot.series.map(s => s.label)")
        assert labels[1:] == ["OEE", "Beschikbaarheid", "Prestatie", "Kwaliteit", "Doel"]
    page.screenshot(path=str(SCREENSHOTS / "kpis-oee-target-1280x800.png"), full_page=True)
    small = page_factory("800x480")
    login(small, stack.url, "coordinator")
    small.goto(stack.url + "/kpis")
    small.wait_for_selector("#oee-chart-shift[data-ready='1']")
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"


def test_timeline_bar_gains_a_segment_without_a_reload(stack: Any, page_factory: Any) -> None:
    page = page_factory("800x480")
    stack.sim(op="state", state="running", hold_s=600)
    wait_for(lambda: _api(page, stack.url, "/api/v1/home")["machine"]["key"] == "running", timeout_s=15,
             what="the machine running")
    page.goto(stack.url + "/timeline")
    page.wait_for_selector("#timeline-shifts[data-live-refresh]")
    page.evaluate("window.__sameDocument = true")
    before = set(page.eval_on_selector_all("#timeline-shifts [data-stop]", "els => els.map(e => e.dataset.stop)"))
    stack.sim(op="state", state="down", hold_s=600)
    try:
        stop_id = None

        def api_stop() -> bool:
            nonlocal stop_id
            stop_id = _api(page, stack.url, "/api/v1/home")["stop"].get("id")
            return stop_id is not None and str(stop_id) not in before

        wait_for(api_stop, timeout_s=20, what="a new open stop in /api/v1/home")
        page.wait_for_selector(f"#timeline-shifts svg [data-stop='{stop_id}']", timeout=20_000)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        assert int(page.get_attribute("#timeline-shifts", "data-refreshed") or 0) >= 1
    finally:
        stack.sim(op="state", state="running", hold_s=600)


def test_charts_draw_under_the_box_csp(stack: Any, page_factory: Any) -> None:
    """The other tests bypass the CSP (they evaluate scripts in the page); this one keeps it on."""
    page = page_factory("800x480", enforce_csp=True)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(stack.url + "/")
    page.wait_for_selector("body[data-sparks=ready]")
    page.wait_for_selector("[data-spark=motor_current] canvas")
    login(page, stack.url, "coordinator")
    page.goto(stack.url + "/kpis")
    page.wait_for_selector("#oee-chart-shift[data-ready='1'] canvas")
    csp = page.request.get(stack.url + "/kpis").headers["content-security-policy"]
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert not refused, refused
