"""Shared helpers of the UI tests: free ports, configs, real processes, seeded data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import free_port, wait_for  # noqa: F401 - re-exported for the UI tests

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.toml"


def demo_config_text(*, data_dir: Path, modbus_port: int, ui_port: int) -> str:
    """configs/demo.toml with this test's ports and data directory."""
    text = DEMO.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^data_dir = .*$', f'data_dir = "{data_dir}"', text)
    text = re.sub(r'(?m)^port = 5020\b.*$', f"port = {modbus_port}", text)
    # Starlette's TestClient names the box "testserver"; the ui answers only to names it knows.
    text = re.sub(r'(?m)^port = 8080\b.*$', f"port = {ui_port}\nallowed_hosts = [\"testserver\"]", text)
    # Round-the-clock planned time: the tests run at any hour and weekday.
    text = re.sub(r'(?ms)^\[\[machine\.shifts\]\].*?(?=^\[|\Z)', "", text)
    # Short stops count as stops: a test makes one with the simulator in seconds, not minutes.
    text = re.sub(r'(?m)^micro_stop_s = .*$', "micro_stop_s = 2", text)
    return text


def seed_stops(config: Any, db_path: Path, *, minutes: int = 40, lead_minutes: int = 0,
               now_ns: int | None = None) -> None:
    """Drive the real KPI engine over a past timeline so the DB holds finished
    stops that need a reason: run 10 min, stop 4 min, run 10 min, stop 3 min, run.
    ``lead_minutes`` of plain running come first (60 of them always hold a closed hour)."""
    from appliance.kpi.engine import KpiEngine
    from drivers.samples import Sample

    now_ns = now_ns or time.time_ns()
    minutes += lead_minutes
    t0_utc = now_ns - minutes * 60 * 10**9
    clock = {"mono": 10**12, "utc": t0_utc}
    eng = KpiEngine(config, db_path, clock=lambda: (clock["mono"], clock["utc"]), clock_synced=lambda: True)
    lead = lead_minutes * 60
    stops = [(lead + 10 * 60, lead + 14 * 60), (lead + 24 * 60, lead + 27 * 60)]
    parts = 0
    for sec in range(0, minutes * 60 - 30, 3):
        running = not any(a <= sec < b for a, b in stops)
        mono, utc = 10**12 + sec * 10**9, t0_utc + sec * 10**9
        clock.update(mono=mono, utc=utc)
        batch = [Sample("running", running, mono_ns=mono, utc_ns=utc)]
        if running and sec % 12 < 3:
            parts += 1
        batch += [Sample("part_count", parts, mono_ns=mono, utc_ns=utc),
                  Sample("good_count", parts, mono_ns=mono, utc_ns=utc),
                  Sample("scrap_count", 0, mono_ns=mono, utc_ns=utc),
                  Sample("energy_kwh", 1000.0 + sec / 3600, mono_ns=mono, utc_ns=utc)]
        eng.process(batch)
        if sec % 120 == 0:
            eng.tick(mono, utc)  # writes when due; every 2 min keeps seeding fast
    eng.flush(force=True)
    eng.conn.close()


LOCAL = ("127.0.0.1", 40000)  # the kiosk: a client on loopback


def csrf(html: str) -> str:
    """The CSRF token of a page's form."""
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


def kiosk_client(box_config: Any, *, pins: dict[str, str] | None = None, role: str | None = None,
                 next_path: str = "/") -> Any:
    """The in-process app (``create_app``, real SQLite) as a TestClient on the kiosk, with ``pins``
    set; logged in as ``role`` through the login form (None: the operator, no login)."""
    from starlette.testclient import TestClient

    from appliance.database import open_box_db
    from local_ui import security
    from local_ui.app import create_app

    app = create_app(box_config, session_secret="s")
    db = open_box_db(box_config.db_path, migrate=False)
    for r, pin in (pins or {}).items():
        security.set_pin(db, r, pin)
    db.conn.close()
    c = TestClient(app, client=LOCAL)
    if role is not None:
        page = c.get("/login")
        resp = c.post("/login", data={"role": role, "pin": (pins or {})[role], "csrf": csrf(page.text),
                                      "next": next_path})
        assert resp.status_code == 200, resp.text[:500]
    return c


