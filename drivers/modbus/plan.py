"""Block planning: which read requests fetch a device's signals.

Signals of one table and one poll interval whose registers lie close together
(gap <= ``max_gap``) are merged into one request, within the protocol's
limits of 125 registers or 2000 bits per read (Modbus application protocol
v1.1b3, sections 6.1-6.4). Fewer requests is what makes a 100 ms poll of a
PLC cheap, and what keeps an RS-485 line at 19,200 baud free for other units.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .config import MAX_READ_BITS, MAX_READ_REGISTERS, ModbusDevice, ModbusSignal


@dataclass(eq=False)
class Read:
    """One read request and the signals it feeds."""

    table: str
    start: int
    count: int
    interval_ms: int
    signals: list[ModbusSignal] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + self.count

    def describe(self) -> str:
        return f"{self.table} {self.start}..{self.end - 1}"

    def split(self) -> list[Read]:
        """One read per signal (used when the device refuses the merged range)."""
        return [Read(self.table, s.address, s.register_count, self.interval_ms, [s]) for s in self.signals]


def plan_reads(device: ModbusDevice) -> list[Read]:
    """The reads that fetch every signal of ``device``, grouped by table and interval."""
    groups: dict[tuple[str, int], list[ModbusSignal]] = defaultdict(list)
    for sig in device.signals:
        # 0 is a poll interval (back to back, the guard's fast reader), not "unset"
        interval = sig.poll_interval_ms if sig.poll_interval_ms is not None else device.poll_interval_ms
        groups[(sig.table, interval)].append(sig)
    reads: list[Read] = []
    for (table, interval), signals in groups.items():
        limit = MAX_READ_BITS if table in ("coil", "discrete") else MAX_READ_REGISTERS
        current: Read | None = None
        for sig in sorted(signals, key=lambda s: (s.address, s.register_count)):
            end = sig.address + sig.register_count
            if current is not None and sig.address - current.end <= device.max_gap \
                    and max(end, current.end) - current.start <= limit:
                current.count = max(end, current.end) - current.start
                current.signals.append(sig)
                continue
            current = Read(table, sig.address, sig.register_count, interval, [sig])
            reads.append(current)
    return reads
