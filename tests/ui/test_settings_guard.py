"""Settings shows the guard mode it just set, marks the current mode and asks before arming
(real simulator + core + ui, Debian's Chromium)."""

from __future__ import annotations

import os
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
        # What the kernel gave the guard thread, in words: root gets the default SCHED_FIFO 10 (as the
        # box's unit grants it), another user normal scheduling.
        sched = page.locator("#settings-guard-scheduling")
        assert status["scheduling"] == ("fifo 10" if os.geteuid() == 0 else "normal"), status["scheduling"]
        assert sched.get_attribute("data-scheduling") == status["scheduling"]
        expected = "Realtimeprioriteit: ja (prioriteit 10)" if os.geteuid() == 0 else "Realtimeprioriteit: nee."
        assert " ".join(sched.inner_text().split()).startswith(expected), sched.inner_text()
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
        # The changes in "Recent changes" (the admin's), in words: the core stores "armed -> shadow".
        login(page, stack.url, "admin")
        page.goto(stack.url + "/settings")
        changes = page.locator("#audit").inner_text()
        assert "Scherp → Schaduw: alleen meldingen, geen stop" in changes and "->" not in changes, changes
    finally:
        stack.ipc("guard.set_mode", mode="shadow", role="admin")