def admin_client(box_config: Any) -> Any:
    """``kiosk_client`` logged in as admin (PIN 1234)."""
    return kiosk_client(box_config, pins={"admin": "1234"}, role="admin", next_path="/kpis")


class Proc:
    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self.fh = log.open("wb")
        self.p = subprocess.Popen(argv, cwd=REPO, stdout=self.fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})})

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(8)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.fh.close()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


class Stack:
    """Simulator + core + ui as real processes through the CLI."""

    def __init__(self, tmp: Path, *, seed: Callable[[Any, Path], None] | None = None) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.modbus_port, self.control_port, self.ui_port = free_port(), free_port(), free_port()
        self.config_path = tmp / "box.toml"
        self.config_path.write_text(demo_config_text(data_dir=self.data, modbus_port=self.modbus_port,
                                                     ui_port=self.ui_port), encoding="utf-8")
        self.url = f"http://127.0.0.1:{self.ui_port}"
        self.procs: dict[str, Proc] = {}
        self.seed = seed

    def config(self) -> Any:
        from appliance.config import load_config

        return load_config(self.config_path)

    def start(self) -> Stack:
        py = sys.executable
        self.data.mkdir(parents=True, exist_ok=True)
        if self.seed is not None:
            from appliance.database import open_box_db

            cfg = self.config()
            open_box_db(cfg.db_path).conn.close()
            self.seed(cfg, cfg.db_path)
        self.procs["sim"] = Proc("sim", [py, "-m", "appliance.cli", "simulate", "--modbus-port", str(self.modbus_port),
                                         "--opcua-port", "0", "--control-port", str(self.control_port)],
                                 self.tmp / "sim.log")
        self.procs["core"] = Proc("core", [py, "-m", "appliance.cli", "core", "--config", str(self.config_path)],
                                  self.tmp / "core.log")
        self.procs["ui"] = Proc("ui", [py, "-m", "appliance.cli", "ui", "--config", str(self.config_path)],
                                self.tmp / "ui.log")
        try:
            wait_for(lambda: self.get_json("/api/v1/health")["core"]["state"] == "ok", timeout_s=120,
                     what="ui and core up")
        except AssertionError:
            self.stop()
            raise AssertionError("stack did not start:\n" + "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.procs.items())) from None
        return self

    def stop(self) -> None:
        for name in ("ui", "core", "sim"):
            if name in self.procs:
                self.procs[name].stop()

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return json.loads(resp.read())

    def sim(self, **msg: Any) -> dict[str, Any]:
        """One JSON-lines request to the simulator's control port."""
        from appliance.simulator.run import control_request

        return control_request("127.0.0.1", self.control_port, msg, timeout_s=5)

    def ipc(self, op: str, *, role: str | None = None, **args: Any) -> dict[str, Any]:
        """One IPC request; ``role`` is sent as a grant signed with the box's key, as the ui does."""
        from appliance.ipc import request_sync
        from appliance.keys import role_grant, session_key

        if role is not None:
            args["grant"] = role_grant(session_key(self.data), role)
        return request_sync(self.data / "core.sock", op, **args)


@contextlib.contextmanager
def running_stack(tmp: Path, **kw: Any) -> Iterator[Stack]:
    st = Stack(tmp, **kw).start()
    try:
        yield st
    finally:
        st.stop()


@contextlib.contextmanager
def core_ipc(sock: Path, handlers: dict[str, Any], streams: dict[str, Any] | None = None,
             **server_kw: Any) -> Iterator[None]:
    """A stand-in for the core: a real IpcServer with ``handlers`` on ``sock``, on its own loop in a
    thread, from when the socket exists until the block ends."""
    from appliance.ipc import IpcServer

    stop = threading.Event()

    def core() -> None:
        async def main() -> None:
            async with IpcServer(sock, handlers, streams, **server_kw):
                while not stop.is_set():
                    await asyncio.sleep(0.02)
        asyncio.run(main())

    t = threading.Thread(target=core, daemon=True)
    t.start()
    try:
        wait_for(sock.exists, what="ipc socket")
        yield
    finally:
        stop.set()
        t.join(5)
