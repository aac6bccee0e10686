"""``AlertSink`` (thread-safe, never blocks: what the guard thread, drivers and
the KPI engine hold) and ``AlertConsumer`` (the thread that drains it into the
``AlertStore``)."""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from appliance.dbworker import DbWorker

from .schema import migrations
from .store import AlertStore

log = logging.getLogger(__name__)


class AlertSink:
    """Thread-safe, non-blocking hand-off of alerts (guard thread, drivers, KPI engine).

    ``submit`` takes the keyword arguments of ``AlertStore.raise_alert``; it
    only appends to a bounded deque (oldest dropped and counted when full).
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self._wake = threading.Event()
        self.dropped = 0
        self.submitted = 0

    def submit(self, **kwargs: Any) -> None:
        kwargs.setdefault("ts_ns", time.time_ns())
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(kwargs)
        self.submitted += 1
        self._wake.set()

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self._items.popleft())
            except IndexError:
                return out

    def wait(self, timeout: float) -> bool:
        got = self._wake.wait(timeout)
        self._wake.clear()
        return got

    def wake(self) -> None:
        """End a ``wait`` now (the consumer's stop)."""
        self._wake.set()

    @property
    def maxlen(self) -> int:
        return self._items.maxlen or 0

    def __len__(self) -> int:
        return len(self._items)


class AlertConsumer(DbWorker):
    """Drains an ``AlertSink`` into the database on its own thread (``start``/``stop``).

    A queue-driven :class:`appliance.dbworker.DbWorker`: it waits on the sink,
    stores what is queued, and drains the rest inside its thread at stop. An
    alert the database cannot take now (locked, disk full) is kept and retried
    on the next round (the failing state, one ERROR, one INFO when it is
    stored again); an alert that is not valid is rejected and counted.
    """

    closes_conn = False  # ``store`` stays readable after stop (tests, tools)

    def __init__(self, sink: AlertSink, db_path: str | Path, *, poll_s: float = 0.5, **store_kw: Any) -> None:
        super().__init__(name="alert-consumer", logger=log, poll_s=poll_s)
        self.sink = sink
        self.db_path = Path(db_path)
        self._store_kw = store_kw
        self._store: AlertStore | None = None
        self._retry: list[dict[str, Any]] = []
        self.stored = 0
        self.rejected = 0

    @property
    def store(self) -> AlertStore:
        if self._store is None:
            from appliance.storage import open_db

            self._store = AlertStore(open_db(self.db_path, sets=[migrations]), **self._store_kw)
        return self._store

    def open_conn(self) -> sqlite3.Connection:
        return self.store.conn  # open (and migrate) before the thread runs

    def drain_once(self) -> int:
        """Store everything queued now; returns how many were stored."""
        n = 0
        items, self._retry = self._retry + self.sink.drain(), []
        for i, item in enumerate(items):
            try:
                self.store.raise_alert(**item)
                n += 1
            except (TypeError, ValueError) as exc:
                self.rejected += 1
                log.error("alert from %s rejected: %s", item.get("source"), exc)
            except sqlite3.OperationalError as exc:  # locked, disk full: keep them for the next round
                self._retry = items[i:][-(self.sink.maxlen):]
                self.write_failed(exc, "could not store alert %s (%s); keeping %d alert(s) and retrying",
                                  item.get("dedupe_key"), exc, len(self._retry))
                break
            except sqlite3.Error as exc:
                self.rejected += 1
                log.error("could not store alert %s: %s", item.get("dedupe_key"), exc)
        else:
            if n:
                self.write_ok("alerts are stored again")
        self.stored += n
        return n

    def health(self) -> dict[str, Any]:
        return {**super().health(), "stored": self.stored, "rejected": self.rejected,
                "pending": len(self.sink) + len(self._retry), "dropped": self.sink.dropped}

    def work(self) -> None:
        self.sink.wait(self.poll_s)
        self.drain_once()

    def final(self) -> None:
        self.drain_once()

    def wake(self) -> None:
        self.sink.wake()

    def __enter__(self) -> AlertConsumer:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
