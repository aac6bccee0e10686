"""Our own input filter. gpiozero's ``bounce_time`` is ignored by the mock
pins and behaves differently per backend, so debounce is done here, on the
edges gpiozero reports and a clock we are given (issue 3)."""

from __future__ import annotations


class Debouncer:
    """A PLC-style input filter: a new level counts once it has held for
    ``hold_ns``. Glitches shorter than that never show.

    Pure logic, not thread-safe (the caller holds a lock). The confirmed level
    changes only inside :meth:`feed` or :meth:`advance`, each of which returns
    the change it confirmed as ``(level, since_ns)`` — ``since_ns`` is when
    the level began, not when it was confirmed.
    """

    __slots__ = ("hold_ns", "level", "raw", "raw_since_ns")

    def __init__(self, level: bool, *, hold_ns: int, now_ns: int) -> None:
        if hold_ns < 0:
            raise ValueError("hold_ns must be >= 0")
        self.hold_ns = hold_ns
        self.level = bool(level)  # confirmed (debounced) level
        self.raw = bool(level)  # last level seen on the pin
        self.raw_since_ns = now_ns

    def advance(self, now_ns: int) -> tuple[bool, int] | None:
        """Confirm the raw level if it has held until ``now_ns``."""
        if self.raw != self.level and now_ns - self.raw_since_ns >= self.hold_ns:
            self.level = self.raw
            return self.level, self.raw_since_ns
        return None

    def feed(self, level: bool, now_ns: int) -> list[tuple[bool, int]]:
        """An edge seen at ``now_ns``. Returns confirmed changes (0, 1 or 2):
        the previous raw level if it held long enough before this edge (so a
        valid pulse counts even when nobody called :meth:`advance` during
        it), then this one if ``hold_ns`` is 0."""
        confirmed = []
        before = self.advance(now_ns)
        if before is not None:
            confirmed.append(before)
        level = bool(level)
        if level != self.raw:
            self.raw = level
            self.raw_since_ns = now_ns
        now = self.advance(now_ns)
        if now is not None:
            confirmed.append(now)
        return confirmed

    def due_ns(self) -> int | None:
        """When :meth:`advance` can next confirm something, or None if settled."""
        if self.raw == self.level:
            return None
        return self.raw_since_ns + self.hold_ns
