"""A shortened soak (the 30-minute one is in bench/modbus.py): memory must not
grow while the server goes away and comes back, again and again."""

from __future__ import annotations

import gc
import os

from appliance.bus import Bus
from drivers.modbus import ModbusSimServer, ModbusSource
from drivers.modbus.config import ModbusDevice
from models.training.machine import MachineSim

from .conftest import wait_until


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_rss_flat_while_the_server_restarts(port: int) -> None:
    sim = MachineSim(seed=9)
    bus = Bus()  # no sample list kept here: only a bounded queue, drained as the recorder does
    queue = bus.subscribe_queue("recorder", maxlen=5000)
    device = ModbusDevice.model_validate({"name": "soak", "profile": "generic-plc", "port": port, "timeout_s": 0.2,
                                          "poll_interval_ms": 10, "backoff_min_s": 0.02, "backoff_max_s": 0.05})
    rss_after_warmup = 0.0
    async with ModbusSimServer(sim, port=port) as server, ModbusSource(device, bus) as src:
        for cycle in range(12):
            await wait_until(lambda p=src.polls: src.polls >= p + 20, 10, "polls")
            sim.advance(0.2)
            queue.drain()
            await server.kill()
            await wait_until(lambda: not src.health.available, 10, "loss")
            await server.restart()
            await wait_until(lambda: src.health.available, 10, "recovery")
            if cycle == 3:  # warm-up done: pools, caches and the log machinery are allocated
                gc.collect()
                rss_after_warmup = rss_mb()
        gc.collect()
        growth = rss_mb() - rss_after_warmup
    assert src.polls > 12 * 20
    assert growth < 5.0, f"RSS grew {growth:.2f} MB over 8 server restarts"
