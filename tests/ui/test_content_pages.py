"""The blueprint, step, skills and check pages render from the real content
packs (and from a pack installed with `werkvloer content install`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from local_ui.app import create_app


@pytest.fixture
def client(box_config: Any) -> TestClient:
    c = TestClient(create_app(box_config, session_secret="test-secret"), client=("127.0.0.1", 40000))
    page = c.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    c.post("/setup", data={"pin": "1234", "pin2": "1234", "csrf": csrf.group(1)})
    return c


@pytest.mark.parametrize("url", ["/blueprint", "/skills", "/check", "/blueprint/step/sm-prod-01",
                                 "/skills/card-stop-signal"])
def test_content_pages_render(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200, r.text[:500]
    assert "<title>" in r.text


def test_blueprint_page_says_working_version(client: TestClient) -> None:
    html = client.get("/blueprint").text
    assert "Werkversie stappenplan machinebouw (0.9.0)" in html
    assert "Stappenplan (werkversie): stappen per bedrijfsfunctie" in html


def _benefit(html: str) -> str:
    m = re.search(r'id="benefit">(.*?)</p>', html, re.S)
    assert m, "no benefit on the step page"
    return m.group(1)


def test_step_page_shows_benefit_range_help_and_new_tasks(client: TestClient) -> None:
    html = client.get("/blueprint/step/sm-prod-01").text
    assert "Wat het oplevert" in _benefit(html) or "€" in _benefit(html)
    assert "vuistregel" in html  # no data yet: the box's figure is a marked rule of thumb
    assert "Koninklijke Metaalunie" in html and "Nieuwe taken" in html
    # the company's own machine-hour rate narrows the range
    own = client.get("/blueprint/step/sm-prod-01?machine_hour_rate=100").text
    assert _benefit(own) != _benefit(html)
    assert 'name="machine_hour_rate" inputmode="decimal" data-osk="number" value="100' in own


def test_step_without_own_yield_says_so(client: TestClient) -> None:
    assert "Geen eigen opbrengst" in _benefit(client.get("/blueprint/step/box-baseline").text)


def test_skills_page_lists_role_profiles_with_levels_and_steps(client: TestClient) -> None:
    html = client.get("/skills").text
    assert "Rolprofielen" in html and "Lasser / kanter" in html
    assert "doelniveau 2" in html and "/blueprint/step/sm-prod-05" in html


def test_check_advice_comes_from_each_pack_and_links_its_steps(client: TestClient) -> None:
    page = client.get("/check").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    ids = sorted(set(re.findall(r'name="(wi-[a-z0-9-]+)"', page)))
    answers = {sid: "1" for sid in ids}  # low everywhere (the reverse statements mirror, that is fine)
    r = client.post("/check", data={**answers, "csrf": csrf.group(1)})
    assert r.status_code == 200
    assert "(Werkversie stappenplan plaatbewerking)" in r.text and "/blueprint/step/sm-prod-02" in r.text
    assert "(Werkversie stappenplan machinebouw)" in r.text and "/blueprint/step/mb-prod-01" in r.text


def test_step_benefit_uses_what_the_box_measured(box_config: Any) -> None:
    """Nine hours of real KPI data (the KPI engine over a seeded timeline): the box's
    downtime figure replaces the rule of thumb on the step page."""
    from appliance.database import open_box_db

    from .helpers import seed_stops

    db_path = box_config.db_path
    db_path.parent.mkdir(parents=True, exist_ok=True)
    open_box_db(db_path).conn.close()  # every area's tables, as the core creates them
    seed_stops(box_config, db_path, minutes=9 * 60)
    c = TestClient(create_app(box_config, session_secret="test-secret"), client=("127.0.0.1", 40000))
    page = c.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    c.post("/setup", data={"pin": "1234", "pin2": "1234", "csrf": csrf.group(1)})
    html = c.get("/blueprint/step/mb-prod-02").text  # down_h_week * top_share * share_solved * ...
    row = re.search(r'for="in-down_h_week">[^<]*</label></td>\s*<td class="num">([^<]*)</td>\s*<td>([^<]*)</td>', html)
    assert row, html[html.find("benefit-inputs"):][:1500]
    assert row.group(2).strip() == "gemeten door de box"
    assert "–" not in row.group(1)  # one measured figure, not a range
