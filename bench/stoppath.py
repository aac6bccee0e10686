"""The stop path measured from outside the box (issue 11), keys ``guard.stop_*``.

The PLC is modbus-tk (not pymodbus, which the box uses) in a process of its
own. For each trip the PLC process changes a holding register (10 -> 80) and
timestamps, in a modbus-tk hook, the arrival of the stop-coil write; the
latency is arrival - change, both on CLOCK_MONOTONIC of the same host. The
change comes at a random phase of the poll cycle. A trip whose coil does not
arrive within 2 s is counted as missed.

Measured in the same run, under the same background load (the core's
Recorder thread fed 10,000 samples/s in this process, a separate FastAPI
process serving 200 req/s):

- ``stop_fast_1ms`` / ``stop_fast_0ms``: the guard's fast path
  (``appliance.guard.fastpath`` + ``drivers.modbus.fast``: poll 1 ms or back
  to back, rule ``value > 50``, stop coil written by the output bank on its
  own pre-opened connection), with the default ``guard.rt_priority`` (10:
  SCHED_FIFO where permitted; ``scheduling`` says what the kernel gave the
  guard's threads);
- ``stop_minimal_loop``: a minimal pymodbus loop in a thread of this process
  (read the register back to back, write the coil when it is above 50), the
  reference for what plain Python reaches (issue 11's ratio goal is against
  it); ``stop_minimal_loop_1ms``: the same loop reading once per 1 ms, the
  like-for-like reference of a 1 ms poll (``p99_vs_minimal_1ms``). These four
  run in alternating blocks (``interleaved``, 6 blocks of 50 trips each): on
  this VM one run's p99 was 4x the next one's, and a noise burst should hit
  each path alike;
- ``stop_fast_1ms_no_rt``: the same with ``guard.rt_priority = 0`` (normal scheduling, as where the OS
  refuses real-time priority);
- ``stop_fast_1ms_own_process``: the same guard in a process of its own (the
  recorder load stays in this process): whether the fast path needs its own GIL;
- ``stop_gpio_edge_relay``: a GPIO edge on gpiozero's mock pins -> the relay
  pin took its new level, decided in the edge's thread (goal p99 <= 0.5 ms);
  ``callback_done``: until gpiozero's edge callback returned (the trip
  record, alerts and the source's own bookkeeping come after the relay);
  before 2026-12-02 the key measured that whole callback;
- ``stop_minimal_loop_plc_rt``, ``stop_fast_1ms_plc_rt``, ``stop_fast_0ms_plc_rt``: the same
  three against a PLC process whose threads run under SCHED_FIFO (root only). On the bench
  machine the PLC shares the two cores with the box and its load; a real PLC has its own CPU,
  so this is the path as a user sees it, with the box's own scheduling unchanged (the guard
  and the load run as before). Both PLC variants are reported; neither replaces the other;
- ``stop_after_drop``: the PLC closes the stop output's connection, then the
  register changes at once: drop -> reconnected, confirmed stop at the PLC.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STOP_TRIPS = int(os.environ.get("WERKVLOER_BENCH_STOP_TRIPS", "300"))
DROP_TRIPS = int(os.environ.get("WERKVLOER_BENCH_DROP_TRIPS", "20"))
REG, COIL, NORMAL, FAULT, LIMIT = 0, 5, 10, 80, 50

PLC_SCRIPT = r'''
import socket, struct, sys, threading, time
import modbus_tk.defines as cst
from modbus_tk import hooks, modbus_tcp
port, reg, coil = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
server = modbus_tcp.TcpServer(port=port, address="127.0.0.1", timeout_in_sec=1)
slave = server.add_slave(1)
slave.add_block("hr", cst.HOLDING_REGISTERS, 0, 16)
slave.add_block("co", cst.COILS, 0, 16)
arrived, t_arrived = threading.Event(), [0]
def on_write(args):
    _slave, pdu = args
    addr, val = struct.unpack(">HH", pdu[1:5])
    if addr == coil and val == 0xFF00 and not arrived.is_set():
        t_arrived[0] = time.monotonic_ns()
        arrived.set()
hooks.install_hook("modbus.Slave.handle_write_single_coil_request", on_write)
t_set, hr = [0], slave._get_block("hr")
def on_set(args):
    if args[0] is not hr:
        return
    # Under the block's lock, as the register takes the new value (set_values may first wait for that
    # lock, which a back-to-back reader holds most of the time: not part of the latency).
    t_set[0] = time.monotonic_ns()
hooks.install_hook("modbus.ModbusBlock.setitem", on_set)
server.start()
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "set":
        slave.set_values("hr", reg, [int(cmd[1])]); print("ok", flush=True)
    elif cmd[0] == "clear":
        slave.set_values("co", coil, [0]); arrived.clear(); print("ok", flush=True)
    elif cmd[0] in ("trip", "droptrip"):
        arrived.clear()
        if cmd[0] == "droptrip":  # close the connection whose peer port is given (the stop output's)
            for s in list(server._sockets[1:]):
                try:
                    if s.getpeername()[1] == int(cmd[2]):
                        s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        slave.set_values("hr", reg, [int(cmd[1])])  # t_set: taken inside, when the value is written
        print(f"arrived {t_arrived[0] - t_set[0]}" if arrived.wait(2.0) else "missed", flush=True)
server.stop()
'''


class PeerProcess:
    """A bench peer (PLC) in a process of its own, driven over its stdin: ``set``, ``clear``,
    ``trip`` (answers ``arrived <ns>`` or ``missed``)."""

    def __init__(self, script: str, *args: object) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self._line()
        if line != "ready":
            raise RuntimeError(f"bench peer did not start: {line!r}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def cmd(self, text: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._line()

    def trip(self, *, drop_port: int | None = None) -> int | None:
        got = self.cmd(f"droptrip {FAULT} {drop_port}" if drop_port else f"trip {FAULT}")
        return int(got.split()[1]) if got.startswith("arrived") else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Plc(PeerProcess):
    """modbus-tk in its own process. ``realtime``: every thread of that process under SCHED_FIFO
    (root only), as a PLC on its own hardware that the box's load cannot delay."""

    def __init__(self, port: int, *, realtime: bool = False) -> None:
        self.port = port
        super().__init__(PLC_SCRIPT, port, REG, COIL)
        self.realtime = realtime and _fifo_process(self.proc.pid, PLC_RT_PRIORITY)


