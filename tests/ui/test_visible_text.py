"""Every visible text node of every page reachable from the navigation (and the pages those
link to), as each role, in Dutch and in English, is a catalogue string of the active language,
a glossary term or data (issue 15). Real simulator + core + ui, Debian's Chromium, 1280x800."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import login
from .visible_text import config_names, leftover

pytestmark = pytest.mark.browser

TEXT_JS = """
() => {
  const out = [];
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = w.nextNode())) {
    const t = n.textContent.replace(/\\s+/g, ' ').trim();
    const p = n.parentElement;
    if (!t || !p || p.closest('script, style, noscript, [hidden], [data-stored], [lang]:not(html)')) continue;
    if (!p.getClientRects().length) continue;
    const s = getComputedStyle(p);
    if (s.visibility === 'hidden' || s.display === 'none') continue;
    out.push(t);
  }
  return out;
}
"""
LINKS_JS = "() => Array.from(document.querySelectorAll('nav a, main a')).map(a => a.getAttribute('href'))"
SKIP = re.compile(r"^/(api/|static/|openapi|logout|setup)|[?&]format=|/evidence/|/export")
MAX_PAGES = 45


def _pattern(href: str) -> str:
    u = urlsplit(href)
    keys = sorted(k.split("=")[0] for k in u.query.split("&") if k)
    return re.sub(r"\d+", "N", u.path) + "?" + "&".join(keys)


def _crawl(page: Any, base: str, names: set[str], lang: str) -> dict[str, list[str]]:
    todo, seen, problems = ["/"], set(), {}
    while todo and len(seen) < MAX_PAGES:
        href = todo.pop(0)
        pat = _pattern(href)
        if pat in seen:
            continue
        seen.add(pat)
        resp = page.goto(base + href)
        if resp is None or resp.status >= 400 or urlsplit(page.url).path == "/login" and href != "/login":
            continue
        bad = []
        for text in page.evaluate(TEXT_JS):
            rest = leftover(text, lang, names)
            if rest:
                bad.append(f"{text!r} -> {rest}")
        if bad:
            problems[href] = bad
        for link in page.evaluate(LINKS_JS):
            if link and link.startswith("/") and not link.startswith("//") and not SKIP.search(link):
                link = link.split("#")[0] or "/"
                if _pattern(link) not in seen:
                    todo.append(link)
    return problems


# Dutch (the default) as each role; English as admin, who reaches every page the others do
# (an English crawl per role would add three minutes to the suite and no page).
@pytest.mark.parametrize(("role", "lang"), [("operator", "nl"), ("maintenance", "nl"), ("coordinator", "nl"),
                                            ("admin", "nl"), ("admin", "en")])
def test_every_visible_text_is_catalogue_glossary_or_data(stack: Any, page_factory: Any, role: str,
                                                         lang: str) -> None:
    names = config_names(stack.config())
    page = page_factory("1280x800")
    if role != "operator":
        login(page, stack.url, role)
    page.goto(stack.url + "/")
    if lang != "nl":
        page.locator("button[name=lang][value=en]").click()
        page.wait_for_selector("html[lang=en]")
    problems = _crawl(page, stack.url, names, lang)
    report = "\n".join(f"{href}:\n    " + "\n    ".join(lines) for href, lines in problems.items())
    assert not problems, f"texts that are not in the {lang} catalogue, the glossary or data ({role}):\n{report}"


ERROR = "Modbus Error: [Connection] Failed to connect[ModbusTcpClient 127.0.0.1:1]"


def _raise_box_alerts(stack: Any) -> tuple[dict[str, int], str]:
    """Alerts as the box raises them, through the real raisers and the real consumer into the stack's
    database: a device that does not answer (with the driver's own error text) and a disk running low."""
    from appliance.alerts import AlertConsumer, AlertSink
    from appliance.health import check_disk
    from appliance.parts import SourceWatch
    from drivers.base import SourceHealth

    cfg = stack.config()
    sink = AlertSink()
    # Its own device name: the stack's core may have raised a real one for cel_plc (de-duplicated into it).
    health = SourceHealth(name=f"scan_plc_{time.monotonic_ns()}", kind="modbus", available=False,
                          last_error=ERROR)
    SourceWatch(sink, grace_s=0).check([type("Src", (), {"health": health})()], uptime_s=60)
    check_disk(cfg.box.data_dir, sink=sink, min_free_fraction=1.1)
    consumer = AlertConsumer(sink, cfg.db_path)
    assert consumer.drain_once() == 2
    keys = {f"driver:{health.name}:lost": "device_lost", "box:disk_low": "disk_low"}
    ids = {keys[a.dedupe_key]: a.id for a in consumer.store.list(open_only=True, limit=500) if a.dedupe_key in keys}
    consumer.store.conn.close()
    return ids, health.name


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_alert_details_and_the_config_summary_are_scanned(stack: Any, page_factory: Any, lang: str) -> None:
    """A non-rule alert's title and detail and the Settings config summary are scanned, not skipped as
    stored text (issue 15): the sentence is in the screen's language; only the raw error is marked stored."""
    ids, device = _raise_box_alerts(stack)
    names = config_names(stack.config()) | {device}  # its name stands for a configured source
    page = page_factory("1280x800")
    login(page, stack.url, "admin")
    if lang != "nl":
        page.locator("button[name=lang][value=en]").click()
        page.wait_for_selector("html[lang=en]")
    want = {"nl": "Het apparaat antwoordt niet.", "en": "The device does not answer."}[lang]
    problems, scanned = {}, []
    for href in [*(f"/alerts/{i}" for i in ids.values()), "/alerts/review", "/settings"]:
        page.goto(stack.url + href)
        texts = page.evaluate(TEXT_JS)
        scanned += texts
        bad = [f"{t!r} -> {rest}" for t in texts if (rest := leftover(t, lang, names))]
        if bad:
            problems[href] = bad
    assert any(t.startswith(want) for t in scanned), "the device alert's detail was not scanned"
    title = {"nl": "Geen verbinding met", "en": "No connection to"}[lang]
    assert any(t.startswith(title) for t in scanned), "the device alert's title was not scanned"
    assert {"nl": "Bronnen", "en": "Sources"}[lang] in scanned, "the config summary was not scanned"
    page.goto(stack.url + f"/alerts/{ids['device_lost']}")
    assert page.locator("#main code[data-stored]").first.inner_text() == ERROR
    assert not problems, "\n".join(f"{h}:\n    " + "\n    ".join(b) for h, b in problems.items())
