"""The OPC UA polled stop path measured at the server (issue 11), keys ``guard.opcua_*``.

The PLC is an asyncua server in a process of its own with two nodes: the
watched value and a stop node. For each trip the server process writes the
value (10 -> 80) and timestamps, in its PreWrite callback, the arrival of a
non-zero write to the stop node; the latency is arrival - change, both on
CLOCK_MONOTONIC of the same host. A trip whose write does not arrive within
2 s is counted as missed.

- ``opcua_minimal_poll``: a minimal asyncua loop in a thread of this process
  (read back to back, write the stop node on the edge), the reference;
- ``opcua_fast_poll``: the guard's fast path (``drivers/opcua/fast.py``,
  ``mode = "poll"``, read back to back on the guard's own session), rule
  ``value > 50``, the stop written by the output bank through
  ``drivers/opcua/output.py`` in the reader's own thread: a synchronous
  WriteRequest on the output's own session and socket, no thread hop;
- ``opcua_minimal_subscription``: a minimal asyncua subscription (publishing
  and sampling interval 0: the fastest the server grants), the stop node
  written from the data-change callback on the same session, the reference;
- ``opcua_subscription``: the core's ``OpcuaSource`` configured as the core
  configures a server whose subscribed signal a rule watches
  (``FastPath.source_config``: publishing 0, sampling 0), on an event loop of
  its own -> bus -> rule -> the guard thread writes the stop (one hand-off: a
  trip on a driver's event loop is not written on that loop);
- goals (``opcua_goal``): polled p99 <= 1.5x, subscription p99 <= 1.2x the
  minimal loop of the same kind (``p99_vs_minimal``).

Run alone: ``python -m bench.opcua_stop`` (``WERKVLOER_BENCH_NO_LOAD=1`` without
the recorder and UI load). ``bench.guard`` runs it inside its load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.stoppath import PeerProcess

ROOT = Path(__file__).resolve().parent.parent
TRIPS = int(os.environ.get("WERKVLOER_BENCH_OPCUA_TRIPS", "200"))
NORMAL, FAULT, LIMIT = 10.0, 80.0, 50.0
VALUE, STOP = "ns=2;s=Bench.Current", "ns=2;s=Bench.Stop"

SERVER_SCRIPT = r'''
import asyncio, sys, threading, time
from asyncua import Server, ua
from asyncua.common.callback import CallbackType
port = int(sys.argv[1])
async def main():
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:werkvloer:bench")
    obj = await server.nodes.objects.add_object(idx, "Bench")
    value = await obj.add_variable(ua.NodeId("Bench.Current", idx), "Current", 10.0)
    stop = await obj.add_variable(ua.NodeId("Bench.Stop", idx), "Stop", 0.0)
    await stop.set_writable()
    stop_id = stop.nodeid
    arrived, t_arrived, t_set = asyncio.Event(), [0], [0]
    def on_write(event, _dispatcher):
        for wv in event.request_params.NodesToWrite:
            if wv.NodeId == stop_id and wv.Value.Value.Value and not arrived.is_set():
                t_arrived[0] = time.monotonic_ns()
                arrived.set()
    server.subscribe_server_callback(CallbackType.PreWrite, on_write)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=lambda: [loop.call_soon_threadsafe(lines.put_nowait, l) for l in sys.stdin]
                     + [loop.call_soon_threadsafe(lines.put_nowait, "")], daemon=True).start()
    async with server:
        print("ready", flush=True)
        while (line := await lines.get()):
            cmd = line.split()
            if cmd[0] == "set":
                await value.write_value(float(cmd[1])); print("ok", flush=True)
            elif cmd[0] == "clear":
                await stop.write_value(0.0); arrived.clear(); print("ok", flush=True)
            elif cmd[0] == "trip":
                arrived.clear()
                t_set[0] = time.monotonic_ns()
                await value.write_value(float(cmd[1]))
                try:
                    await asyncio.wait_for(arrived.wait(), 2.0)
                    print(f"arrived {t_arrived[0] - t_set[0]}", flush=True)
                except TimeoutError:
                    print("missed", flush=True)
asyncio.run(main())
'''


class OpcuaPlc(PeerProcess):
    """asyncua server in its own process."""

    def __init__(self, port: int) -> None:
        self.url = f"opc.tcp://127.0.0.1:{port}/bench/"
        super().__init__(SERVER_SCRIPT, port)


def opcua_guard(plc: OpcuaPlc, db_path: Path, *, mode: str = "poll") -> contextlib.AbstractContextManager[Any]:
    """poll: the guard's own reader, back to back; subscribe: the core's OpcuaSource (asks the fastest
    publishing interval the server grants, as the core does for a watched signal) -> bus -> guard."""
    from bench.stoppath import OVERLOAD, running_guard

    return running_guard({
        "sources": {"opcua": [{"name": "plc", "url": plc.url, "reconnect_min_s": 0.1, "reconnect_max_s": 1,
                               "signals": [{"name": "motor_current", "node_id": VALUE, "mode": mode}]}]},
        "guard": {"mode": "armed", "rules": [OVERLOAD],
                  "outputs": [{"name": "stop_node", "kind": "opcua", "url": plc.url, "node_id": STOP,
                               "value": 1, "timeout_ms": 500}]}}, db_path, ready_s=15,
        core_sources=mode == "subscribe")


def guard_trips(plc: OpcuaPlc, db_path: Path, *, trips: int, mode: str = "poll") -> dict[str, Any]:
    from bench.guard import _stats
    from bench.stoppath import _guard_settle, trip_loop

    with opcua_guard(plc, db_path.with_name(f"{db_path.stem}-opcua-{mode}.db"), mode=mode) as guard:
        lat, missed = trip_loop(plc, lambda: _guard_settle(guard), trips=trips)
        plc.cmd(f"set {NORMAL}")
        _guard_settle(guard)
    return {**_stats(lat), "missed": missed, "read": "back to back" if mode == "poll" else _SUBSCRIBED}


_SUBSCRIBED = "subscription, publishing interval 0 (the fastest the server grants), sampling 0"


Body = Callable[[threading.Event, threading.Event], Coroutine[Any, Any, None]]


def _minimal_trips(plc: OpcuaPlc, body: Body, *, trips: int, name: str) -> dict[str, Any]:
    """Run a minimal asyncua client ``body(ready, stop)`` in a thread of its own and trip it."""
    import time

    from bench.guard import _stats
    from bench.stoppath import trip_loop

    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=lambda: asyncio.run(body(ready, stop)), name=name, daemon=True)
    t.start()
    if not ready.wait(15):
        raise RuntimeError(f"{name}: the minimal asyncua client did not start")
    try:
        lat, missed = trip_loop(plc, lambda: time.sleep(0.02), trips=trips)
    finally:
        stop.set()
        t.join(5)
    return {**_stats(lat), "missed": missed}


def minimal_loop(plc: OpcuaPlc, *, trips: int) -> dict[str, Any]:
    """What plain asyncua reaches: one session, read back to back, write the stop node on the edge."""
    from asyncua import Client, ua

    async def loop(ready: threading.Event, stop: threading.Event) -> None:
        async with Client(plc.url, timeout=5) as c:
            nid, sid = ua.NodeId.from_string(VALUE), ua.NodeId.from_string(STOP)
            dv = ua.DataValue(ua.Variant(1.0, ua.VariantType.Double))
            latched = False
            ready.set()
            while not stop.is_set():
                got = (await c.uaclient.read_attributes([nid], ua.AttributeIds.Value))[0].Value
                v = got.Value if got is not None else 0.0
                if v > LIMIT and not latched:
                    await c.uaclient.write_attributes([sid], [dv], ua.AttributeIds.Value)
                    latched = True
                elif v <= LIMIT:
                    latched = False

    return {**_minimal_trips(plc, loop, trips=trips, name="bench-opcua-minimal"), "read": "back to back"}


def minimal_subscription(plc: OpcuaPlc, *, trips: int) -> dict[str, Any]:
    """What plain asyncua reaches with a subscription: publishing and sampling interval 0, the stop node
    written from the data-change callback's loop on the same session."""
    from asyncua import Client, ua

    async def loop(ready: threading.Event, stop: threading.Event) -> None:
        async with Client(plc.url, timeout=5) as c:
            sid = ua.NodeId.from_string(STOP)
            dv = ua.DataValue(ua.Variant(1.0, ua.VariantType.Double))
            latched = [False]
            tasks: set[asyncio.Task[Any]] = set()

            class Handler:
                def datachange_notification(self, _node: Any, val: Any, _data: Any) -> None:
                    if val is not None and val > LIMIT and not latched[0]:
                        latched[0] = True
                        task = asyncio.get_running_loop().create_task(
                            c.uaclient.write_attributes([sid], [dv], ua.AttributeIds.Value))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif val is not None and val <= LIMIT:
                        latched[0] = False

            sub = await c.create_subscription(0, Handler())
            await sub.subscribe_data_change(c.get_node(VALUE), sampling_interval=ua.Double(0))
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    return {**_minimal_trips(plc, loop, trips=trips, name="bench-opcua-minimal-sub"), "read": _SUBSCRIBED}