PLC_RT_PRIORITY = 30  # above the guard's own rt_priority variant (10): the peer answers first


def _fifo_process(pid: int, priority: int) -> bool:
    """All threads of ``pid`` under SCHED_FIFO ``priority``; False where not permitted."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


def _phase(k: int, span_s: float = 0.002) -> None:
    time.sleep(float(np.random.default_rng(k).uniform(0, span_s)))


WARMUP = 5  # trips not counted (connections, caches, the first reset)


def trip_loop(plc: Any, settle: Callable[[], None], *, trips: int,
              on_miss: Callable[[], None] | None = None) -> tuple[list[int], int]:
    """``trips`` trips after the warm-up; returns (latencies in ns, missed). ``settle`` brings the
    path under test back to normal before each trip (the one step the paths differ in); the change
    then comes at a random phase of the poll."""
    lat: list[int] = []
    missed = 0
    for k in range(trips + WARMUP):
        plc.cmd(f"set {NORMAL}")
        settle()
        plc.cmd("clear")
        _phase(k)
        dt = plc.trip()
        if k < WARMUP:
            continue
        if dt is None:
            missed += 1
            if on_miss is not None:
                on_miss()
        else:
            lat.append(dt)
    return lat, missed


@contextlib.contextmanager
def running_guard(config: dict[str, Any], db_path: Path, *, ready_s: float = 10,
                  core_sources: bool = False) -> Iterator[Any]:
    """An armed guard with its fast path, from a box config dict, until its outputs are up.
    ``core_sources``: also the core's OPC UA sources for what the guard does not read itself
    (as the core configures them: ``FastPath.source_config``), on an event loop of their own."""
    import asyncio

    from appliance.bus import Bus
    from appliance.config import BoxConfig
    from appliance.guard import Guard, build_outputs
    from appliance.guard.fastpath import FastPath
    from drivers.opcua.source import OpcuaSource

    cfg = BoxConfig.model_validate(config)
    bus = Bus()
    guard = Guard(cfg.guard, outputs=build_outputs(cfg.guard), db_path=db_path)
    guard.start()
    bus.subscribe_fast(guard.on_sample)
    fast = FastPath(cfg, guard, bus)
    fast.start()
    guard.bench_fast = fast  # type: ignore[attr-defined]  # for the bench's report only (the scheduling its readers got)
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, name="bench-core-loop", daemon=True)
    sources = [OpcuaSource(s, bus) for s in fast.source_config(cfg).sources.opcua] if core_sources else []
    loop_thread.start()
    try:
        for src in sources:
            asyncio.run_coroutine_threadsafe(src.__aenter__(), loop).result(15)
        if not guard.wait_outputs(ready_s):
            raise RuntimeError(f"stop output not ready: {guard.status()['outputs']}")
        yield guard
    finally:
        for src in sources:
            asyncio.run_coroutine_threadsafe(src.__aexit__(None, None, None), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(5)
        fast.stop()
        guard.stop()


OVERLOAD = {"name": "overload", "kind": "above", "signal": "motor_current", "limit": LIMIT}


def fast_guard(plc: Any, db_path: Path, poll_ms: int,
               rt_priority: int | None = None) -> contextlib.AbstractContextManager[Any]:
    """``rt_priority`` None: the config's default (as a box runs it)."""
    guard: dict[str, Any] = {"mode": "armed", "rules": [OVERLOAD],
                             "outputs": [{"name": "stop_coil", "kind": "modbus", "host": "127.0.0.1", "port": plc.port,
                                          "address": COIL, "timeout_ms": 500}]}
    if rt_priority is not None:
        guard["rt_priority"] = rt_priority
    return running_guard({
        "sources": {"modbus": [{"name": "plc", "port": plc.port, "backoff_min_s": 0.05, "backoff_max_s": 1,
                                "signals": [{"name": "motor_current", "address": REG, "poll_interval_ms": poll_ms}]}]},
        "guard": guard}, db_path)


