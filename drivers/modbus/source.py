"""ModbusSource: polls one Modbus device and publishes its signals on the bus.

Shape (after Home Assistant's update coordinator):

- A *link* is one connection (``link.py``): a TCP socket to one device, or one
  serial port (RS-485 line) shared by every unit on it.
- One *poller* task per link (here). For TCP that is one poller per device; for
  RTU the devices (unit ids) on one serial port are polled in turn by one line
  poller, because a half-duplex line carries one request at a time.
- Each device's signals are planned into block reads (``plan.py``), each read
  with its own interval. The poller always runs the read that is due first
  (``scheduler.py``).
- A device that does not answer costs one timeout, then waits out a backoff
  before one probe read (``device.py``); in the meantime the other units on the
  line are polled at their own rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from drivers.base import SourceHealth
from drivers.samples import SampleSink

from . import scheduler
from .config import ModbusDevice
from .device import DeviceState, ReadState
from .link import DeviceAnswered, Link, NoAnswer, SerialLines, loop_serial_lines, where

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- poller
async def _poll_link(link: Link) -> None:
    """Serve every device on ``link``; a bug in one round must not end the polling."""
    try:
        while link.devices:
            try:
                await _poll_rounds(link)
            except Exception:
                log.exception("modbus %s: poller failed; restarting it in 1 s", link.key)
                link.close()
                await asyncio.sleep(1.0)
    finally:
        link.close()


async def _poll_rounds(link: Link) -> None:
    """Serve every device on ``link``: always the read that is due first."""
    next_stale_check = 0.0
    while link.devices:
        now = time.monotonic()
        if now >= next_stale_check:
            for dev in link.devices:
                dev.check_stale(now)
            next_stale_check = now + scheduler.STALE_CHECK_S
        pick = scheduler.next_read(link.devices, link.retry_at)
        if pick is None:  # devices without signals: nothing to do but wait for a change
            link.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.wake.wait(), scheduler.IDLE_WAIT_S)
            continue
        due, dev, i = pick
        if due > now:
            link.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.wake.wait(), scheduler.wait_s(due, now, next_stale_check))
            continue
        if not link.connected:
            try:
                await link.connect()
                link.connect_backoff.reset()
                link.retry_at = 0.0
            except NoAnswer as exc:
                for d in link.devices:
                    d.failed(str(exc), where(d.cfg))
                link.retry_at = time.monotonic() + link.connect_backoff.failed()
                continue
        await _run_read(link, dev, dev.reads[i])


async def _run_read(link: Link, dev: DeviceState, rs: ReadState) -> None:
    cfg = dev.cfg
    try:
        values = await link.read(rs.read, cfg.unit_id, cfg.timeout_s)
    except NoAnswer as exc:
        _reschedule(rs)
        if link.is_serial and not link.connected:  # the port itself went away
            for d in link.devices:
                d.failed(str(exc), where(d.cfg))
            link.retry_at = dev.retry_at
        else:
            dev.failed(str(exc), where(cfg))
        return
    except DeviceAnswered as exc:
        dev.succeeded()  # it answered: reachable
        if exc.code == 2 and len(rs.read.signals) > 1:
            dev.split_read(rs)
            return
        _reschedule(rs)
        dev.device_exception(rs, exc)
        return
    mono, utc = time.monotonic_ns(), time.time_ns()
    _reschedule(rs)
    dev.succeeded()
    dev.handle_values(rs, values, mono, utc)


def _reschedule(rs: ReadState) -> None:
    rs.due = scheduler.next_due(rs.due, rs.read.interval_ms / 1000, time.monotonic())


# ---------------------------------------------------------------- the source
class ModbusSource:
    """One Modbus device (TCP, or one unit on an RTU line) as a bus source.

    ``async with ModbusSource(device, bus):`` starts polling in the background
    and returns at once; leaving the block stops it and closes the connection
    (an RTU line closes when its last device leaves).

    Devices on one serial port share its line through ``serial_lines``; without
    one, the running event loop's lines are used.
    """

    kind = "modbus"

    def __init__(self, device: ModbusDevice, bus: SampleSink, *,
                 serial_lines: SerialLines | None = None) -> None:
        self.device = device
        self._serial_lines = serial_lines
        self.name = device.name
        self.bus = bus
        self.health = SourceHealth(name=device.name, kind="modbus")
        self._state: DeviceState | None = None
        self._link: Link | None = None

    @property
    def polls(self) -> int:
        """Successful reads so far."""
        return self._state.polls if self._state else 0

    @property
    def timeouts(self) -> int:
        """Reads that got no answer so far."""
        return self._state.timeouts if self._state else 0

    async def __aenter__(self) -> ModbusSource:
        cfg = self.device
        self.health.state = "starting"
        self._state = DeviceState(cfg, self.bus, self.health)
        if cfg.transport == "rtu":
            lines = self._serial_lines or loop_serial_lines()
            link = lines.link_for(cfg)
        else:
            link = Link(f"{cfg.host}:{cfg.port}/{cfg.unit_id}", cfg)
        self._link = link
        link.devices.append(self._state)
        link.wake.set()
        if link.task is None or link.task.done():
            link.task = asyncio.create_task(_poll_link(link), name=f"modbus-{link.key}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        link, state = self._link, self._state
        self._link = None
        if link is None or state is None:
            return
        if state in link.devices:
            link.devices.remove(state)
        link.wake.set()
        if not link.devices and link.task is not None:
            link.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.task
            link.task = None
            link.close()
        self.health.state = "stopped"
        self.health.available = False
