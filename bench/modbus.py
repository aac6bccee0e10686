"""Modbus benchmarks for ``make bench`` (issue 3). Adds ``report["modbus"]``:

- ``tcp``: back-to-back polls of a 20-register block from a pymodbus server in
  another process on loopback, through the driver's own read/decode/publish
  path: polls/s and p50/p99/max per poll (goal >= 2,000/s). Interleaved with
  it, ``minimal_pymodbus``: pymodbus's client alone against the same server
  (the floor), and for both the CPU time per poll of this process and of the
  server, so what is ours and what is pymodbus's or the peer's can be told apart.
- ``rtu``: 10-register reads at 19,200 baud 8E1 through a pty pair paced to
  the wire speed (a relay that lets each character through after its 11 bit
  times), against modbus-tk's RTU server: time per read against the computed
  wire time (goal within 1.3x).
- ``soak``: a source polling the simulator's server (generic-plc, vibration
  included) in another process that is killed and restarted every minute;
  RSS growth of this process after warm-up (goal < 5 MB).
  ``WERKVLOER_SOAK_S`` sets the length (default 120 s; 1800 s = the full soak).

``python -m bench.modbus`` runs them and prints the JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np

BAUD = 19200
BITS_PER_CHAR = 11  # start + 8 data + parity + stop (Modbus over serial line v1.02, 2.5.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pcts(values_s: list[float]) -> dict[str, float]:
    a = np.asarray(values_s) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "max_ms": round(float(a.max()), 3)}


def _spawn(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.modbus", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the peer prints one line when it is ready
    if not line:
        raise RuntimeError(f"bench peer {args} did not start")
    proc.ready_line = line.strip()  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- peers (child processes)
async def _serve_tcp(port: int) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    server = ModbusTcpServer(SimDevice(id=1, simdata=[SimData(0, values=list(range(100)), datatype=DataType.REGISTERS)]),
                             address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _serve_sim(port: int) -> None:
    from drivers.modbus.simserver import ModbusSimServer
    from models.training.machine import MachineSim

    sim = MachineSim(seed=1)
    async with ModbusSimServer(sim, port=port):
        print("ready", flush=True)
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            sim.advance(now - last)
            last = now


def _rtu_peer() -> None:
    """A paced pty relay plus modbus-tk's RTU server; prints the client's pty path."""
    import modbus_tk.defines as cst
    import serial
    from modbus_tk import modbus_rtu

    sys.setswitchinterval(0.0002)
    client_master, client_slave = os.openpty()
    server_master, server_slave = os.openpty()
    char_s = BITS_PER_CHAR / BAUD

    def relay(src: int, dst: int) -> None:
        # A whole chunk (a frame: senders write frames in one go) is passed on
        # once its characters have had their time on the wire; passing single
        # characters would add sleep jitter between them that a real UART
        # does not have (and that breaks the receiver's 1.5-character rule).
        free_at = 0.0  # when the wire is free again
        while True:
            data = os.read(src, 512)
            free_at = max(free_at, time.monotonic()) + len(data) * char_s
            delay = free_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            os.write(dst, data)

    for a, b in ((client_master, server_master), (server_master, client_master)):
        threading.Thread(target=relay, args=(a, b), daemon=True).start()
    port = serial.Serial(os.ttyname(server_slave), baudrate=BAUD)
    server = modbus_rtu.RtuServer(port, error_on_missing_slave=False)
    server.add_slave(1).add_block("hr", cst.HOLDING_REGISTERS, 0, 20)
    server.start()
    print(os.ttyname(client_slave), flush=True)
    threading.Event().wait()


# ---------------------------------------------------------------- measurements
async def _poll_back_to_back(device: object, seconds: float, max_polls: int) -> list[float]:
    """Run the driver's read path (read, decode, publish) back to back; seconds per poll."""
    from appliance.bus import Bus
    from drivers.base import SourceHealth
    from drivers.modbus.device import DeviceState
    from drivers.modbus.link import Link
    from drivers.modbus.source import _run_read

    bus = Bus()
    state = DeviceState(device, bus, SourceHealth(name="bench", kind="modbus"))  # type: ignore[arg-type]
    link = Link("bench", device)  # type: ignore[arg-type]
    link.devices.append(state)
    await link.connect()
    rs = state.reads[0]
    times: list[float] = []
    try:
        for _ in range(20):  # warm-up
            await _run_read(link, state, rs)
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(times) < max_polls:
            t0 = time.perf_counter()
            await _run_read(link, state, rs)
            times.append(time.perf_counter() - t0)
        if state.polls < len(times):
            raise RuntimeError(f"only {state.polls} of {len(times)} polls succeeded")
    finally:
        link.close()
    return times


