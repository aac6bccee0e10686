"""The guard's own OPC UA reader (drivers/opcua/fast.py) against the simulator's asyncua server:
back to back on a blocking socket in its own thread, bad samples once when the server goes,
reading again when it is back."""

from __future__ import annotations

import threading
import time

from drivers.opcua.config import OpcuaServer
from drivers.opcua.fast import FastOpcuaReader
from drivers.opcua.simserver import node_id
from drivers.samples import Quality, Sample


def _wait(cond, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_reads_back_to_back_and_survives_a_server_restart(restartable_peer) -> None:
    srv = OpcuaServer(name="cell", url=restartable_peer.url, reconnect_min_s=0.05, reconnect_max_s=0.2,
                      timeout_s=1.0, signals=[{"name": "motor_current", "node_id": node_id("motor_current"),
                                               "mode": "poll"}])
    got: list[Sample] = []
    threads: set[str] = set()
    lock = threading.Lock()

    def deliver(samples: list[Sample]) -> None:
        with lock:
            threads.add(threading.current_thread().name)
            got.extend(samples)

    reader = FastOpcuaReader(srv, srv.signals, deliver=deliver)
    reader.start()
    try:
        _wait(lambda: reader.cycles > 20, "back-to-back reads")
        assert reader.health.available and threads == {"guard-fast-cell"}
        with lock:
            assert all(s.quality is Quality.GOOD and isinstance(s.value, float) for s in got)
            # the sample's time is taken when the request is sent: strictly increasing
            monos = [s.mono_ns for s in got]
        assert monos == sorted(monos) and len(set(monos)) == len(monos)

        restartable_peer.thread.run(restartable_peer.server.stop())
        _wait(lambda: not reader.health.available, "the loss noticed")
        with lock:
            bad = [s for s in got if s.quality is Quality.BAD]
        assert len(bad) == 1, "one bad sample per signal when the server goes, not one per attempt"
        restartable_peer.thread.run(restartable_peer.server.start())
        before = reader.cycles
        _wait(lambda: reader.cycles > before + 5, "reading again after the restart")
        assert reader.health.available
    finally:
        reader.stop()
    assert reader.health.state == "stopped"
