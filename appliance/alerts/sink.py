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

    def __len__(self) -> int:
        return len(self._items)


class AlertConsumer:
    """Drains an ``AlertSink`` into the database on its own thread (``start``/``stop``)."""

    def __init__(self, sink: AlertSink, db_path: str | Path, *, poll_s: float = 0.5, **store_kw: Any) -> None:
        self.sink = sink
        self.db_path = Path(db_path)
        self.poll_s = poll_s
        self._store_kw = store_kw
        self._store: AlertStore | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.stored = 0
        self.rejected = 0

    @property
    def store(self) -> AlertStore:
        if self._store is None:
            from appliance.storage import open_db

            self._store = AlertStore(open_db(self.db_path, sets=[migrations]), **self._store_kw)
        return self._store

    def drain_once(self) -> int:
        """Store everything queued now; returns how many were stored."""
        n = 0
        for item in self.sink.drain():
            try:
                self.store.raise_alert(**item)
                n += 1
            except (TypeError, ValueError) as exc:
                self.rejected += 1
                log.error("alert from %s rejected: %s", item.get("source"), exc)
            except sqlite3.Error as exc:
                log.error("could not store alert %s: %s", item.get("dedupe_key"), exc)
        self.stored += n
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sink.wait(self.poll_s)
            self.drain_once()
        self.drain_once()

    def start(self) -> None:
        if self._thread is not None:
            return
        _ = self.store  # open (and migrate) before the thread runs
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self.sink._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> AlertConsumer:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
