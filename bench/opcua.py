"""OPC UA benchmark: 1,000 monitored items at 100 ms (issue 3, goal p99 < 50 ms).

The simulator's OPC UA server runs in a child process (its CPU is not ours)
with 1,000 extra Double items ``Cell.Load.ItemNNNN``; it rewrites every item
every 100 ms with the UTC time of the write, which is also the item's
SourceTimestamp. The box's ``OpcuaSource`` subscribes to all of them (sampling
and publishing interval 100 ms) and a fast bus subscriber computes, for every
sample, receive UTC - source UTC.

That delay includes waiting for the next publishing cycle (up to one
publishing interval, by OPC UA's design: the server holds notifications until
the subscription's next publish). Its phase against the server's update tick
is arbitrary per run, so ``notify_delay`` is reported raw and as
``notify_jitter`` (delay minus the run's lowest delay): the part the client
(transport, decoding, bus) adds on top of that fixed phase.

CPU share = process CPU time of this (client) process / wall time, in
fractions of one core, over the measured window.

Run alone: ``python -m bench.opcua``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from appliance.bus import Bus
from appliance.samples import Sample
from drivers.opcua.config import OpcuaServer
from drivers.opcua.source import OpcuaSource

from .stats import summary_ms

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 1000
INTERVAL_MS = 100
WARMUP_S = 3.0
MEASURE_S = 15.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _measure(url: str) -> dict[str, object]:
    cfg = OpcuaServer(
        name="bench", url=url, publishing_interval_ms=INTERVAL_MS, timeout_s=10,
        signals=[{"name": f"item_{i:04d}", "node_id": f"ns=2;s=Cell.Load.Item{i:04d}",
                  "sampling_interval_ms": INTERVAL_MS} for i in range(ITEMS)])
    bus = Bus()
    delays: list[int] = []
    recording = False

    def on_sample(s: Sample) -> None:
        if recording and s.good and isinstance(s.value, float):
            delays.append(s.utc_ns - int(s.value * 1e9))

    bus.subscribe_fast(on_sample)
    async with OpcuaSource(cfg, bus) as source:
        await source.wait_connected(60)
        await asyncio.sleep(WARMUP_S)
        recording = True
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(MEASURE_S)
        cpu1, wall1 = time.process_time(), time.monotonic()
        recording = False
        stalls, sessions = source.stalls_detected, source.sessions_opened
    wall = wall1 - wall0
    a = np.asarray(delays, dtype=np.int64)
    jitter = a - a.min() if a.size else a
    return {
        "items": ITEMS,
        "interval_ms": INTERVAL_MS,
        "measured_s": round(wall, 1),
        "notifications_per_s": round(len(delays) / wall, 1),
        "expected_per_s": ITEMS * 1000 / INTERVAL_MS,
        "notify_delay": summary_ms(a),
        "notify_jitter": summary_ms(jitter),
        "client_cpu_share": round((cpu1 - cpu0) / wall, 3),
        "cpu_ms_per_1000_notifications": round((cpu1 - cpu0) * 1e6 / max(len(delays), 1), 2),
        "load_average_1min": round(os.getloadavg()[0], 1),  # a busy machine slows the Python server
        "stalls_detected": stalls,
        "sessions_opened": sessions,
    }


def bench_subscriptions() -> dict[str, object]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.opcua.simserver", "--port", str(port), "--rate", str(1000 / INTERVAL_MS),
         "--extra-items", str(ITEMS)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"OPC UA simulator did not start: {line!r}")
        return asyncio.run(_measure(line.split()[1]))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(report: dict) -> None:
    """Entry point for bench/run.py: adds report["opcua"]."""
    try:
        report["opcua"] = {"subscriptions_1000x100ms": bench_subscriptions()}
    except Exception as exc:
        report["opcua"] = {"error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    out: dict = {}
    run(out)
    print(json.dumps(out, indent=1))
