"""``werkvloer simulate``: MachineSim in real time behind Modbus TCP, OPC UA and a control port.

Control protocol (JSON lines on 127.0.0.1:<control-port>):
    {"op": "inject", "fault": "jam", "severity": 1.0}
    {"op": "clear"} | {"op": "clear", "fault": "jam"}
    {"op": "state", "state": "down"}   (optional "hold_s": stay so long before random changes resume)
    {"op": "values"}            -> current values, faults, stop coil
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
import tomllib
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from models.training.machine import MachineSim, MachineState, TimelineStep

from ..errors import ConfigError
from ..ipc import exchange_line

log = logging.getLogger(__name__)

TICK_S = 0.01  # the simulation advances every 10 ms of real time


def load_timeline(path: str | Path) -> list[TimelineStep]:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([("(file)", f"cannot read timeline {p}: {exc}")], str(p)) from None
    steps: list[TimelineStep] = []
    problems: list[tuple[str, str]] = []
    for i, raw in enumerate(data.get("step", [])):
        unknown = set(raw) - {"at_s", "state", "fault", "product", "scrap_next"}
        if unknown:
            problems.append((f"step[{i}]", f"unknown keys {sorted(unknown)}"))
            continue
        try:
            state = MachineState[raw["state"].upper()] if "state" in raw else None
        except KeyError:
            problems.append((f"step[{i}].state", f"expected one of {[s.name.lower() for s in MachineState]}"))
            continue
        if "at_s" not in raw:
            problems.append((f"step[{i}].at_s", "required key is missing"))
            continue
        steps.append(TimelineStep(at_s=float(raw["at_s"]), state=state, fault=raw.get("fault"),
                                  product=raw.get("product"), scrap_next=int(raw.get("scrap_next", 0))))
    if problems:
        raise ConfigError(problems, str(p))
    return steps


class Simulator:
    """The simulator process: owns the MachineSim and advances it in real time."""

    def __init__(self, sim: MachineSim, *, host: str = "127.0.0.1", modbus_port: int = 5020,
                 opcua_port: int = 4840, control_port: int = 5021, speed: float = 1.0) -> None:
        self.sim = sim
        self.host = host
        self.modbus_port = modbus_port
        self.opcua_port = opcua_port
        self.control_port = control_port
        self.speed = speed
        self.modbus: Any = None
        self.opcua: Any = None
        self._control: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> Simulator:
        self._stack = AsyncExitStack()
        await self._stack.__aenter__()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()  # a port in use: close what did start
            raise
        return self

    async def _start(self) -> None:
        # The clock and the control port first: the OPC UA server takes seconds
        # to build its address space, and faults can be injected meanwhile.
        self._ticker = asyncio.create_task(self._tick(), name="sim-tick")
        self._stack.push_async_callback(self._stop_ticker)
        if self.control_port:
            self._control = await asyncio.start_server(self._serve_control, self.host, self.control_port)
            self._stack.push_async_callback(self._close_control)
        if self.modbus_port:
            from drivers.modbus.simserver import ModbusSimServer

            self.modbus = await self._stack.enter_async_context(
                ModbusSimServer(self.sim, host=self.host, port=self.modbus_port))
        if self.opcua_port:
            from drivers.opcua.simserver import OpcuaSimServer

            self.opcua = await self._stack.enter_async_context(
                OpcuaSimServer(self.sim, host=self.host, port=self.opcua_port))

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.__aexit__(*exc)

    async def _stop_ticker(self) -> None:
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker

    async def _close_control(self) -> None:
        assert self._control is not None
        self._control.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._control.wait_closed(), 1.0)

    async def _tick(self) -> None:
        start = time.monotonic()
        t0 = self.sim.t_s
        while True:
            self.sim.advance_to(t0 + (time.monotonic() - start) * self.speed)
            await asyncio.sleep(TICK_S)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "inject":
            self.sim.inject(str(req.get("fault")), float(req.get("severity", 1.0)))
        elif op == "clear":
            self.sim.clear(req.get("fault"))
        elif op == "state":
            hold = req.get("hold_s")
            self.sim.set_state(str(req.get("state")), hold_s=None if hold is None else float(hold))
        elif op != "values":
            raise ValueError(f"unknown op {op!r}; use inject, clear, state or values")
        return {"ok": True, "t_s": round(self.sim.t_s, 3), "values": self.sim.values(),
                "faults": dict(self.sim.faults), "stop_active": self.sim.stop_active,
                "heartbeat": self.sim.heartbeat}

    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    resp = self.handle(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    resp = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(resp, allow_nan=True) + "\n").encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def control_request(host: str, port: int, req: dict[str, Any], timeout_s: float = 3.0) -> dict[str, Any]:
    """Send one control request to a running simulator."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        return exchange_line(sock, req)


async def _serve(args: argparse.Namespace) -> int:
    timeline = load_timeline(args.timeline) if args.timeline else None
    sim = MachineSim(seed=args.seed, timeline=timeline, mean_run_s=args.mean_run_s, mean_stop_s=args.mean_stop_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Simulator(sim, host=args.host, modbus_port=args.modbus_port, opcua_port=args.opcua_port,
                         control_port=args.control_port, speed=args.speed):
        print(f"simulator running: modbus tcp://{args.host}:{args.modbus_port}  "
              f"opc.tcp://{args.host}:{args.opcua_port}  control {args.host}:{args.control_port}", flush=True)
        await stop.wait()
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == "run":
        try:
            return asyncio.run(_serve(args))
        except (OSError, RuntimeError) as exc:
            print(f"werkvloer simulate: cannot start ({exc}). Is another simulator running? "
                  "Stop it, or choose other ports with --modbus-port/--opcua-port/--control-port.")
            return 1
    req: dict[str, Any] = {"op": args.action}
    if args.action == "inject":
        req.update(fault=args.arg, severity=args.severity)
    elif args.action == "clear" and args.arg:
        req["fault"] = args.arg
    elif args.action == "state":
        req["state"] = args.arg
    try:
        resp = control_request(args.host, args.control_port, req)
    except OSError as exc:
        print(f"werkvloer simulate: no simulator on {args.host}:{args.control_port} ({exc}); start one with `werkvloer simulate`")
        return 1
    print(json.dumps(resp, indent=2))
    return 0 if resp.get("ok") else 1
