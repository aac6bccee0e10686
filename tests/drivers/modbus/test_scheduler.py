"""The read scheduler (pure: the time is passed in) and the serial-line table."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from drivers.modbus import scheduler
from drivers.modbus.config import ModbusDevice
from drivers.modbus.link import SerialLines, loop_serial_lines


@dataclass
class R:
    due: float


@dataclass
class Dev:
    reads: list[R]
    retry_at: float = 0.0


def test_the_read_due_first_runs_first() -> None:
    a, b = Dev([R(5.0), R(3.0)]), Dev([R(4.0)])
    assert scheduler.next_read([a, b], 0.0) == (3.0, a, 1)


def test_a_backing_off_device_holds_its_reads_and_the_others_go_on() -> None:
    a, b = Dev([R(1.0)], retry_at=10.0), Dev([R(2.0)])
    assert scheduler.next_read([a, b], 0.0) == (2.0, b, 0)


def test_a_backing_off_link_holds_every_device() -> None:
    a, b = Dev([R(1.0)]), Dev([R(2.0)])
    assert scheduler.next_read([a, b], 7.0) == (7.0, a, 0)  # equal times: first in order


def test_no_reads_no_pick() -> None:
    assert scheduler.next_read([Dev([]), Dev([])], 0.0) is None
    assert scheduler.next_read([], 0.0) is None


def test_next_due_keeps_the_rhythm_but_never_bursts_after_falling_behind() -> None:
    assert scheduler.next_due(10.0, 0.5, now=10.2) == 10.5
    assert scheduler.next_due(10.0, 0.5, now=42.0) == 42.0


def test_the_wait_never_passes_the_next_stale_check() -> None:
    assert scheduler.wait_s(due=5.0, now=1.0, next_stale_check=1.05) == pytest.approx(0.05 + scheduler.WAKE_SLACK_S)
    assert scheduler.wait_s(due=1.02, now=1.0, next_stale_check=1.05) == pytest.approx(0.02 + scheduler.WAKE_SLACK_S)
    # a stale check already due: only the slack
    assert scheduler.wait_s(due=5.0, now=2.0, next_stale_check=1.0) == scheduler.WAKE_SLACK_S


def _rtu(name: str, port: str, baudrate: int = 9600) -> ModbusDevice:
    return ModbusDevice.model_validate({"name": name, "transport": "rtu", "serial_port": port,
                                        "baudrate": baudrate, "signals": []})


def test_units_on_one_port_share_its_line_and_other_ports_do_not() -> None:
    lines = SerialLines()
    a, b, c = _rtu("a", "/dev/ttyUSB0"), _rtu("b", "/dev/ttyUSB0"), _rtu("c", "/dev/ttyUSB1")
    line = lines.link_for(a)
    assert lines.link_for(b) is line and line.cfg is a
    assert lines.link_for(c) is not line
    assert SerialLines().link_for(b) is not line  # another table, another line


def test_a_line_leaves_the_table_with_its_last_device() -> None:
    lines = SerialLines()
    first = lines.link_for(_rtu("a", "/dev/ttyUSB0"))
    first_id = id(first)
    del first
    again = lines.link_for(_rtu("b", "/dev/ttyUSB0"))
    assert again.cfg.name == "b", f"the old line ({first_id}) was kept"


def test_each_event_loop_has_its_own_lines() -> None:
    async def lines() -> SerialLines:
        assert loop_serial_lines() is loop_serial_lines()
        return loop_serial_lines()

    held = [asyncio.run(lines()), asyncio.run(lines())]
    assert held[0] is not held[1]


def test_mismatched_line_settings_are_an_error_once_per_device(caplog: pytest.LogCaptureFixture) -> None:
    lines = SerialLines()
    line = lines.link_for(_rtu("a", "/dev/ttyUSB0"))
    assert lines.link_for(_rtu("b", "/dev/ttyUSB0", baudrate=19200)) is line
    assert line.cfg.baudrate == 9600
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "give every device on one line the same settings" in errors[0].getMessage()
