"""Benchmarks of the foundation: recorder ingest, startup to READY, RSS of core and ui."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.bus import Bus
from appliance.recorder import Recorder
from drivers.samples import Sample

from .stats import rss_mb

ROOT = Path(__file__).resolve().parent.parent


def recorder_ingest(n: int = 2_000_000) -> dict[str, float]:
    """Samples/s through the real writer thread: queue prefilled, then timed until all committed."""
    with tempfile.TemporaryDirectory() as d:
        bus = Bus()
        queue = bus.subscribe_queue("recorder", maxlen=n + 1)
        names = [f"signal_{i:02d}" for i in range(20)]
        now = time.time_ns()
        for i in range(n // 20):
            for name in names:
                queue.put(Sample(name, float(i), utc_ns=now + i))
        rec = Recorder(Path(d) / "bench.db", queue, batch_interval_s=0.05)
        t0 = time.perf_counter()
        rec.start()
        while rec.written < n:
            time.sleep(0.01)
        dt = time.perf_counter() - t0
        rec.stop()
    return {"samples": n, "seconds": round(dt, 3), "samples_per_s": round(n / dt), "goal_samples_per_s": 500_000}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def startup_to_ready(runs: int = 5) -> dict[str, float]:
    """Seconds from exec of `werkvloer core` (demo config) to READY=1 on a NOTIFY_SOCKET."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            sock_path = Path(d) / "notify.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(sock_path))
            sock.settimeout(30)
            env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WERKVLOER_DATA_DIR=str(Path(d) / "data"))
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "core", "--config", "configs/demo.toml"],
                                    cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            try:
                while b"READY=1" not in sock.recv(4096):
                    pass
                times.append(time.perf_counter() - t0)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
                sock.close()
    times.sort()
    return {"runs": runs, "median_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3), "goal_s": 3.0}


def demo_rss(duration_s: float) -> dict[str, float]:
    """RSS of core and ui after `duration_s` of the demo (simulator + core + ui)."""
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        env = dict(os.environ, WERKVLOER_DATA_DIR=str(Path(d) / "data"))
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "demo", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "demo is running" in line:
                    break
            time.sleep(duration_s)
            children = subprocess.run(["pgrep", "-P", str(proc.pid), "-a"], capture_output=True, text=True).stdout
            rss = {}
            for line in children.splitlines():
                pid, cmd = line.split(" ", 1)
                for part in ("core", "ui", "simulate"):
                    if f"appliance.cli {part}" in cmd:
                        rss[part] = round(rss_mb(int(pid)), 1)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
    return {"duration_s": duration_s, "core_rss_mb": rss.get("core"), "ui_rss_mb": rss.get("ui"),
            "simulator_rss_mb": rss.get("simulate"), "goal_mb": 80}


def run(report: dict) -> None:
    report["recorder"] = {"ingest": recorder_ingest()}
    report["core"] = {"startup_to_ready": startup_to_ready()}
    report["core"]["demo_rss"] = demo_rss(float(os.environ.get("WERKVLOER_BENCH_DEMO_S", "600")))
