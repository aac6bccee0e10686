"""The SQLite worker base: a failing round is one ERROR and a state, the final
flush runs where ``final_on`` says, and what was queued before stop is written."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from pathlib import Path

import pytest

from appliance.dbworker import DbWorker
from appliance.storage import connect, write_tx
from tests.conftest import wait_for

log = logging.getLogger("tests.dbworker")


class Rows(DbWorker):
    """Writes queued numbers into a table, one transaction per round."""

    def __init__(self, path: Path, *, final_on: str = "thread") -> None:
        super().__init__(name="rows", logger=log, poll_s=0.05)
        self.final_on = final_on  # type: ignore[assignment]
        self.path = path
        self.q: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.broken = threading.Event()
        self.final_thread: str | None = None

    def open_conn(self) -> sqlite3.Connection:
        conn = connect(self.path)
        conn.execute("CREATE TABLE IF NOT EXISTS n(v INTEGER)")
        return conn

    def _take(self, block: bool) -> list[int]:
        out: list[int] = []
        try:
            out.append(self.q.get(timeout=self.poll_s) if block else self.q.get_nowait())
            while True:
                out.append(self.q.get_nowait())
        except queue.Empty:
            return out

    def _write(self, items: list[int]) -> None:
        if items:
            assert self.conn is not None
            with write_tx(self.conn) as c:
                c.executemany("INSERT INTO n(v) VALUES (?)", [(v,) for v in items])
            self.write_ok()

    def work(self) -> None:
        if self.broken.is_set():
            raise RuntimeError("a bug in a round")
        self._write(self._take(block=True))

    def final(self) -> None:
        self.final_thread = threading.current_thread().name
        self._write(self._take(block=False))


def stored(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM n ORDER BY v")]


@pytest.mark.parametrize("final_on", ["thread", "caller"])
def test_what_was_queued_before_stop_is_written_where_final_on_says(tmp_path: Path, final_on: str) -> None:
    w = Rows(tmp_path / "w.db", final_on=final_on)
    w.start()
    w.broken.set()  # rounds fail from now on: only the final flush can write
    for i in range(100):
        w.q.put(i)
    w.stop()
    assert stored(tmp_path / "w.db") == list(range(100))
    assert w.final_thread == ("rows" if final_on == "thread" else threading.current_thread().name)
    assert w.conn is None and w.state == "stopped"  # the connection is closed


def test_a_failing_round_is_one_error_and_a_state_until_it_works_again(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    w = Rows(tmp_path / "w.db")
    w.start()
    try:
        with caplog.at_level(logging.INFO, logger="tests.dbworker"):
            w.broken.set()
            wait_for(lambda: w.state == "failing")
            assert w.health()["state"] == "failing" and not w.health()["available"]
            first = w.progress()
            wait_for(lambda: w.progress() > first)  # still running, rounds go on failing
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(errors) == 1 and "a bug in a round" in (errors[0].exc_text or "")
            w.broken.clear()
            w.q.put(7)
            wait_for(lambda: stored(tmp_path / "w.db") == [7])
            wait_for(lambda: w.state == "ok")
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["rows works again"]
        assert w.last_error == "RuntimeError: a bug in a round"
    finally:
        w.stop()


def test_a_failed_write_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = Rows(tmp_path / "w.db")
    with caplog.at_level(logging.INFO, logger="tests.dbworker"):
        for _ in range(3):
            w.write_failed(OSError("disk full"), "cannot write (%s)", "disk full")
        assert w.failing and w.last_error == "disk full"
        assert w.write_ok("writing again") and not w.write_ok("writing again")
    assert [r.getMessage() for r in caplog.records] == ["cannot write (disk full)", "writing again"]


def test_the_alert_consumer_reports_its_health(tmp_path: Path) -> None:
    from appliance.alerts import AlertConsumer, AlertSink

    sink = AlertSink()
    consumer = AlertConsumer(sink, tmp_path / "w.db", poll_s=0.05)
    assert consumer.health()["state"] == "stopped"
    consumer.start()
    try:
        sink.submit(source="box", kind="test", severity="info", title="t", dedupe_key="box:test")
        sink.submit(source="box", kind="test", severity="loud", title="t", dedupe_key="box:bad")
        wait_for(lambda: consumer.stored + consumer.rejected == 2)
        h = consumer.health()
        assert (h["name"], h["state"], h["available"], h["stored"], h["rejected"], h["pending"]) == (
            "alert-consumer", "ok", True, 1, 1, 0)
        assert h["last_good_utc_ns"] is not None
    finally:
        consumer.stop()
