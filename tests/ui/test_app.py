"""Health, live values over SSE (relaying a real appliance.ipc server), core-down states."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from appliance.database import open_box_db
from local_ui import security
from local_ui.app import create_app

from .helpers import core_ipc, free_port, wait_for


class ServerThread:
    """The UI app under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started, what="uvicorn started")
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def ui(box_config: Any) -> Iterator[ServerThread]:
    app = create_app(box_config, session_secret="s")
    db = open_box_db(box_config.db_path, migrate=False)
    security.set_pin(db, "admin", "1234")
    db.conn.close()
    with ServerThread(app) as s:
        yield s


def _first_events(url: str, n: int, *, timeout_s: float = 20) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.stream("GET", url + "/api/v1/live", timeout=timeout_s) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if len(out) >= n:
                    break
    return out


def test_health_says_core_unavailable_when_core_is_down(ui: ServerThread) -> None:
    h = httpx.get(ui.url + "/api/v1/health").json()
    assert h["ui"]["state"] == "ok"
    assert h["core"]["state"] == "unavailable" and "core" in h["core"]["detail"]
    assert h["parts"] == []


def test_live_stream_says_core_unavailable(ui: ServerThread) -> None:
    events = _first_events(ui.url, 2)
    assert events[0]["core"] == "connecting"
    assert events[1]["core"] == "unavailable"


def test_home_renders_honest_not_available_states(ui: ServerThread) -> None:
    html = httpx.get(ui.url + "/").text
    assert 'id="core-banner"' in html
    assert 'id="db-banner"' in html and "schijf vol" in html  # hidden until the core says a write fails
    assert "Niet beschikbaar" in html  # guard without core


def test_live_relays_the_core_ipc_stream_and_health_parts(box_config: Any, ui: ServerThread) -> None:
    sock = box_config.db_path.parent / "core.sock"
    values = {"spindle_speed": {"v": 2999.5, "q": 0, "t": 1}}
    handlers = {"status": lambda req: {"parts": [{"name": "cel_plc", "kind": "modbus", "state": "ok",
                                                   "available": True, "last_good_utc_ns": 42}]}}
    with core_ipc(sock, handlers, {"live": lambda: {"values": values}}, stream_interval_s=0.05):
        events = _first_events(ui.url, 5)
        up = [e for e in events if e.get("core") == "up"]
        assert up and up[-1]["values"]["spindle_speed"]["v"] == 2999.5
        h = httpx.get(ui.url + "/api/v1/health").json()
        assert h["core"]["state"] == "ok"
        assert h["parts"] == [{"name": "cel_plc", "kind": "modbus", "state": "ok", "last_good_utc_ns": 42,
                               "detail": None}]


def test_openapi_documents_the_api(ui: ServerThread) -> None:
    spec = httpx.get(ui.url + "/openapi.json").json()
    for path in ("/api/v1/health", "/api/v1/live", "/api/v1/stops", "/api/v1/alerts", "/api/v1/kpi/export",
                 "/api/v1/guard/mode"):
        assert path in spec["paths"], path
