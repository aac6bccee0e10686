"""``werkvloer guard status|arm|disarm|reset`` against a real guard behind the core's IPC socket."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main as werkvloer
from appliance.guard import handlers
from appliance.ipc import IpcServer, socket_path
from appliance.keys import session_key

from ..conftest import PY, ROOT
from .conftest import value, wait_for


def main(argv: list[str]) -> int:
    """``werkvloer guard ...`` as a person runs it (``appliance.cli`` hands the area its config loader)."""
    return werkvloer(["guard", *argv])


@pytest.fixture
def box() -> Iterator[Path]:
    """A data dir and config that another user can read (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="werkvloer-cli-"))
    d.chmod(0o755)
    (d / "data").mkdir()
    (d / "data").chmod(0o755)
    (d / "box.toml").write_text(f'[box]\ndata_dir = "{d / "data"}"\n')
    (d / "box.toml").chmod(0o644)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


@pytest.fixture
def core(box: Path, make_guard) -> Iterator[Any]:
    """The guard's IPC ops on the core's socket, served by a real IpcServer on its own loop."""
    g = make_guard({"mode": "shadow", "rules": [{"name": "overload", "kind": "above", "signal": "motor_current",
                                                 "limit": 20.0}]})
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    server = IpcServer(socket_path(box / "data"), handlers(g), role_key=session_key(box / "data"))  # as the core
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    yield g
    asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)


def audit(g: Any) -> list[tuple[str, str]]:
    g.flush()
    with sqlite3.connect(g.db_path) as conn:
        return conn.execute("SELECT role, action FROM audit ORDER BY id").fetchall()


@pytest.mark.skipif(os.geteuid() != 0, reason="acts as root on the box")
def test_root_arms_resets_and_disarms_without_a_pin_audited_as_cli(box, core, capsys) -> None:
    cfg = str(box / "box.toml")
    assert main(["arm", "--config", cfg]) == 0
    assert capsys.readouterr().out.startswith("guard: armed, not tripped")
    assert core.mode == "armed"
    core.on_sample(value("motor_current", 35.0))
    wait_for(lambda: core.tripped, what="latched")
    assert main(["status", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "TRIPPED (stop latched: overload)" in out
    assert "  scheduling: real-time, fifo 10\n" in out  # root: the default rt_priority is granted
    core.on_sample(value("motor_current", 5.0))
    assert main(["reset", "--config", cfg]) == 0
    assert "not tripped" in capsys.readouterr().out and not core.tripped
    assert main(["disarm", "--config", cfg]) == 0
    assert capsys.readouterr().out.startswith("guard: shadow")
    assert audit(core) == [("cli", "guard.set_mode"), ("cli", "guard.reset"), ("cli", "guard.set_mode")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_another_user_is_refused_and_nothing_changes(box, core) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": "/tmp"}
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-m", "appliance.cli",
                        "guard", "arm", "--config", str(box / "box.toml")],
                       env=env, cwd="/", capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "only root or the service user" in r.stderr, r.stderr
    assert core.mode == "shadow" and audit(core) == []


def test_status_without_a_core_shows_the_stored_state(box, capsys) -> None:
    assert main(["status", "--config", str(box / "box.toml")]) == 1  # no core, no database yet
    assert "cannot be read either" in capsys.readouterr().err
    assert not (box / "data" / "werkvloer.db").exists()  # a root shell creates nothing in the service's dir
    from appliance.database import open_box_db

    open_box_db(box / "data" / "werkvloer.db").conn.close()  # the core ran once
    assert main(["status", "--config", str(box / "box.toml")]) == 1  # the core does not answer
    out = capsys.readouterr().out
    assert "does not answer" in out and "guard: shadow, not tripped, NOT healthy (core not running)" in out


def test_arm_without_a_core_says_what_to_do(box, capsys) -> None:
    assert main(["arm", "--config", str(box / "box.toml")]) == 1
    assert "systemctl start werkvloer-core" in capsys.readouterr().err