def _settle(plc: Plc, guard: Any) -> None:
    plc.cmd(f"set {NORMAL}")
    _guard_settle(guard)
    plc.cmd("clear")


def _guard_settle(guard: Any) -> None:
    rule = guard._rules[0]
    deadline = time.monotonic() + 2.0
    while rule.last_value != NORMAL and time.monotonic() < deadline:
        time.sleep(0.0005)  # until the reader has seen the normal value (else a reset trips again)
    time.sleep(0.002)
    if guard.tripped:
        guard.reset("admin", source="bench")
    guard.wait_outputs(2)


def guard_trips(plc: Plc, db_path: Path, *, poll_ms: int, trips: int, rt_priority: int | None = None) -> dict[str, Any]:
    from bench.guard import _stats

    sched: set[str] = set()
    lat, missed = _guard_lat(plc, db_path, poll_ms=poll_ms, trips=trips, rt_priority=rt_priority, sched=sched)
    return {**_stats(lat), "missed": missed, "poll_interval_ms": poll_ms, "scheduling": sorted(sched)}


def _guard_lat(plc: Plc, db_path: Path, *, poll_ms: int, trips: int, rt_priority: int | None = None,
               sched: set[str] | None = None) -> tuple[list[int], int]:
    """``sched`` gets the scheduling the kernel gave the guard thread and its fast reader."""
    with fast_guard(plc, db_path.with_name(f"{db_path.stem}-fast{poll_ms}-rt{rt_priority}.db"), poll_ms,
                    rt_priority) as guard:

        def debug() -> None:
            if os.environ.get("WERKVLOER_BENCH_DEBUG"):
                st = guard.status()
                print("missed", st["tripped"], st["last_trip"], st["outputs"], st["suppressed_trips"],
                      file=sys.stderr)

        lat, missed = trip_loop(plc, lambda: _guard_settle(guard), trips=trips, on_miss=debug)
        _settle(plc, guard)
        if sched is not None:
            sched.add(f"guard thread {guard.scheduling}")
            sched.update(f"fast reader {v}" for v in guard.bench_fast.scheduling.values())
    return lat, missed


