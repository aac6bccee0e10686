"""The hub's API rules (idempotency-key draft, tokens, overload) on SQLite and
PostgreSQL, and the box's answer to a refused batch (quarantine, alert, the
later batches still flow, `sync push` exits non-zero)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sync.hub import store
from sync.hub.app import create_app
from sync.hub.db import Database
from sync.schema import Batch, KpiPeriod, canonical_bytes, parse_batch
from tests.conftest import ROOT

from .conftest import _env, box_config, write_box_toml
from .helpers import hub_batches

LOAN = "0123456789abcdef0123456789abcdef"


def batch(seq: int, *, loan: str = LOAN, good: float = 100.0) -> bytes:
    p = KpiPeriod(granularity="hour", start_ts=1_780_000_000 + 3600 * seq, end_ts=1_780_003_600 + 3600 * seq,
                  phase="baseline", planned_s=3600, run_s=3000, down_s=600, planned_down_s=0, setup_s=0,
                  no_data_s=0, total_count=good + 2, good_count=good, scrap_count=2, micro_stops=1, failures=1,
                  availability=0.83, performance=0.9, quality=0.98, oee=0.73)
    return canonical_bytes(Batch(loan=loan, seq=seq, programme="pilot-2026", sector="25", size_class="10-49",
                                 consent="kpi", consent_version=1, software_version="0.1.0", boot_id="abc-1",
                                 clock_synced=True, periods=[p]))


@pytest.fixture
def hub(hub_db_url: str) -> Any:
    db = Database(hub_db_url, acquire_timeout_s=0.2)
    client = TestClient(create_app(db))
    client.db = db  # type: ignore[attr-defined]
    client.token = store.create_token(db, "cel-1")  # type: ignore[attr-defined]
    yield client
    db.close()


def post(hub: Any, body: bytes, *, key: str | None = None, token: str | None = "default") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {hub.token if token == 'default' else token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return hub.post("/api/v1/batches", content=body, headers=headers)


def test_idempotency_key_semantics(hub: Any) -> None:
    first = post(hub, batch(1), key=f"{LOAN}:1")
    assert first.status_code == 200 and first.json() == {"loan": LOAN, "seq": 1, "stored": True,
                                                          "highest_contiguous_seq": 1}
    again = post(hub, batch(1), key=f"{LOAN}:1")
    assert again.status_code == 200 and again.json() == first.json()  # the original answer
    other = post(hub, batch(1, good=99), key=f"{LOAN}:1")
    assert other.status_code == 422 and "different body" in other.json()["detail"]
    # A request with this key still in progress (its process is working on it): 409, then taken over once stale.
    with hub.db.tx() as c:
        c.execute("INSERT INTO hub_idem(box, key, body_sha, state, ts) VALUES (?, ?, ?, 'in_progress', ?)",
                  ["cel-1", f"{LOAN}:2", __import__("hashlib").sha256(batch(2)).hexdigest(), time.time_ns()])
    busy = post(hub, batch(2), key=f"{LOAN}:2")
    assert busy.status_code == 409 and busy.headers["Retry-After"]
    with hub.db.tx() as c:
        c.execute("UPDATE hub_idem SET ts = ? WHERE key = ?", [time.time_ns() - 60 * 10**9, f"{LOAN}:2"])
    assert post(hub, batch(2), key=f"{LOAN}:2").json()["highest_contiguous_seq"] == 2
    assert [s for _, s, _ in hub_batches(hub.db.url)] == [1, 2]


def test_highest_contiguous_seq_waits_for_the_gap(hub: Any) -> None:
    assert post(hub, batch(1), key=f"{LOAN}:1").json()["highest_contiguous_seq"] == 1
    assert post(hub, batch(3), key=f"{LOAN}:3").json()["highest_contiguous_seq"] == 1
    assert post(hub, batch(2), key=f"{LOAN}:2").json()["highest_contiguous_seq"] == 3


@pytest.mark.parametrize("case", ["no-token", "bad-token", "revoked", "no-key", "key-mismatch", "extra-field",
                                  "not-json", "too-large", "other-box"])
def test_bad_requests_get_a_clear_4xx_and_change_nothing(hub: Any, case: str) -> None:
    body, key, token = batch(1), f"{LOAN}:1", "default"
    expect = 422
    if case == "no-token":
        token, expect = None, 401
    elif case == "bad-token":
        token, expect = "wvh_nope", 401
    elif case == "revoked":
        store.revoke_token(hub.db, "cel-1")
        expect = 401
    elif case == "no-key":
        key, expect = None, 400
    elif case == "key-mismatch":
        key = f"{LOAN}:7"
    elif case == "extra-field":
        d = json.loads(body)
        d["company_name"] = "Jansen BV"
        body = json.dumps(d).encode()
    elif case == "not-json":
        body = b"{not json"
    elif case == "too-large":
        body, expect = b" " * (store.MAX_BODY + 1), 413
    elif case == "other-box":
        assert post(hub, batch(1), key=key).status_code == 200
        token, body, key, expect = store.create_token(hub.db, "cel-2"), batch(2), f"{LOAN}:2", 403
    before = hub_batches(hub.db.url)
    r = post(hub, body, key=key, token=token)
    assert r.status_code == expect, r.text
    assert r.json()["detail"]
    assert hub_batches(hub.db.url) == before


def test_overload_is_503_with_retry_after_and_loses_nothing(hub: Any) -> None:
    with hub.db.tx():  # every database connection busy
        held = {"sqlite": 1, "postgresql": 4}[hub.db.kind]
        extra = [hub.db._pool.get() for _ in range(held - 1)]
        r = post(hub, batch(1), key=f"{LOAN}:1")
        for conn in extra:
            hub.db._pool.put(conn)
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert hub_batches(hub.db.url) == []
    assert post(hub, batch(1), key=f"{LOAN}:1").status_code == 200  # the retry is stored


def test_schema_is_strict_on_both_sides() -> None:
    d = json.loads(batch(1))
    with pytest.raises(ValidationError):
        parse_batch(json.dumps({**d, "box_name": "x"}).encode())
    d["periods"][0]["comment"] = "x"
    with pytest.raises(ValidationError):
        parse_batch(json.dumps(d).encode())
    b = parse_batch(batch(1))
    with pytest.raises(ValidationError):
        b.seq = 5  # type: ignore[misc]
    assert canonical_bytes(b) == batch(1)


def test_refused_batch_is_quarantined_and_later_ones_flow(hub_factory, tmp_path: Path) -> None:
    """A batch the hub can never take (here: its bytes were damaged on the box) is
    quarantined with an alert; the next batches are delivered; `sync push` exits 1."""
    import sqlite3

    from appliance.alerts import AlertStore, detail_in
    from sync.outbox import Outbox

    from .helpers import fill

    hub = hub_factory(f"sqlite:///{tmp_path / 'hub.db'}").start()
    token = hub.cli("token", "create", "cel-1")
    cfg = box_config(tmp_path / "box", url=hub.url)
    cfg_file = write_box_toml(tmp_path / "box.toml", cfg)
    fill(cfg, 5, end_ns=time.time_ns())
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'sync_token = "{token}"\n')
    os.chmod(secrets, 0o600)
    env = {**_env(), "WERKVLOER_SECRETS": str(secrets)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance.cli", "sync", *args, "--config", str(cfg_file)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert cli("push").stdout.startswith("sync is off")
    refused = cli("consent", "kpi")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cli("consent", "kpi", "--yes").returncode == 0
    with Outbox(cfg) as ob:
        assert len(ob.seal()) >= 3
    conn = sqlite3.connect(cfg.db_path)
    with conn:
        conn.execute("UPDATE sync_batches SET body = CAST(replace(CAST(body AS TEXT), '\"programme\"', "
                     "'\"programmee\"') AS BLOB) WHERE seq = 2")
    conn.close()
    preview = cli("preview")
    assert preview.returncode == 0 and '"seq": 1' in preview.stdout and "sha256" in preview.stderr
    pushed = cli("push")
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert "seq 2: quarantined (HTTP 422)" in pushed.stdout
    assert "seq 3: delivered" in pushed.stdout
    status = cli("status").stdout
    assert "1 quarantined" in status and "quarantined: seq 2 (HTTP 422)" in status
    with Outbox(cfg) as ob:
        (q,) = AlertStore(ob.conn).list(source="sync")
        assert q.kind == "sync.quarantine"
        detail = detail_in(q.detail, "nl")  # the sentence in both languages, the hub's own error apart
        assert detail.text.startswith("De box bewaart deze batch apart") and detail.error and not detail.plain
        assert detail_in(q.detail, "en").text.startswith("The box keeps this batch aside")
    assert 2 not in [s for _, s, _ in hub_batches(hub.db_url)]
    assert cli("push").returncode == 0  # quarantined is not retried forever
    assert "not due" in cli("push", "--if-due").stdout  # the timer's run keeps [sync] interval_min
