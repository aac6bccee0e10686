"""Live trends without a browser: the vendored uPlot is the one package-lock.json pins and needs
no eval; it is served from the box under the strict CSP; /api/v1/trends names the guard's limits
and carries the recorder's samples (thinned, newest kept)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from starlette.testclient import TestClient

from appliance.database import open_box_db
from local_ui import trends_view
from local_ui.app import create_app

from .helpers import REPO

VENDOR = REPO / "local_ui" / "static" / "vendor"


def test_vendored_uplot_is_the_pinned_version_and_needs_no_eval() -> None:
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]["uplot"]
    locked = json.loads((REPO / "package-lock.json").read_text())["packages"]["node_modules/uplot"]["version"]
    js = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8")
    head = re.match(r"/\*! https://github.com/leeoniya/uPlot \(v([\d.]+)\) \*/", js)
    assert head and head.group(1) == pinned == locked, "run `make vendor` after changing package.json"
    assert pinned.startswith("1.6.")
    assert "eval(" not in js and "new Function" not in js  # CSP script-src 'self' without 'unsafe-eval'
    assert (VENDOR / "uPlot.min.css").stat().st_size > 500
    assert "MIT" in (VENDOR / "uPlot.LICENSE").read_text()


def _client(box_config: Any) -> TestClient:
    open_box_db(box_config.db_path).conn.close()
    return TestClient(create_app(box_config, session_secret="s"), client=("127.0.0.1", 40000))


def test_home_serves_uplot_from_the_box_under_the_csp(box_config: Any) -> None:
    c = _client(box_config)
    c.get("/setup")
    page = c.get("/")
    assert page.status_code in (200, 303, 307)
    js = c.get("/static/vendor/uPlot.iife.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "default-src 'self'" in js.headers["content-security-policy"]
    assert "unsafe-eval" not in js.headers["content-security-policy"]
    for path in ("/static/trends.js", "/static/vendor/uPlot.min.css"):
        assert c.get(path).status_code == 200, path


def test_trends_api_names_the_limits_and_thins_the_recorded_samples(box_config: Any) -> None:
    from appliance.bus import SampleQueue
    from appliance.recorder import Recorder
    from drivers.samples import Sample

    now = 1_800_000_000 * 10**9
    q = SampleQueue("recorder")
    with Recorder(box_config.db_path, q, batch_interval_s=0.05):  # the real writer; stop flushes
        for i in range(1000):  # 100 s at 10 Hz
            q.put(Sample("motor_current", float(i), mono_ns=i + 1, utc_ns=now - (1000 - i) * 10**8))
    db = open_box_db(box_config.db_path, migrate=False)
    h = trends_view.history(db, box_config, "nl", window_s=600, now_ns=now)
    by = {s["name"]: s for s in h["signals"]}
    assert "running" not in by and "machine_state" not in by  # a switch and a code: no trend
    mc = by["motor_current"]
    assert mc["label"] == "Motorstroom" and mc["unit"] == "A"
    assert mc["limits"] == [{"name": "vastgelopen", "kind": "above", "limit": 20.0}]
    assert len(mc["t"]) == trends_view.MAX_POINTS and mc["v"][-1] == 999.0  # newest kept
    assert np.all(np.diff(mc["t"]) > 0)
    assert by["part_count"]["watched"] and by["part_count"]["limits"] == []  # stalled rule: no line


def test_beyond_the_limit_is_the_guards_own_strict_test_on_good_values(box_config: Any) -> None:
    """live_view.beyond_view: strictly above (the guard's LimitRule), good quality only, numbers only;
    a below rule added to the demo's config reads "onder grens"."""
    from appliance.guard.config import Rule
    from local_ui.live_view import beyond_view

    cfg = box_config.model_copy(deep=True)
    cfg.guard.rules.append(Rule(name="te_koud", kind="below", signal="temperature", limit=5.0, for_ms=1000))

    def at(**vals: Any) -> dict[str, Any]:
        return beyond_view({k: v if isinstance(v, dict) else {"v": v, "q": 0} for k, v in vals.items()}, cfg, "nl")

    assert at(motor_current=20.0) == {}  # at the limit is not beyond it (the guard trips on > only)
    got = at(motor_current=20.5, temperature=4.0)
    assert got["motor_current"]["text"] == "boven grens 20,0\u00a0A" and got["motor_current"]["rule"] == "vastgelopen"
    assert got["temperature"]["text"] == "onder grens 5,00\u00a0°C" and got["temperature"]["kind"] == "below"
    assert at(motor_current={"v": 25.0, "q": "BAD"}) == {} and at(motor_current={"v": 25.0, "q": "STALE"}) == {}
    assert at(motor_current=True) == {} and at(motor_current="25") == {}
    assert beyond_view({"motor_current": {"v": 25.0, "q": "GOOD"}}, cfg, "en")["motor_current"]["text"] == \
        "above limit 20.0\u00a0A"
