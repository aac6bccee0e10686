"""The hub's coordinator pages: login, boxes, roll-ups with small cells
suppressed, the staggered difference-in-differences finding a known effect,
CSV export (also Dutch Excel)."""

from __future__ import annotations

import math
import random
import re
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sync.hub import store
from sync.hub.app import create_app
from sync.hub.db import Database
from sync.schema import Batch, KpiPeriod, canonical_bytes

DAY_S = 86_400
T0 = 1_780_000_000 - 1_780_000_000 % DAY_S
EFFECT = 0.10  # the pilot raises OEE by 10 %


def _firm_batch(loan: str, sector: str, pilot_day: int | None, rng: random.Random) -> bytes:
    base = rng.uniform(0.45, 0.7)
    periods = []
    for d in range(70):
        common = 1 + 0.03 * math.sin(d / 5)  # a programme-wide trend the comparison group removes
        pilot = pilot_day is not None and d >= pilot_day
        oee = base * common * (1 + EFFECT if pilot else 1) * rng.uniform(0.97, 1.03)
        periods.append(KpiPeriod(granularity="day", start_ts=T0 + d * DAY_S, end_ts=T0 + (d + 1) * DAY_S,
                                 phase="pilot" if pilot else "baseline", planned_s=57600, run_s=50000, down_s=7600,
                                 planned_down_s=0, setup_s=0, no_data_s=0, total_count=1000, good_count=980,
                                 scrap_count=20, micro_stops=3, failures=2, availability=0.87, performance=0.9,
                                 quality=0.98, oee=oee))
    return canonical_bytes(Batch(loan=loan, seq=1, programme="p", sector=sector, size_class="10-49", consent="kpi",
                                 consent_version=1, software_version="0.1.0", boot_id="b", clock_synced=True,
                                 periods=periods))


@pytest.fixture
def hub(hub_db_url: str) -> Any:
    rng = random.Random(5)
    db = Database(hub_db_url)
    for i in range(16):
        sector = "25" if i < 13 else "28"
        pilot_day = [21, 28, 35, 42][i % 4] if i % 5 else None  # staggered starts; some never start
        loan = secrets.token_hex(16)
        token = store.create_token(db, f"box-{i}")
        box = store.box_for_token(db, token)
        assert box
        ans = store.ingest(db, box=box, key=f"{loan}:1", body=_firm_batch(loan, sector, pilot_day, rng))
        assert ans.status == 200, ans.body
    coord = store.create_token(db, "anna", role="coordinator")
    client = TestClient(create_app(db))
    client.coord = coord  # type: ignore[attr-defined]
    yield client
    db.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def login(client: Any, token: str, **headers: str) -> Any:
    """Log in as a browser does: the login page's form, with its CSRF token."""
    csrf = _csrf(client.get("/login").text)
    return client.post("/login", data={"token": token, "csrf": csrf}, headers=headers, follow_redirects=False)


def signed_in(client: Any) -> bool:
    return client.get("/", follow_redirects=False).status_code == 200


def test_pages_need_a_coordinator_token(hub: Any) -> None:
    assert hub.get("/", follow_redirects=False).headers["location"] == "/login"
    box_token = store.create_token(hub.app.state.db, "box-x")
    r = login(hub, box_token)
    assert r.status_code == 401 and "ingetrokken token" in r.text  # a box token is not a coordinator's
    assert not signed_in(hub)
    assert login(hub, hub.coord).status_code == 303
    page = hub.get("/")
    assert page.status_code == 200 and "Boxen" in page.text and "box-15" in page.text


def test_login_takes_only_the_hubs_own_form(hub: Any) -> None:
    # Login CSRF: another site must not log a coordinator's browser into a session of its choosing.
    r = hub.post("/login", data={"token": hub.coord}, follow_redirects=False)  # no form token
    assert r.status_code == 403 and "andere site" in r.text and not signed_in(hub)
    r = login(hub, hub.coord, Origin="http://evil.example")
    assert r.status_code == 403 and not signed_in(hub)
    r = login(hub, hub.coord, Referer="http://evil.example/page")  # no Origin: the Referer decides
    assert r.status_code == 403 and not signed_in(hub)
    other = TestClient(hub.app)
    r = hub.post("/login", data={"token": hub.coord, "csrf": _csrf(other.get("/login").text)},
                 follow_redirects=False)  # a token of another browser's page
    assert r.status_code == 403 and not signed_in(hub)
    r = login(hub, hub.coord, Origin="http://testserver")
    assert r.status_code == 303 and signed_in(hub)
    assert hub.coord not in str(hub.cookies.get("werkvloer_hub"))  # the cookie is a session, not the token


def test_logout_ends_the_session_also_for_a_copied_cookie(hub: Any) -> None:
    assert login(hub, hub.coord).status_code == 303
    sid = hub.cookies.get("werkvloer_hub")
    copy = TestClient(hub.app, cookies={"werkvloer_hub": sid})
    assert signed_in(copy)
    page = hub.get("/").text
    assert 'action="/logout"' in page and "Uitloggen" in page
    # Not from another site, and not without the page's token: the session stays.
    assert hub.post("/logout", data={"csrf": _csrf(page)}, headers={"Origin": "http://evil.example"},
                    follow_redirects=False).status_code == 403
    assert hub.post("/logout", follow_redirects=False).status_code == 403
    assert signed_in(hub)
    r = hub.post("/logout", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert not signed_in(hub) and not signed_in(copy)  # ended at the hub, not just forgotten by the browser
    # Revoking the coordinator's token ends a live session too.
    assert login(hub, hub.coord).status_code == 303 and signed_in(hub)
    assert store.revoke_token(hub.app.state.db, "anna")
    assert not signed_in(hub)


def test_rollups_suppress_small_cells_and_the_effect_is_found(hub: Any) -> None:
    login(hub, hub.coord)
    roll = hub.get("/rollups").text
    assert "minder dan 10 bedrijven" in roll
    row28 = roll[roll.index("<td>28</td>"):].split("</tr>")[0]
    assert row28.count(">x<") == 4  # firms and every figure
    row25 = roll[roll.index("<td>25</td>"):].split("</tr>")[0]
    assert ">13<" in row25

    from sync.hub.analysis import did_effect, load_firms

    e = did_effect(load_firms(hub.app.state.db))
    assert e["treated"] == 12 and e["firms"] == 16
    assert e["relative_pct_low"] < EFFECT * 100 < e["relative_pct_high"]
    assert abs(e["relative_pct"] - EFFECT * 100) < 3
    assert e["points"] > 0
    page = hub.get("/effect?lang=en").text
    assert "Effect of the programme" in page and "resamples" in page

    csv_nl = hub.get("/export.csv?what=rollups&dialect=nl")
    assert csv_nl.text.startswith("\ufeffsector;size_class;firms")
    assert ";x;" in csv_nl.text
    firms = hub.get("/export.csv?what=firms").text.splitlines()
    assert len(firms) == 17 and firms[0].startswith("loan,box,sector")
