"""The recorder thread: batches, bad values, retention, a full disk."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.bus import Bus
from appliance.database import open_box_db
from appliance.recorder import NS_PER_DAY, Recorder
from appliance.storage import read_samples
from drivers.samples import Quality, Sample
from tests.conftest import wait_for


def rows(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def test_samples_are_written_in_batches(tmp_path: Path) -> None:
    bus = Bus()
    db = tmp_path / "box.db"
    with Recorder(db, bus.subscribe_queue("rec"), batch_interval_s=0.05) as rec:
        for i in range(1000):
            bus.publish(Sample("spindle_speed", float(i)))
        bus.publish(Sample("product", "flens_a"))
        wait_for(lambda: rec.written >= 1001)
    with sqlite3.connect(db) as conn:
        ts, values, quality = read_samples(conn, "spindle_speed", 0, time.time_ns() + 1)
    assert values.tolist() == [float(i) for i in range(1000)]  # in order, none lost
    assert (quality == Quality.GOOD).all() and (ts > 0).all()
    assert rows(db, "SELECT sum(n) FROM sample_chunks")[0][0] == 1000
    assert rows(db, "SELECT text FROM text_samples") == [("flens_a",)]


def test_nan_and_inf_are_kept_as_bad_quality(tmp_path: Path) -> None:
    bus = Bus()
    db = tmp_path / "box.db"
    with Recorder(db, bus.subscribe_queue("rec"), batch_interval_s=0.05) as rec:
        bus.publish(Sample("temperature", math.nan))
        bus.publish(Sample("temperature", math.inf))
        bus.publish(Sample("temperature", 21.5))
        wait_for(lambda: rec.written >= 3)
    with sqlite3.connect(db) as conn:
        _, values, quality = read_samples(conn, "temperature", 0, time.time_ns() + 1)
    assert np.isnan(values[0]) and np.isinf(values[1]) and values[2] == 21.5
    assert quality.tolist() == [Quality.BAD, Quality.BAD, Quality.GOOD]


def test_vibration_blocks_round_trip(tmp_path: Path) -> None:
    bus = Bus()
    db = tmp_path / "box.db"
    block = np.linspace(-1, 1, 100, dtype=np.float32)
    with Recorder(db, bus.subscribe_queue("rec"), batch_interval_s=0.05) as rec:
        bus.publish(Sample("vibration", float(np.sqrt(np.mean(block ** 2))), block=block, seq=4242))
        wait_for(lambda: rec.written >= 1)
    (seq, data), = rows(db, "SELECT seq, data FROM blocks")
    assert seq == 4242
    assert np.array_equal(np.frombuffer(data, dtype="<f4"), block)


def test_retention_deletes_old_raw_samples_only(tmp_path: Path) -> None:
    bus = Bus()
    db_path = tmp_path / "box.db"
    now = time.time_ns()
    with Recorder(db_path, bus.subscribe_queue("rec"), batch_interval_s=0.05, retention_days=14) as rec:
        bus.publish(Sample("x", 1.0, utc_ns=now - 15 * NS_PER_DAY))
        wait_for(lambda: rec.written >= 1)  # one batch (chunk) each
        bus.publish(Sample("x", 2.0, utc_ns=now - 13 * NS_PER_DAY))
        wait_for(lambda: rec.written >= 2)
        db = open_box_db(db_path)
        with db.conn:
            db.execute("INSERT INTO audit(ts, role, action) VALUES (?, 'admin', 'old entry')", [now - 400 * NS_PER_DAY])
        deleted = rec.prune(now)
    assert deleted == 1
    with sqlite3.connect(db_path) as conn:
        assert read_samples(conn, "x", 0, now)[1].tolist() == [2.0]
    assert rows(db_path, "SELECT action FROM audit") == [("old entry",)]


def test_full_disk_logs_once_keeps_samples_and_resumes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SQLITE_FULL through max_page_count: the same error path as a full partition."""
    bus = Bus()
    db_path = tmp_path / "box.db"
    queue = bus.subscribe_queue("rec")
    rec = Recorder(db_path, queue, batch_interval_s=0.02)
    rec.start()
    try:
        bus.publish(Sample("x", 0.0))
        wait_for(lambda: rec.written >= 1)
        size_mb = db_path.stat().st_size / 2**20
        rec.set_size_limit(size_mb + 0.02)  # a few pages left
        with caplog.at_level(logging.ERROR, logger="appliance.recorder"):
            for i in range(1, 20001):
                bus.publish(Sample("x", float(i)))
            wait_for(lambda: rec.health()["state"] == "failing")
            for i in range(20001, 40001):
                bus.publish(Sample("x", float(i)))
            wait_for(lambda: len(queue) == 0)  # drained into the pending buffer
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "Free disk space" in errors[0].getMessage()
        rec.set_size_limit(None)  # space returns
        wait_for(lambda: rec.health()["state"] == "ok" and rec.written >= 40001)
    finally:
        rec.stop()
    with sqlite3.connect(db_path) as conn:
        values = read_samples(conn, "x", 0, time.time_ns() + 1)[1]
    assert sorted(values.tolist()) == [float(i) for i in range(40001)]  # nothing lost, nothing doubled
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
