"""kill -9 while writing at full rate: the database stays intact and at most
the last unflushed batch is missing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from appliance.storage import count_samples
from tests.conftest import PY, ROOT


def test_kill_9_twenty_times_keeps_the_database_intact(tmp_path: Path, cli_env: dict[str, str]) -> None:
    db = tmp_path / "box.db"
    committed_total = 0
    for round_ in range(20):
        proc = subprocess.Popen([PY, "-m", "tests.appliance.crash_writer", str(db)],
                                stdout=subprocess.PIPE, text=True, env=cli_env, cwd=ROOT)
        assert proc.stdout is not None
        seen = 0
        reported = 0
        for line in proc.stdout:  # wait for a few committed batches, then kill mid-write
            reported = int(line.split()[1])
            seen += 1
            if seen >= 2 + round_ % 3:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = count_samples(conn)
        # Everything reported as committed (this run and before) is there.
        assert rows >= committed_total + reported, f"round {round_}: lost committed samples"
        committed_total = rows
    assert committed_total > 0
