"""``DbWorker``: the one base of the box's SQLite writer threads.

Each writer (the recorder, the alert consumer, the KPI engine, the guard's
trip writer) is one thread that owns one connection and writes in short
batches, so nothing on the fast path or the event loop waits on SQLite. The
base holds what they share:

- **driven by a queue or a timer**: with ``interval_s`` the thread calls
  :meth:`work` once per interval (the recorder); without it, :meth:`work`
  itself blocks until there is something to write, at most ``poll_s``
  (a queue drain with a timeout, an event wait), and is called again;
- **progress** (``progress_mono``, :meth:`progress`) for the systemd watchdog;
- **failure as a state, not a repeating log line**: a write that fails is
  reported with :meth:`write_failed` (one ERROR, then ``failing`` in the
  health state until :meth:`write_ok`, which logs one INFO); a bug in
  :meth:`work` is logged once with its traceback and leaves the thread
  running, in the ``failing`` state, until a round succeeds;
- **a clean stop with a final flush**, on one of two threads (``final_on``):

  - ``"thread"``: the worker thread runs :meth:`final` after its loop, so
    every write stays on the owner thread (alert consumer, KPI engine, guard
    writer);
  - ``"caller"``: :meth:`stop` joins the thread, then runs :meth:`final` on
    the stopping thread (the recorder: what reached its queue after the
    thread's last round, or while the thread was stuck, is still written).

The connection is opened in :meth:`start` on the caller's thread (a
database that cannot be opened or migrated fails the start, not the thread)
and closed at stop when ``closes_conn`` is true. The KPI engine and the alert
consumer keep theirs: their owners also read through it (status, tests).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

log = logging.getLogger(__name__)


class DbWorker:
    """Subclass it: :meth:`open_conn`, :meth:`work`, and as needed :meth:`final`, :meth:`wake`."""

    final_on: Literal["thread", "caller"] = "thread"
    closes_conn = True

    def __init__(self, *, name: str, logger: logging.Logger, interval_s: float | None = None,
                 poll_s: float = 0.5, conn: sqlite3.Connection | None = None) -> None:
        self.name = name
        self.log = logger
        self.interval_s = interval_s
        self.poll_s = poll_s
        self.conn = conn
        self.failing = False
        self.last_error: str | None = None
        self.last_write_utc_ns: int | None = None
        self.progress_mono = time.monotonic()
        self._bug = False  # work() raised: logged once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- what a writer says --------------------------------------------------------
    def open_conn(self) -> sqlite3.Connection:
        """The writer's connection (called by :meth:`start` when none was given)."""
        raise NotImplementedError

    def before_thread(self) -> None:
        """On the starting thread, once the connection is open (migrations, retention at start)."""

    def work(self) -> None:
        """One round: take what is queued and write it. Without ``interval_s`` it
        waits for work itself (at most ``poll_s``)."""
        raise NotImplementedError

    def final(self) -> None:
        """The last flush at stop (default: one more round)."""
        self.work()

    def wake(self) -> None:
        """Make a waiting :meth:`work` return now (stop)."""

    # ----- lifecycle ---------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.conn is None:
            self.conn = self.open_conn()
        self.before_thread()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread after its final flush (see ``final_on``)."""
        if self._thread is None:
            return
        self._stop.set()
        self.wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.not_finished(timeout)
        self._thread = None
        if self.final_on == "caller":
            try:
                self._round(self.final)
            finally:
                self._close()

    def not_finished(self, timeout: float) -> None:
        """The thread did not end within ``timeout`` (stuck in a write)."""
        self.log.error("%s: did not finish within %.0f s", self.name, timeout)

    def _close(self) -> None:
        if self.closes_conn and self.conn is not None:
            self.conn.close()
            self.conn = None

    def _run(self) -> None:
        try:
            if self.interval_s is None:
                while not self._stop.is_set():
                    self.progress_mono = time.monotonic()
                    self._round(self.work)
            else:
                next_due = time.monotonic() + self.interval_s
                while not self._stop.is_set():
                    self.progress_mono = time.monotonic()
                    if self._stop.wait(min(max(0.0, next_due - time.monotonic()), self.poll_s)):
                        break
                    if time.monotonic() < next_due:
                        continue
                    next_due = time.monotonic() + self.interval_s
                    self._round(self.work)
            if self.final_on == "thread":
                self._round(self.final)
        finally:
            if self.final_on == "thread":
                self._close()

    def _round(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # never let the writer thread die silently, nor log every round
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self._bug:
                self._bug = True
                self.log.exception("%s failed; it keeps running (health: failing) and logs again "
                                   "only once it recovers", self.name)
            return
        if self._bug:
            self.log.info("%s works again", self.name)  # before the state changes: a reader of it sees the line
            self._bug = False

    # ----- failure as a state --------------------------------------------------------------
    def write_failed(self, exc: BaseException, message: str, *args: object) -> None:
        """A write failed: ERROR once (``message % args``), then the failing state."""
        self.last_error = str(exc)
        if not self.failing:
            self.failing = True
            self.log.error(message, *args)

    def write_ok(self, message: str | None = None, *args: object) -> bool:
        """A write succeeded: leaves the failing state (one INFO, ``message % args``).
        Returns whether it was failing."""
        self.last_write_utc_ns = time.time_ns()
        self.progress_mono = time.monotonic()
        if not self.failing:
            return False
        if message is not None:
            self.log.info(message, *args)
        self.failing = False
        self.last_error = None
        return True

    @property
    def state(self) -> str:
        """``failing`` (a write or a round failed), ``ok`` (thread running) or ``stopped``."""
        if self.failing or self._bug:
            return "failing"
        return "ok" if self.alive else "stopped"

    def health(self) -> dict[str, Any]:
        """For the core's ``status`` op (a part of ``GET /api/v1/health``)."""
        return {"name": self.name, "state": self.state, "available": self.alive and self.state != "failing",
                "last_good_utc_ns": self.last_write_utc_ns, "last_error": self.last_error}

    def progress(self) -> float:
        """Monotonic time (s) of the thread's last round, for the core's watchdog."""
        return self.progress_mono
