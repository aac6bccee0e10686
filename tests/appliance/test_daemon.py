"""The core under systemd: READY, STATUS, WATCHDOG through a fake NOTIFY_SOCKET;
SIGTERM shuts it down cleanly; a stuck part stops the watchdog pings."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from appliance.config import parse_config
from appliance.daemon import Core
from appliance.ipc import IpcClient, request_sync, socket_path
from appliance.notify import Notifier
from tests.conftest import PY, ROOT


class FakeSystemd:
    """A datagram socket where sd_notify messages arrive, as systemd's would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def next(self, timeout_s: float = 20.0) -> dict[str, str]:
        self.sock.settimeout(timeout_s)
        data = self.sock.recv(4096).decode()
        msg = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        self.messages.append(msg)
        return msg

    def wait_for(self, key: str, value: str | None = None, timeout_s: float = 20.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self.next(max(0.01, deadline - time.monotonic()))
            if key in msg and (value is None or msg[key].startswith(value)):
                return msg

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path):
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


def write_config(tmp_path: Path, data_dir: Path) -> Path:
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[box]\nname = "test"\ndata_dir = "{data_dir}"\n[storage]\nbatch_interval_s = 0.1\n')
    return cfg


def test_core_notifies_ready_watchdog_and_stops_on_sigterm(tmp_path: Path, data_dir: Path, systemd: FakeSystemd,
                                                           cli_env: dict[str, str]) -> None:
    env = dict(cli_env, NOTIFY_SOCKET=str(systemd.path), WATCHDOG_USEC="1000000")
    proc = subprocess.Popen([PY, "-m", "appliance.cli", "core", "--config", str(write_config(tmp_path, data_dir))],
                            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        ready = systemd.wait_for("READY", "1")
        assert "sources" in ready["STATUS"] and "guard" in ready["STATUS"]  # a line a person can read
        systemd.wait_for("WATCHDOG", "1")
        health = request_sync(socket_path(data_dir), "status")
        assert health["ok"] and any(p["kind"] == "recorder" and p["state"] == "ok" for p in health["parts"])
        assert any(p["kind"] == "guard-writer" and p["state"] == "ok" for p in health["parts"])
        assert health["db_write_failing"] == {}  # no database write failing (appliance/dbwatch.py)
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING", "1")
        assert proc.wait(timeout=5) == 0  # clean shutdown within 5 s
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    assert not socket_path(data_dir).exists()  # the IPC socket was removed on the way out


async def test_stuck_part_withholds_watchdog(tmp_path: Path, data_dir: Path, systemd: FakeSystemd,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    cfg = parse_config({"box": {"data_dir": str(data_dir)}})
    core = Core(cfg, notifier=Notifier(str(systemd.path)), stuck_after_s=2.5)
    # A critical part of our own making (the real guard, recorder and KPI
    # engine are registered too and must keep the pings going).
    progress = {"part": time.monotonic()}
    core.watch_progress("test_part", lambda: progress["part"])
    stop = asyncio.Event()
    task = asyncio.create_task(core.run(stop))

    async def keep_guard_alive() -> None:
        while True:
            progress["part"] = time.monotonic()
            await asyncio.sleep(0.05)

    alive = asyncio.create_task(keep_guard_alive())
    try:
        await asyncio.to_thread(systemd.wait_for, "READY", "1")
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG", "1")
        alive.cancel()  # the part stops making progress
        stuck = await asyncio.to_thread(systemd.wait_for, "STATUS", "STUCK")
        assert stuck["STATUS"] == "STUCK: test_part"
        # No WATCHDOG=1 while it is stuck: the next messages are not pings.
        systemd.messages.clear()
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(systemd.wait_for, "WATCHDOG", "1", 1.0)
        # It recovers: pings resume.
        alive = asyncio.create_task(keep_guard_alive())
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG", "1")
        status = await IpcClient(socket_path(data_dir)).request("status")
        assert status["ok"] and status["watchdog_stalled"] is False
    finally:
        alive.cancel()
        stop.set()
        await asyncio.wait_for(task, 5)


def test_cli_help_lines(cli_env: dict[str, str]) -> None:
    out = subprocess.run([PY, "-m", "appliance.cli", "--help"], capture_output=True, text=True, env=cli_env, cwd=ROOT)
    assert out.returncode == 0
    for cmd in ("demo", "core", "ui", "simulate", "check-config"):
        assert cmd in out.stdout


@pytest.mark.parametrize("command", ["export", "model", "content", "opcua"])
def test_area_subcommands_get_their_own_help(command: str, cli_env: dict[str, str]) -> None:
    out = subprocess.run([PY, "-m", "appliance.cli", command, "--help"], capture_output=True, text=True,
                         env=cli_env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert f"werkvloer {command}" in out.stdout
