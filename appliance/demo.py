"""``werkvloer demo`` (what ``make run`` starts): simulator + core + ui as child processes.

Each part is a real process, as on the box; stopping the demo (Ctrl-C)
stops all three in reverse order.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .config import load_config


def _wait_http(url: str, timeout_s: float, procs: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _wait_tcp(port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> bool:
    """Until the simulator's ``port`` accepts connections (or it died)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


HISTORY_DAYS = 28

# The ui's glibc malloc settings, as werkvloer-ui.service sets them: a fixed mmap threshold
# (glibc's default 128 KiB, but no longer raised after a free), so a page's large transient
# buffers go back to the system instead of staying in the heap (about 16 MB after the pages).
UI_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _history(cfg: object, args: argparse.Namespace) -> None:
    """A fresh demo store gets four weeks of closed KPI periods (two baseline,
    two pilot), so the KPI pages, baseline vs pilot and the sync preview show
    something at once (``werkvloer simulate history``)."""
    from .simulator.history import fill_history, has_kpi_data

    if getattr(args, "no_history", False) or has_kpi_data(cfg):  # type: ignore[arg-type]
        return
    out = fill_history(cfg, days=HISTORY_DAYS, pilot_from_day=HISTORY_DAYS // 2)  # type: ignore[arg-type]
    print(f"demo history: {HISTORY_DAYS} days of KPIs ({out['stops']} stops, {out['alerts']} alerts)", flush=True)


def main(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", "2")  # as the systemd units set it (image-build/systemd)
    data_dir = args.data_dir or env.get("WERKVLOER_DATA_DIR") or "var/demo"
    env["WERKVLOER_DATA_DIR"] = str(Path(data_dir).resolve())
    os.environ["WERKVLOER_DATA_DIR"] = env["WERKVLOER_DATA_DIR"]
    cfg = load_config(args.config)  # fail early, with the key paths, before starting anything
    port = args.port or cfg.ui.port
    Path(env["WERKVLOER_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    _history(cfg, args)
    py = [sys.executable, "-m", "appliance.cli"]
    modbus_port = next((d.port for d in cfg.sources.modbus if d.transport == "tcp"), 5020)
    opcua_port = 4840
    for srv in cfg.sources.opcua:
        opcua_port = int(srv.url.rsplit(":", 1)[-1].split("/")[0])
    commands = [
        ("simulator", py + ["simulate", "--modbus-port", str(modbus_port), "--opcua-port", str(opcua_port)]),
        ("core", py + ["core", "--config", args.config]),
        ("ui", py + ["ui", "--config", args.config, "--port", str(port)]),
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, cmd in commands:
            print(f"starting {name}: {' '.join(cmd[2:])}", flush=True)
            procs.append(subprocess.Popen(cmd, env={**UI_MALLOC_ENV, **env} if name == "ui" else env))
            # Both of the simulator's servers: it starts OPC UA after Modbus, and until then its
            # Modbus server accepts connections but answers late.
            if name == "simulator" and not (_wait_tcp(modbus_port, 30, procs[0]) and _wait_tcp(opcua_port, 30, procs[0])):
                # The core would start against a PLC that is not there yet:
                # harmless, but it would greet the demo with a 'device lost' alert.
                print("werkvloer demo: the simulator did not start; see the messages above", file=sys.stderr)
                return 1
        url = f"http://127.0.0.1:{port}"
        if _wait_http(url + "/api/v1/health", 60, procs):
            print(f"\n  Werkvloer demo is running: {url}\n  (Ctrl-C stops simulator, core and ui)\n", flush=True)
        else:
            print("werkvloer demo: a part did not start; see the messages above", file=sys.stderr)
            return 1
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
