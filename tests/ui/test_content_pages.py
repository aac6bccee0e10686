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
    assert "Stappenplan (werkversie)" in html
