"""The shift timeline in Debian's Chromium against the real simulator + core + ui: a stop the
simulator makes shows on today's bar, a tap on it gives its reason (and a second tap corrects it)
through the Stops page, back on the timeline; the shift report prints without menus."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SCREENSHOTS
from .test_stops_flow import _new_stop

pytestmark = pytest.mark.browser


def _segment(stack: Any, stop_id: int) -> dict[str, Any]:
    for sh in stack.get_json("/api/v1/timeline")["shifts"]:
        for s in sh["segments"]:
            if s["stop_id"] == stop_id:
                return s
    raise AssertionError(f"stop {stop_id} is not on today's timeline")


def _no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_tap_a_stop_on_the_bar_to_give_and_correct_its_reason(stack: Any, page_factory: Any, stack_db: Any) -> None:
    stop = _new_stop(stack, stack_db)
    assert _segment(stack, stop["id"])["reason"] is None
    page = page_factory("800x480")
    page.goto(stack.url + "/stops")
    page.locator("#to-timeline").tap()
    link = page.locator(f"svg.gantt a.seg-link[data-stop='{stop['id']}']")
    link.wait_for()
    hit = link.locator("rect.hit").bounding_box()
    assert hit and hit["width"] >= 48 and hit["height"] >= 48, hit
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / "timeline-800x480.png"))
    link.tap()
    page.wait_for_url(f"**/stops/{stop['id']}?next=*")
    page.locator("button[value='material.transport']").tap()
    page.wait_for_url("**/timeline?day=*")
    assert "Intern transport" in page.locator("div.banner-ok[role=status]").inner_text()
    assert _segment(stack, stop["id"])["reason"] == "material.transport"
    # A wrong reason is corrected the same way: tap the bar again, tap the right reason.
    page.locator(f"svg.gantt a.seg-link[data-stop='{stop['id']}']").tap()
    page.wait_for_url(f"**/stops/{stop['id']}?next=*")
    assert "btn-primary" in (page.locator("button[value='material.transport']").get_attribute("class") or "")
    page.locator("button[value='breakdown.mechanical']").tap()
    page.wait_for_url("**/timeline?day=*")
    seg = _segment(stack, stop["id"])
    assert (seg["reason"], seg["colour"]) == ("breakdown.mechanical", "#4c0519")
    assert page.locator(f".seg-stops a[data-stop='{stop['id']}']").inner_text().strip().endswith("Mechanisch")
    # Undo of that tap brings the previous reason back and stays on the timeline.
    page.locator("#undo").tap()
    page.wait_for_selector("div.banner-ok[role=status]")
    assert "/timeline" in page.url
    assert _segment(stack, stop["id"])["reason"] == "material.transport"


@pytest.mark.parametrize("size", ["720x1280", "1280x800"])
def test_timeline_and_report_fit_the_screen_and_print(stack: Any, page_factory: Any, size: str) -> None:
    page = page_factory(size)
    page.goto(stack.url + "/timeline")
    page.wait_for_selector("svg.gantt")
    _no_horizontal_scroll(page)
    for box in (page.locator(".gantt rect.hit").all()[:5]):
        bb = box.bounding_box()
        assert bb and bb["width"] >= 48 and bb["height"] >= 48, bb
    page.screenshot(path=str(SCREENSHOTS / f"timeline-{size}.png"))
    page.locator("a[data-report]").first.tap()
    page.wait_for_selector("#shift-report")
    assert page.locator("#report-kpis").inner_text().startswith("OEE")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"shift-report-{size}.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("nav.tabs").is_visible() and not page.locator("#print").is_visible()
    assert page.locator("#report-kpis").is_visible()
    if size == "1280x800":
        pdf = page.pdf(format="A4")  # what "print to PDF" gives the team leader
        assert pdf[:4] == b"%PDF"
