"""Which read runs next on a link, and when: pure, the time is passed in.

Each device's signals are planned into block reads (``plan.py``), each with its
own interval. A link always runs the read that is due first; a device (or the
whole link) that is backing off holds its reads until its ``retry_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

STALE_CHECK_S = 0.1  # how often GOOD values are checked for staleness
WAKE_SLACK_S = 1e-4  # wake just after a read is due, not just before it
IDLE_WAIT_S = 1.0  # a link without reads waits this long for a change


class Due(Protocol):
    due: float


class Polled(Protocol):
    @property
    def retry_at(self) -> float: ...

    @property
    def reads(self) -> Sequence[Due]: ...


D = TypeVar("D", bound=Polled)


def next_read(devices: Iterable[D], link_retry_at: float) -> tuple[float, D, int] | None:
    """(when, device, index in its ``reads``) of the read due first, or None if
    no device has a read.

    A read is due at its own ``due``, but not before its device's or the link's
    ``retry_at``; of equal times the first device and read in order wins.
    """
    pick: tuple[float, D, int] | None = None
    for dev in devices:
        gate = max(dev.retry_at, link_retry_at)
        for i, rs in enumerate(dev.reads):
            due = max(rs.due, gate)
            if pick is None or due < pick[0]:
                pick = (due, dev, i)
    return pick


def wait_s(due: float, now: float, next_stale_check: float) -> float:
    """How long to sleep before ``due``: never past the next stale check."""
    return min(due - now, max(0.0, next_stale_check - now)) + WAKE_SLACK_S


def next_due(due: float, interval_s: float, now: float) -> float:
    """The read's next due time after it ran: one interval on, but never in the
    past (after a slow device or an outage it carries on from now, no burst)."""
    due += interval_s
    return now if due < now else due
