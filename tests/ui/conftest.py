"""Fixtures of the UI tests: in-process app (TestClient), the real stack
(simulator + core + ui through the CLI), and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import REPO, Stack, seed_stops

CHROMIUM = os.environ.get("WERKVLOER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
VIEWPORTS = {"800x480": (800, 480), "1280x800": (1280, 800), "720x1280": (720, 1280)}
PINS = {"admin": "246810", "maintenance": "1357", "coordinator": "8642"}


@pytest.fixture
def box_config(tmp_path: Path) -> Any:
    from appliance.config import load_config

    from .helpers import demo_config_text, free_port

    p = tmp_path / "box.toml"
    p.write_text(demo_config_text(data_dir=tmp_path / "data", modbus_port=free_port(), ui_port=free_port()))
    return load_config(p)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real processes, once per test session, with two past stops and PINs set."""
    tmp = Path(tempfile.mkdtemp(prefix="werkvloer-ui-"))

    def seed(cfg: Any, db_path: Path) -> None:
        from appliance.database import open_box_db
        from local_ui import security, store

        # An hour of running before the stops: the KPI pages always have a closed hour
        # (the CSV test compares closed periods only), whatever the time of day.
        seed_stops(cfg, db_path, lead_minutes=60)
        db = open_box_db(db_path)
        store.migrations.apply(db)
        for role, pin in PINS.items():
            security.set_pin(db, role, pin)
        db.conn.close()

    st = Stack(tmp, seed=seed).start()
    try:
        yield st
    finally:
        st.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def stack_db(stack: Stack) -> Iterator[Any]:
    """The stack's box database, read as the tests' own peer."""
    from appliance.storage import open_db

    db = open_db(stack.config().db_path, migrate=False)
    try:
        yield db
    finally:
        db.conn.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it as root, or apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(viewport: str = "800x480", *, has_touch: bool = True, enforce_csp: bool = False) -> Any:
        # Playwright's wait_for_function and axe evaluate strings in the page, which the
        # box's Content-Security-Policy forbids; test_host_origin checks the pages under it.
        w, h = VIEWPORTS[viewport]
        ctx = browser.new_context(viewport={"width": w, "height": h}, has_touch=has_touch, accept_downloads=True,
                                  locale="nl-NL", timezone_id="Europe/Amsterdam", bypass_csp=not enforce_csp)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def login(page: Any, base: str, role: str) -> None:
    """Log in through the login screen, tapping the PIN on the on-screen keypad."""
    page.goto(f"{base}/login?next=/")
    page.locator(f"input[name=role][value={role}]").check()
    for digit in PINS[role]:
        page.locator(f".keypad button[data-key='{digit}']").click()
    page.locator("#login-submit").click()
    page.wait_for_selector("#logout")
