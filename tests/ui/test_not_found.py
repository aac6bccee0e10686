"""Every "no such thing" is a 404 from the one helper (local_ui.access.found): pages with their
own words, the API with the store's message. In-process app, real SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from .test_kpi_page import _admin


@pytest.mark.parametrize("path", ["/blueprint/step/no-such-step", "/skills/no-such-card", "/stops/999999",
                                  "/alerts/999999"])
def test_a_page_for_something_that_does_not_exist_is_404(box_config: Any, path: str) -> None:
    c = _admin(box_config)
    r = c.get(path)
    assert r.status_code == 404, (path, r.status_code)


def test_the_api_says_what_it_did_not_find(box_config: Any) -> None:
    c = _admin(box_config)
    r = c.get("/api/v1/alerts/999999")
    assert r.status_code == 404 and "999999" in r.json()["detail"]