def _ratio(res: dict[str, Any], key: str, ref: str) -> None:
    base = res[ref]["p99_ms"]
    res[key]["p99_vs_minimal"] = round(res[key]["p99_ms"] / base, 2) if base else None


def run_opcua_stop(res: dict[str, Any], db_path: Path) -> None:
    """Adds the ``opcua_*`` keys to the guard report."""
    from bench.guard import _free_port

    plc = OpcuaPlc(_free_port())
    try:
        res["opcua_minimal_poll"] = minimal_loop(plc, trips=TRIPS)
        res["opcua_fast_poll"] = guard_trips(plc, db_path, trips=TRIPS)
        _ratio(res, "opcua_fast_poll", "opcua_minimal_poll")
        res["opcua_minimal_subscription"] = minimal_subscription(plc, trips=TRIPS)
        res["opcua_subscription"] = guard_trips(plc, db_path, trips=TRIPS, mode="subscribe")
        _ratio(res, "opcua_subscription", "opcua_minimal_subscription")
        res["opcua_goal"] = ("polled: p99 <= 1.5 x the minimal polling loop; subscription: p99 <= 1.2 x the minimal "
                             "subscription loop; same server, same run (issue 11)")
    finally:
        plc.close()


if __name__ == "__main__":
    from bench.guard import main_under_load

    main_under_load(run_opcua_stop, "opcua_background")
