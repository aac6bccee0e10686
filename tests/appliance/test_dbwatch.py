"""A failing SQLite writer is one alert (appliance/dbwatch.py), on real SQLite
files: a full filesystem (a 2 MB tmpfs, root only; CI is root) and a locked
database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerts import AlertConsumer, AlertSink
from appliance.bus import Bus
from appliance.database import open_box_db
from appliance.dbwatch import DbWriteWatch
from appliance.guard.store import GuardWriter, SettingRecord
from appliance.parts import stack_light_state
from appliance.recorder import Recorder
from appliance.storage import count_samples
from drivers.samples import Sample
from tests.conftest import wait_for


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a size-limited tmpfs needs root (CI runs as root)")
    d = tmp_path / "fs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(d: Path) -> Path:
    """Fill the filesystem to the last byte."""
    filler = d / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _alerts(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT dedupe_key, severity, title FROM alerts ORDER BY id").fetchall()


def test_a_full_disk_is_one_alert_kept_until_it_can_be_stored(small_fs: Path) -> None:
    db = small_fs / "box.db"
    open_box_db(db).conn.close()
    bus, sink = Bus(), AlertSink()
    with Recorder(db, bus.subscribe_queue("rec"), batch_interval_s=0.05) as rec, \
            AlertConsumer(sink, db, poll_s=0.05) as consumer:
        watch = DbWriteWatch(sink, {"recorder": rec.health, "alert-consumer": consumer.health})
        bus.publish(Sample("spindle_speed", 1.0))
        wait_for(lambda: rec.written >= 1, what="the first sample stored")
        watch.check()
        assert sink.submitted == 0 and watch.failing() == {}

        filler = _fill(small_fs)
        for i in range(2000):
            bus.publish(Sample(f"signal_{i % 50}", float(i)))
        wait_for(lambda: rec.health()["state"] == "failing", what="the recorder failing on the full disk")
        watch.check()
        assert sink.submitted == 1  # the recorder's alert, for the consumer to store
        wait_for(lambda: consumer.health()["state"] == "failing", what="the alert consumer failing too")
        watch.check()
        for _ in range(5):  # still failing: no new alert, no loop
            watch.check()
        assert sink.submitted == 2
        assert set(watch.failing()) == {"recorder", "alert-consumer"}
        assert "full" in watch.failing()["recorder"]
        assert consumer.health()["pending"] == 2  # kept, not dropped
        assert consumer.stored == 0

        filler.unlink()  # space again: what was kept is stored
        wait_for(lambda: consumer.stored == 2, what="the two kept alerts stored")
        wait_for(lambda: rec.health()["state"] == "ok", what="the recorder writing again")
        watch.check()
        assert watch.failing() == {}
        wait_for(lambda: consumer.stored == 4, what="the two info alerts stored")
        watch.check()
        assert sink.submitted == 4
    rows = _alerts(db)
    assert [(k, s) for k, s, _ in rows[:2]] == [("box:db_write:recorder", "critical"),
                                                ("box:db_write:alert-consumer", "critical")]
    assert sorted((k, s) for k, s, _ in rows[2:]) == [("box:db_write:alert-consumer:back", "info"),
                                                      ("box:db_write:recorder:back", "info")]
    title = json.loads(rows[0][2])
    assert "schijf vol" in title["nl"] and "Maak ruimte vrij" in title["nl"]
    assert "disk full" in title["en"] and "Free space" in title["en"] and "is kept" in title["en"]
    assert count_samples(sqlite3.connect(db)) == 2001  # nothing published while full was lost


def test_a_locked_database_is_one_alert_that_says_so(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    open_box_db(db).conn.close()
    sink = AlertSink()
    writer = GuardWriter(db)
    writer.start()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        watch = DbWriteWatch(sink, {"guard-writer": writer.health})
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
        writer.put(SettingRecord("guard.mode", "shadow"))
        wait_for(lambda: writer.health()["state"] == "failing", what="the guard writer failing on the lock")
        watch.check()
        watch.check()
        assert sink.submitted == 1
        (item,) = sink.drain()
        assert item["dedupe_key"] == "box:db_write:guard-writer" and item["evidence"]["cause"] == "locked"
        assert "bezet" in item["title"]["nl"] and "locked" in item["title"]["en"]
        holder.execute("ROLLBACK")
        assert writer.flush(15.0)
        watch.check()
        (back,) = sink.drain()
        assert back["severity"] == "info" and back["dedupe_key"] == "box:db_write:guard-writer:back"
    finally:
        holder.close()
        writer.stop()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT value FROM settings WHERE key = 'guard.mode'").fetchone() == ("shadow",)



@pytest.mark.parametrize(("error", "cause"), [
    ("database or disk is full", "disk_full"), ("attempt to write a readonly database", "read_only"),
    ("database is locked", "locked"), ("disk I/O error", "error")])
def test_the_title_names_what_to_do_for_sqlites_error(error: str, cause: str) -> None:
    """The texts sqlite3 gives (a read-only mount cannot be made under a writer
    that holds the file open, so this one is not produced for real here)."""
    sink = AlertSink()
    DbWriteWatch(sink, {"recorder": lambda: {"state": "failing", "last_error": error}}).check()
    (item,) = sink.drain()
    assert item["evidence"]["cause"] == cause and item["title"]["nl"] and item["title"]["en"]


def test_a_failing_write_turns_the_stack_light_to_attention() -> None:
    """The alert may not be stored yet, so the light does not wait for the alert count."""
    assert stack_light_state(tripped=False, open_alerts=0, running=True) == "running"
    assert stack_light_state(tripped=False, open_alerts=0, running=True, attention=True) == "attention"
    assert stack_light_state(tripped=True, open_alerts=0, running=False, attention=True) == "stopped"
