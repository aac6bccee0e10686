"""Fan-out of samples from drivers to consumers.

``publish`` is called from driver code (event loop or a GPIO thread). It calls
fast subscribers (the guard's ring buffers) inline, so the fast path never
waits on the event loop, and puts the sample on a queue for each slow
subscriber (recorder, machine state). Slow subscribers never block a driver:
if one falls behind, its oldest samples are dropped and counted.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from drivers.samples import Sample

log = logging.getLogger(__name__)

FastSubscriber = Callable[[Sample], None]


class SampleQueue:
    """A bounded, thread-safe queue for a slow consumer (drops oldest on overflow)."""

    def __init__(self, name: str, maxlen: int = 1_000_000) -> None:
        self.name = name
        self._items: collections.deque[Sample] = collections.deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, sample: Sample) -> None:
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(sample)
            self._cond.notify()

    def drain(self, timeout: float | None = None) -> list[Sample]:
        """Everything queued; waits up to ``timeout`` s for the first item."""
        with self._cond:
            if not self._items and timeout:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            return items

    def __len__(self) -> int:
        return len(self._items)


class Bus:
    def __init__(self) -> None:
        self._fast: list[FastSubscriber] = []
        self._queues: list[SampleQueue] = []
        self._latest: dict[str, Sample] = {}
        self._watchers: list[Callable[[Sample], None]] = []

    def subscribe_fast(self, callback: FastSubscriber) -> None:
        """``callback`` runs in the publisher's thread; it must not block."""
        self._fast = [*self._fast, callback]

    def subscribe_queue(self, name: str, maxlen: int = 1_000_000) -> SampleQueue:
        queue = SampleQueue(name, maxlen)
        self._queues = [*self._queues, queue]
        return queue

    def publish(self, sample: Sample) -> None:
        self._latest[sample.signal] = sample
        for callback in self._fast:
            try:
                callback(sample)
            except Exception:  # a broken consumer must not take the driver down
                log.exception("fast subscriber %r failed on %s", callback, sample.signal)
        for queue in self._queues:
            queue.put(sample)

    def latest(self) -> dict[str, Sample]:
        """The last sample of every signal (a copy)."""
        return dict(self._latest)
