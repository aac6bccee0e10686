"""The small things that add up: API docs without a CDN, text links as tap targets, the PIN
banner in view, idle logout at the kiosk, the loopback-only warning (real stack, Chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import PINS, SCREENSHOTS, login
from .test_kpi_page import _admin
from .test_security import _csrf

LINKS_JS = """
() => Array.from(document.querySelectorAll('main a, nav a')).filter(a => {
  const r = a.getBoundingClientRect(); const s = getComputedStyle(a);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && (r.height < 48 || r.width < 48);
}).map(a => a.getAttribute('href') + ' ' + Math.round(a.getBoundingClientRect().width) + 'x' +
         Math.round(a.getBoundingClientRect().height) + ' ' + a.textContent.trim().slice(0, 30))
"""


@pytest.mark.browser
def test_api_docs_load_with_no_network_beyond_the_box(stack: Any, page_factory: Any) -> None:
    page = page_factory("1280x800")
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if re.match(r"^https?://127\.0\.0\.1[:/]", route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(stack.url + "/api/v1/docs")
    assert "Werkvloer" in page.locator(".api-title").inner_text()
    assert page.locator("code", has_text="/api/v1/home").count() >= 1
    assert not outside, f"the docs page asked the internet: {outside}"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ["800x480", "720x1280"])
def test_text_links_are_48px_tap_targets(stack: Any, page_factory: Any, viewport: str) -> None:
    page = page_factory(viewport)
    login(page, stack.url, "admin")
    small = []
    for path in ("/", "/stops", "/alerts?state=all", "/kpis", "/blueprint", "/skills", "/check", "/settings"):
        page.goto(stack.url + path)
        small += [f"{path}: {s}" for s in page.evaluate(LINKS_JS)]
    assert not small, "\n".join(small)


@pytest.mark.browser
def test_pin_saved_banner_is_in_view(stack: Any, page_factory: Any) -> None:
    page = page_factory("800x480")
    login(page, stack.url, "admin")
    page.goto(stack.url + "/settings#pins")
    page.locator("#pins input[name=role][value=coordinator]").check()
    for sel in ("#new-pin", "#new-pin2"):
        page.locator(sel).fill(PINS["coordinator"])
    osk = page.locator(".osk button[data-key=done]")
    if osk.is_visible():
        osk.tap()
    page.locator("#pin-save").click()
    banner = page.locator("div.banner-ok[role=status]")
    banner.wait_for()
    box = banner.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 480, f"banner off screen: {box}"
    page.screenshot(path=str(SCREENSHOTS / "settings-pin-saved-800x480.png"))


def _admin_client(box_config: Any, *, idle_s: int | None = None) -> TestClient:
    cfg = box_config if idle_s is None else box_config.model_copy(
        update={"ui": box_config.ui.model_copy(update={"idle_logout_s": idle_s})})
    return _admin(cfg)


def test_kiosk_falls_back_to_operator_when_idle(box_config: Any, monkeypatch: Any) -> None:
    import time as _time

    c = _admin_client(box_config, idle_s=120)
    assert 'id="logout"' in c.get("/settings").text and 'data-idle-s="120"' in c.get("/").text
    t0 = _time.time()
    monkeypatch.setattr("local_ui.context.time.time", lambda: t0 + 60)
    c.get("/api/v1/home")  # a poll is not a person
    assert 'id="logout"' in c.get("/").text  # 60 s: still admin
    monkeypatch.setattr("local_ui.context.time.time", lambda: t0 + 60 + 121)
    page = c.get("/settings")
    assert page.url.path == "/login", "still logged in as admin after 2 min without a touch"
    assert 'id="logout"' not in c.get("/").text


def test_settings_warns_when_remote_access_is_on_but_only_loopback_listens(box_config: Any) -> None:
    c = _admin_client(box_config)
    page = c.get("/settings")
    r = c.post("/settings/remote", data={"enabled": "1", "csrf": _csrf(page.text)})
    assert r.status_code == 200
    assert 'id="remote-loopback-warning"' in c.get("/settings").text