async def _minimal_pymodbus(port: int, seconds: float) -> list[float]:
    """The floor: pymodbus's own client reading the same block back to back, nothing decoded or published."""
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0, reconnect_delay=0)
    if not await client.connect():
        raise RuntimeError("minimal pymodbus client cannot connect")
    times: list[float] = []
    try:
        for _ in range(20):
            await client.read_holding_registers(0, count=20, device_id=1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            rr = await client.read_holding_registers(0, count=20, device_id=1)
            times.append(time.perf_counter() - t0)
            if rr.isError():
                raise RuntimeError(f"minimal pymodbus read failed: {rr}")
    finally:
        client.close()
    return times


def bench_tcp() -> dict[str, object]:
    """The driver's path and the minimal pymodbus loop against one server, interleaved (2 x 2.5 s each), with
    the CPU time per poll of this process and of the server (what is ours, what is pymodbus's and the peer's)."""
    from drivers.modbus.config import ModbusDevice

    port = _free_port()
    peer = _spawn("serve-tcp", str(port))
    runs: dict[str, list[float]] = {"ours": [], "minimal": []}
    cpu: dict[str, list[float]] = {"ours": [0.0, 0.0], "minimal": [0.0, 0.0]}  # this process, the server (s)
    try:
        device = ModbusDevice.model_validate({"name": "bench", "port": port, "timeout_s": 1.0, "signals": [
            {"name": f"r{i}", "address": i} for i in range(20)]})
        for _ in range(2):
            for name in ("ours", "minimal"):
                gc.collect()
                c0, p0 = time.process_time(), _cpu_s(peer.pid)
                if name == "ours":
                    runs[name] += asyncio.run(_poll_back_to_back(device, 2.5, 25_000))
                else:
                    runs[name] += asyncio.run(_minimal_pymodbus(port, 2.5))
                cpu[name][0] += time.process_time() - c0
                cpu[name][1] += _cpu_s(peer.pid) - p0
    finally:
        _stop(peer)
    times, floor = runs["ours"], runs["minimal"]
    per_poll = {name: {"client_cpu_us": round(cpu[name][0] / len(runs[name]) * 1e6, 1),
                       "server_cpu_us": round(cpu[name][1] / len(runs[name]) * 1e6, 1)} for name in runs}
    return {"registers": 20, "polls": len(times), "polls_per_s": round(len(times) / sum(times), 1), **_pcts(times),
            **per_poll["ours"],
            "minimal_pymodbus": {"polls": len(floor), "polls_per_s": round(len(floor) / sum(floor), 1),
                                 **_pcts(floor), **per_poll["minimal"]},
            "ratio_polls_per_s_to_minimal": round(len(times) / sum(times) / (len(floor) / sum(floor)), 3),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def bench_rtu() -> dict[str, object]:
    from drivers.modbus.config import ModbusDevice

    peer = _spawn("rtu-peer")
    try:
        device = ModbusDevice.model_validate({
            "name": "bench", "transport": "rtu", "serial_port": peer.ready_line,  # type: ignore[attr-defined]
            "baudrate": BAUD, "parity": "N", "timeout_s": 1.0,
            "signals": [{"name": f"r{i}", "address": i} for i in range(10)]})
        times = asyncio.run(_poll_back_to_back(device, 6.0, 200))
    finally:
        _stop(peer)
    # request 8 bytes; response 1 unit + 1 fc + 1 count + 20 data + 2 crc = 25 bytes
    chars = 8 + 25
    char_ms = BITS_PER_CHAR / BAUD * 1000
    wire_ms = chars * char_ms
    t35_ms = 3.5 * char_ms  # silent interval that ends each frame (RTU framing, 2.5.1.1)
    wire_with_gaps_ms = wire_ms + 2 * t35_ms
    p50 = _pcts(times)["p50_ms"]
    return {"baud": BAUD, "registers": 10, "reads": len(times), **_pcts(times),
            "wire_ms": round(wire_ms, 3), "wire_with_frame_gaps_ms": round(wire_with_gaps_ms, 3),
            "ratio_p50_to_wire_with_gaps": round(p50 / wire_with_gaps_ms, 3),
            "note": "pty pair paced to 19,200 baud x 11 bits per character by a relay; peer modbus-tk"}


async def _soak(seconds: float, restart_every_s: float, down_s: float) -> dict[str, object]:
    from appliance.bus import Bus
    from drivers.modbus import ModbusSource
    from drivers.modbus.config import ModbusDevice

    port = _free_port()
    bus = Bus()
    queue = bus.subscribe_queue("soak", maxlen=10_000)  # a slow consumer, drained like the recorder does
    device = ModbusDevice.model_validate({"name": "soak", "profile": "generic-plc", "port": port,
                                          "timeout_s": 0.5, "backoff_min_s": 0.2, "backoff_max_s": 2.0})
    peer = await asyncio.to_thread(_spawn, "serve-sim", str(port))
    restarts = 0
    samples = 0
    rss_after_warmup: float | None = None
    warmup_s = min(60.0, seconds / 4)
    start = time.monotonic()
    next_restart = start + restart_every_s
    try:
        async with ModbusSource(device, bus) as src:
            while time.monotonic() - start < seconds:
                await asyncio.sleep(0.2)
                samples += len(queue.drain())
                now = time.monotonic()
                if rss_after_warmup is None and now - start >= warmup_s:
                    gc.collect()
                    rss_after_warmup = _rss_mb()
                if now >= next_restart:
                    await asyncio.to_thread(_stop, peer)
                    await asyncio.sleep(down_s)
                    peer = await asyncio.to_thread(_spawn, "serve-sim", str(port))
                    restarts += 1
                    next_restart = time.monotonic() + restart_every_s
            polls, timeouts = src.polls, src.timeouts
    finally:
        _stop(peer)
    gc.collect()
    rss_end = _rss_mb()
    assert rss_after_warmup is not None
    return {"seconds": seconds, "restart_every_s": restart_every_s, "restarts": restarts, "polls": polls,
            "failed_polls": timeouts, "samples": samples, "rss_after_warmup_mb": round(rss_after_warmup, 2),
            "rss_end_mb": round(rss_end, 2), "rss_growth_mb": round(rss_end - rss_after_warmup, 2)}


def bench_soak() -> dict[str, object]:
    seconds = float(os.environ.get("WERKVLOER_SOAK_S", "120"))
    restart_every = 60.0 if seconds >= 240 else max(5.0, seconds / 4)
    return asyncio.run(_soak(seconds, restart_every, down_s=2.0))


def run(report: dict) -> None:
    """Entry point for bench/run.py."""
    out: dict[str, object] = {}
    for key, fn in (("tcp", bench_tcp), ("rtu", bench_rtu), ("soak", bench_soak)):
        try:
            out[key] = fn()
        except Exception as exc:  # one failing part must not hide the others' numbers
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    report["modbus"] = out


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve-tcp"]:
        asyncio.run(_serve_tcp(int(argv[1])))
    elif argv[:1] == ["serve-sim"]:
        asyncio.run(_serve_sim(int(argv[1])))
    elif argv[:1] == ["rtu-peer"]:
        _rtu_peer()
    else:
        report: dict = {}
        run(report)
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
