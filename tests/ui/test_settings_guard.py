"""Settings shows the guard mode it just set, marks the current mode and asks before arming
(real simulator + core + ui, Debian's Chromium)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SCREENSHOTS, login
from .helpers import wait_for

pytestmark = pytest.mark.browser


def test_settings_shows_the_new_mode_marks_it_and_confirms_arming(stack: Any, page_factory: Any) -> None:
    status = stack.ipc("guard.status")
    assert status.get("ok") and "mode" in status, status
    page = page_factory("800x480")
    login(page, stack.url, "maintenance")
    try:
        page.goto(stack.url + "/settings")
        page.locator("#guard-off").click()
        page.wait_for_load_state("load")
        assert page.locator("#settings-guard-mode").inner_text() == "Uit"
        assert page.locator("#guard-off").get_attribute("aria-pressed") == "true"
        assert page.locator("#guard-shadow").get_attribute("aria-pressed") == "false"
        assert "Uit" in page.locator("div.banner-ok[role=status]").inner_text()

        page.locator("#guard-arm").click()
        page.wait_for_selector("#arm-confirm")
        assert stack.ipc("guard.status")["mode"] == "off", "armed without asking"
        page.screenshot(path=str(SCREENSHOTS / "settings-arm-confirm-800x480.png"))
        page.locator("#guard-arm-cancel").click()
        assert page.locator("#arm-confirm").count() == 0 and stack.ipc("guard.status")["mode"] == "off"

        page.locator("#guard-arm").click()
        page.locator("#guard-arm-confirm").click()
        wait_for(lambda: stack.ipc("guard.status")["mode"] == "armed", what="armed")
        assert page.locator("#settings-guard-mode").inner_text() == "Scherp"
        assert page.locator("#guard-arm").get_attribute("aria-pressed") == "true"

        page.locator("#guard-shadow").click()
        page.wait_for_load_state("load")
        assert page.locator("#settings-guard-mode").inner_text().startswith("Schaduw")
        assert page.locator("#guard-shadow").get_attribute("aria-pressed") == "true"
    finally:
        stack.ipc("guard.set_mode", mode="shadow", role="admin")