BLOCKS = int(os.environ.get("WERKVLOER_BENCH_STOP_BLOCKS", "6"))


def interleaved(plc: Plc, db_path: Path, *, trips: int, blocks: int = BLOCKS, suffix: str = "") -> dict[str, Any]:
    """The minimal loop and the guard at 1 ms and back to back, in alternating blocks of
    ``trips / blocks`` trips each: a burst of noise from the VM's host (seen: one run's p99 4x the
    next one's) then hits every path alike instead of whichever ran during it."""
    from bench.guard import _stats

    per = max(1, trips // blocks)
    lat: dict[str, list[int]] = {"minimal": [], "minimal_1ms": [], "1ms": [], "0ms": []}
    missed = dict.fromkeys(lat, 0)
    sched: set[str] = set()
    for _ in range(blocks):
        for key, poll_ms in (("minimal", 0), ("minimal_1ms", 1)):
            got = _minimal_lat(plc, trips=per, poll_ms=poll_ms)
            lat[key] += got[0]
            missed[key] += got[1]
        for poll_ms in (1, 0):
            got = _guard_lat(plc, db_path.with_name(f"{db_path.stem}-il{suffix}{poll_ms}.db"), poll_ms=poll_ms,
                             trips=per, sched=sched)
            lat[f"{poll_ms}ms"] += got[0]
            missed[f"{poll_ms}ms"] += got[1]
    ref, ref_1ms = _stats(lat["minimal"]), _stats(lat["minimal_1ms"])
    out: dict[str, Any] = {
        f"stop_minimal_loop{suffix}": {**ref, "missed": missed["minimal"], "poll_interval_ms": 0, "blocks": blocks},
        f"stop_minimal_loop_1ms{suffix}": {**ref_1ms, "missed": missed["minimal_1ms"], "poll_interval_ms": 1,
                                           "blocks": blocks}}
    for poll_ms in (1, 0):
        st = _stats(lat[f"{poll_ms}ms"])
        out[f"stop_fast_{poll_ms}ms{suffix}"] = {
            **st, "missed": missed[f"{poll_ms}ms"], "poll_interval_ms": poll_ms, "blocks": blocks,
            "scheduling": sorted(sched),
            "p99_vs_minimal": round(st["p99_ms"] / ref["p99_ms"], 2) if ref["p99_ms"] else None}
    out[f"stop_fast_1ms{suffix}"]["p99_vs_minimal_1ms"] = (
        round(out[f"stop_fast_1ms{suffix}"]["p99_ms"] / ref_1ms["p99_ms"], 2) if ref_1ms["p99_ms"] else None)
    return out


GUARD_PROCESS = r'''
import sys
from pathlib import Path
from bench import stoppath as sp
class _Plc:
    port = int(sys.argv[1])
with sp.fast_guard(_Plc, Path(sys.argv[2]), int(sys.argv[3])) as guard:
    print("ready", flush=True)
    for line in sys.stdin:
        sp._guard_settle(guard)
        print("ok", flush=True)
'''


def process_trips(plc: Plc, db_path: Path, *, poll_ms: int, trips: int) -> dict[str, Any]:
    """The same guard and fast path in a process of its own: its own GIL, so the recorder thread
    (in this process) cannot take it from the fast path; the OS still shares the two cores."""
    from bench.guard import _stats

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", GUARD_PROCESS, str(plc.port),
                             str(db_path.with_name(f"{db_path.stem}-proc.db")), str(poll_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None
    assert stdout.readline().strip() == "ready"

    def settle() -> None:
        stdin.write("settle\n")
        stdin.flush()
        assert stdout.readline().strip() == "ok"

    try:
        lat, missed = trip_loop(plc, settle, trips=trips)
    finally:
        stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {**_stats(lat), "missed": missed, "poll_interval_ms": poll_ms}


def after_drop(plc: Plc, db_path: Path, *, trips: int) -> dict[str, Any]:
    from bench.guard import _stats

    lat, missed = [], 0
    with fast_guard(plc, db_path.with_name(f"{db_path.stem}-drop.db"), 1) as guard:
        slot = guard._bank.slots[0]
        for _ in range(trips):
            _settle(plc, guard)
            port = slot.obj._client.socket.getsockname()[1]
            dt = plc.trip(drop_port=port)
            if dt is None:
                missed += 1
            else:
                lat.append(dt)
            guard.wait_outputs(5)
        _settle(plc, guard)
    return {**_stats(lat), "missed": missed}


def _minimal_lat(plc: Plc, *, trips: int, poll_ms: int = 0) -> tuple[list[int], int]:
    """What plain Python reaches: one pymodbus connection, read back to back (``poll_ms`` 0) or
    one read per ``poll_ms`` (sleeping until the next one is due), write on the edge."""
    from pymodbus.client import ModbusTcpClient

    stop = threading.Event()
    every_s = poll_ms / 1000

    def loop() -> None:
        c = ModbusTcpClient("127.0.0.1", port=plc.port, timeout=1, retries=0)
        c.connect()
        latched = False
        due = time.monotonic()
        while not stop.is_set():
            v = c.read_holding_registers(REG, count=1, device_id=1).registers[0]
            if v > LIMIT and not latched:
                c.write_coil(COIL, True, device_id=1)
                latched = True
            elif v <= LIMIT:
                latched = False
            if every_s:
                due += every_s
                time.sleep(max(0.0, due - time.monotonic()))
        c.close()

    t = threading.Thread(target=loop, name="bench-minimal-loop", daemon=True)
    t.start()
    try:
        lat, missed = trip_loop(plc, lambda: time.sleep(0.01), trips=trips)
    finally:
        stop.set()
        t.join(5)
    return lat, missed


def gpio_edge_relay(db_path: Path, *, trips: int) -> dict[str, Any]:
    """A GPIO input edge (gpiozero mock pins) -> the guard's own debounce and rule in the edge's
    thread -> the relay pin switched: from driving the pin until the relay has switched."""
    import asyncio

    from gpiozero.pins.mock import MockFactory

    from appliance.bus import Bus
    from appliance.config import BoxConfig
    from appliance.guard import Guard, build_outputs
    from appliance.guard.fastpath import FastPath
    from bench.guard import _stats
    from drivers.gpio import GpioSource

    factory = MockFactory()
    cfg = BoxConfig.model_validate({
        "sources": {"gpio": {"pin_factory": "mock", "inputs": [
            {"name": "door_open", "pin": 22, "pull_up": True, "debounce_ms": 0}]}},
        "guard": {"mode": "armed", "rules": [{"name": "door", "kind": "above", "signal": "door_open", "limit": 0.5}],
                  "outputs": [{"name": "stop_relay", "kind": "gpio", "pin": 17}]}})
    guard = Guard(cfg.guard, outputs=build_outputs(cfg.guard, gpio_factory=factory),
                  db_path=db_path.with_name(f"{db_path.stem}-gpio.db"), gpio_factory=factory)
    guard.start()
    bus = Bus()
    bus.subscribe_fast(guard.on_sample)
    fast = FastPath(cfg, guard, bus)
    loop = asyncio.new_event_loop()
    lt = threading.Thread(target=loop.run_forever, daemon=True)
    lt.start()
    src = GpioSource(cfg.sources.gpio, bus, pin_factory=factory)  # type: ignore[arg-type]
    asyncio.run_coroutine_threadsafe(src.__aenter__(), loop).result(10)
    fast.attach([src])
    door, relay = factory.pin(22), factory.pin(17)
    lat, whole, missed = [], [], 0
    try:
        guard.wait_outputs(10)
        for k in range(trips + 20):
            door.drive_high()
            guard.reset("admin", source="bench")
            time.sleep(0.001)
            t0 = time.monotonic_ns()
            door.drive_low()  # gpiozero calls the edge callback in this thread
            t1 = time.monotonic_ns()
            if k < 20:
                continue
            if relay.state:
                # When the relay pin took its new level: gpiozero's mock pin notes time.monotonic() at
                # each change (MockPin._last_change; no public absolute timestamp). The callback goes on
                # after that (trip record, alert), which is ``callback_done``.
                lat.append(round(relay._last_change * 1e9) - t0)  # type: ignore[attr-defined]
                whole.append(t1 - t0)
            else:
                missed += 1
    finally:
        fast.stop()
        asyncio.run_coroutine_threadsafe(src.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        lt.join(5)
        guard.stop()
    return {**_stats(lat), "missed": missed, "callback_done": _stats(whole)}


def run_stop_path(res: dict[str, Any], db_path: Path) -> None:
    """Adds the ``stop_*`` keys to the guard report (called inside the guard bench's load)."""
    from bench.guard import _free_port

    plc = Plc(_free_port())
    try:
        res.update(interleaved(plc, db_path, trips=STOP_TRIPS))
        res["stop_fast_1ms_no_rt"] = guard_trips(plc, db_path, poll_ms=1, trips=STOP_TRIPS, rt_priority=0)
        res["stop_fast_1ms_own_process"] = process_trips(plc, db_path, poll_ms=1, trips=STOP_TRIPS)
        res["stop_after_drop"] = after_drop(plc, db_path, trips=DROP_TRIPS)
        res["stop_gpio_edge_relay"] = gpio_edge_relay(db_path, trips=STOP_TRIPS)
        ref = res["stop_minimal_loop"]["p99_ms"]
        for key in ("stop_fast_1ms_no_rt", "stop_fast_1ms_own_process"):
            res[key]["p99_vs_minimal"] = round(res[key]["p99_ms"] / ref, 2) if ref else None
    finally:
        plc.close()
    plc = Plc(_free_port(), realtime=True)
    try:
        if plc.realtime:
            res.update(interleaved(plc, db_path, trips=STOP_TRIPS, suffix="_plc_rt"))
        else:
            res["stop_plc_rt"] = {"skipped": "SCHED_FIFO for the PLC process not permitted (run as root)"}
    finally:
        plc.close()
    res["stop_goal_met"] = {"plc_shares_the_cores": goal_met(res, ""), "plc_on_its_own_cpu": goal_met(res, "_plc_rt")}


GOAL_P99_MS, GOAL_VS_MINIMAL = 1.5, 1.5


def goal_met(res: dict[str, Any], suffix: str) -> dict[str, bool] | None:
    """Issue 11's goal for one PLC variant, each part on its own: a 1 ms poll's p99 <= 1.5 ms;
    <= 1.5x the minimal loop's p99 as the issue words it (the loop reading back to back) and
    like for like (the same loop reading once per 1 ms); no trip missed by any of them.
    None: the variant did not run."""
    fast = res.get(f"stop_fast_1ms{suffix}")
    ref, ref_1ms = res.get(f"stop_minimal_loop{suffix}"), res.get(f"stop_minimal_loop_1ms{suffix}")
    if not fast or not ref or not ref_1ms:
        return None
    return {"p99_within_1_5_ms": fast["p99_ms"] <= GOAL_P99_MS,
            "within_1_5x_minimal_back_to_back": fast["p99_ms"] <= GOAL_VS_MINIMAL * ref["p99_ms"],
            "within_1_5x_minimal_at_1ms": fast["p99_ms"] <= GOAL_VS_MINIMAL * ref_1ms["p99_ms"],
            "none_missed": fast["missed"] == ref["missed"] == ref_1ms["missed"] == 0}

if __name__ == "__main__":
    from bench.guard import main_under_load

    main_under_load(run_stop_path, "background")
