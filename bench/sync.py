"""Sync benchmarks (keys under report["sync"]):

- ``hub_intake_sqlite`` / ``hub_intake_postgresql``: the hub as its own process
  (uvicorn, plain http on loopback), batches of 48 hourly rows from
  ``CLIENTS`` boxes at once, each sending its own seqs in order, one request at
  a time (as a box does). Goal >= 500 batches/s with p99 <= 200 ms.
- ``outbox_90_days``: the sealed bytes and database growth for 90 days of
  hourly batches (goal <= 50 MB).
- ``box_push``: CPU time of one hourly push (seal + send over TLS to a local
  hub) in the box's process.

The bench process and the hub share the machine's cores: on a 2-core box the
client threads take CPU from the hub, so the intake figure is a lower bound.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .stats import summary_ms

ROOT = Path(__file__).resolve().parent.parent
NS = 1_000_000_000
CLIENTS = 16
BATCHES_PER_CLIENT = 60


def _batch_bytes(loan: str, seq: int) -> bytes:
    from sync.schema import Batch, KpiPeriod, canonical_bytes

    t0 = 1_780_000_000 + seq * 48 * 3600
    periods = [KpiPeriod(granularity="hour", start_ts=t0 + h * 3600, end_ts=t0 + (h + 1) * 3600, phase="baseline",
                         planned_s=3600, run_s=3100.5, down_s=499.5, planned_down_s=0, setup_s=0, no_data_s=0,
                         total_count=280, good_count=272, scrap_count=8, micro_stops=3, failures=1,
                         availability=0.861, performance=0.902, quality=0.971, oee=0.754, mtbf_s=3100.5,
                         mttr_s=499.5, energy_per_good_kwh=0.0142) for h in range(48)]
    return canonical_bytes(Batch(loan=loan, seq=seq, programme="pilot-2026", sector="25", size_class="10-49",
                                 consent="kpi", consent_version=1, software_version="0.1.0", boot_id="b",
                                 clock_synced=True, periods=periods))


def _start_hub(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "hub", "serve", "--db", db_url, "--port", str(port),
                             "--max-inflight", "64"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"hub did not start: {log.read_text()[-500:]}")


def _intake(db_url: str, tmp: Path) -> dict[str, Any]:
    import secrets as pysecrets

    from sync.hub.db import Database
    from sync.hub.store import create_token
    from tests.conftest import free_port

    db = Database(db_url)
    tokens = [create_token(db, f"box-{i}") for i in range(CLIENTS)]
    db.close()
    bodies = [[_batch_bytes(loan, s) for s in range(1, BATCHES_PER_CLIENT + 1)]
              for loan in (pysecrets.token_hex(16) for _ in range(CLIENTS))]
    port = free_port()
    proc = _start_hub(db_url, port, tmp / f"hub-{db_url.split(':')[0]}.log")
    lat: list[int] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def box(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[int] = []
        for body in bodies[i]:
            loan, seq = json.loads(body)["loan"], json.loads(body)["seq"]
            while True:
                t = time.perf_counter_ns()
                try:
                    conn.request("POST", "/api/v1/batches", body=body, headers={
                        "Authorization": f"Bearer {tokens[i]}", "Idempotency-Key": f"{loan}:{seq}",
                        "Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except (ConnectionError, http.client.HTTPException):
                    # The server closed an idle keep-alive connection (after a 503 wait): as a box, reconnect.
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        statuses[0] = statuses.get(0, 0) + 1
                    continue
                mine.append(time.perf_counter_ns() - t)
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status != 503:
                    break
                time.sleep(float(r.getheader("Retry-After") or 1))
        with lock:
            lat.extend(mine)

    try:
        threads = [threading.Thread(target=box, args=(i,)) for i in range(CLIENTS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    n = CLIENTS * BATCHES_PER_CLIENT
    return {"batches": n, "rows_per_batch": 48, "clients": CLIENTS, "batches_per_s": round(n / wall, 1),
            "statuses": {("reconnect" if k == 0 else str(k)): v for k, v in sorted(statuses.items())},
            **summary_ms(lat),
            "goal": ">= 500 batches/s, p99 <= 200 ms"}


def _outbox_and_push(tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from appliance.simulator.history import fill_history
    from sync.client import SyncClient
    from sync.hub.db import Database
    from sync.hub.store import create_token
    from sync.outbox import Outbox
    from tests.sync.conftest import Clock, box_config, make_ca

    end = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()) * NS
    cfg = box_config(tmp / "box90", url=None)
    fill_history(cfg, days=90, now_ns=end)
    size_before = cfg.db_path.stat().st_size
    clock = Clock(end - 90 * 86_400 * NS)
    ob = Outbox(cfg, clock=clock)
    ob.set_consent("kpi", version=1, role="coordinator")
    while clock.now < end + 3600 * NS:
        clock.advance(3600)
        ob.seal()
    n, body_bytes = ob.conn.execute("SELECT count(*), sum(length(body)) FROM sync_batches").fetchone()
    ob.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ob.close()
    outbox = {"days": 90, "batches": int(n), "sealed_mb": round(body_bytes / 1e6, 2),
              "db_growth_mb": round((cfg.db_path.stat().st_size - size_before) / 1e6, 2), "goal": "<= 50 MB"}

    # CPU per push: one hourly batch sealed and sent over TLS to a local hub.
    tls = make_ca(tmp / "tls")
    url = f"sqlite:///{tmp / 'push-hub.db'}"
    db = Database(url)
    token = create_token(db, "cel-1")
    db.close()
    from tests.conftest import free_port

    port = free_port()
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    hub = subprocess.Popen([sys.executable, "-m", "appliance.cli", "hub", "serve", "--db", url, "--port", str(port),
                            "--certfile", str(tls["cert"]), "--keyfile", str(tls["key"])], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cfg2 = box_config(tmp / "boxpush", url=f"https://127.0.0.1:{port}", ca_file=tls["ca"])
        fill_history(cfg2, days=8, now_ns=end)
        clock2 = Clock(end - 7 * 86_400 * NS)
        ob2 = Outbox(cfg2, clock=clock2)
        ob2.set_consent("kpi", version=1, role="coordinator")
        client = SyncClient.from_config(ob2, {"sync_token": token})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                http.client.HTTPSConnection("127.0.0.1", port, context=client.transport.ctx, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.2)
        cpu: list[int] = []
        wall: list[int] = []
        while clock2.now < end:
            clock2.advance(3600)
            c0, w0 = time.process_time_ns(), time.perf_counter_ns()
            res = client.push(respect_backoff=False)
            if res.sent:
                cpu.append(time.process_time_ns() - c0)
                wall.append(time.perf_counter_ns() - w0)
        ob2.close()
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    push = {"pushes": len(cpu), "cpu": summary_ms(cpu), "wall": summary_ms(wall),
            "note": "seal one hour + one HTTPS POST (new TLS connection per push)"}
    return outbox, push


def run(report: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="wv-bench-sync-") as d:
        tmp = Path(d)
        report["hub_intake_sqlite"] = _intake(f"sqlite:///{tmp / 'hub.db'}", tmp)
        try:
            from tests.sync.conftest import PgCluster

            cluster = PgCluster()
            try:
                report["hub_intake_postgresql"] = _intake(cluster.new_database(), tmp)
            finally:
                cluster.stop()
        except BaseException as exc:  # pytest.fail (no PostgreSQL) is a BaseException: report it, do not hide
            if isinstance(exc, KeyboardInterrupt):
                raise
            report["hub_intake_postgresql"] = {"error": f"{type(exc).__name__}: {exc}"}
        report["outbox_90_days"], report["box_push"] = _outbox_and_push(tmp)


if __name__ == "__main__":
    out: dict[str, Any] = {}
    run(out)
    print(json.dumps(out, indent=2))
