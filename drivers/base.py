"""The small interfaces every driver implements: a ``Source`` (reads, publishes
samples on a :class:`~drivers.samples.SampleSink`) and a ``StopOutput`` (what
the guard drives). ``appliance.sources`` builds the configured ones."""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable


@dataclasses.dataclass(slots=True)
class SourceHealth:
    """What ``/api/v1/health`` shows for a source."""

    name: str
    kind: str
    state: str = "starting"  # starting | ok | unavailable | stopped
    available: bool = False  # the last poll/notification succeeded
    last_good_utc_ns: int | None = None
    last_error: str | None = None


@runtime_checkable
class Source(Protocol):
    """A long-lived reader: an async context manager that publishes samples on its sink.

    ``async with source:`` starts it (connect, poll or subscribe in background
    tasks) and returns without waiting for the device; leaving the block stops
    it and closes every connection.
    """

    name: str
    health: SourceHealth

    async def __aenter__(self) -> Source: ...

    async def __aexit__(self, *exc: object) -> None: ...


class StopOutput(Protocol):
    """An output the guard drives on its fast path. Methods are synchronous
    and raise ``DeviceError`` when the device does not confirm.

    ``fire``/``release`` run on a connection opened beforehand and never
    connect (a stop must not wait for a TCP handshake); ``open`` (one
    connection attempt) and ``check`` (a cheap keep-alive read) are called by
    the guard's output bank in the output's own thread, off the stop path."""

    name: str

    @property
    def connected(self) -> bool: ...

    def open(self) -> None: ...

    def check(self) -> object: ...

    def fire(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...
