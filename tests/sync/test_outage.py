"""A 30-day outage with the clock injected: the hub not running (connection
refused), a hub that accepts but never answers (timeouts), the hub killed
with SIGKILL mid-batch and restarted, and the box's sync process killed with
SIGKILL every 6 simulated hours. Afterwards: 0 lost, 0 duplicated, seq
contiguous, the outbox bound held. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
from pathlib import Path

import pytest

from sync.client import SyncClient, Transport
from sync.outbox import Outbox

from .conftest import Clock, box_config
from .helpers import (
    DAY,
    HOUR_NS,
    T0,
    box_hours,
    contiguous,
    fill,
    hub_batches,
    hub_hours,
    make_box,
    outbox_states,
)

DAYS = 30


def _killed_sync_run(cfg: object, token: str, now_ns: int, rng: random.Random) -> None:
    """The box's sync as its own process (forked: no import time), SIGKILLed at a
    random moment after it opened the outbox (mid-seal or mid-send), or finished by then."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a sync run with its own connection
        code = 1
        try:
            os.close(r)
            with Outbox(cfg, clock=lambda: now_ns) as ob:  # type: ignore[arg-type]
                os.write(w, b"r")
                SyncClient.from_config(ob, {"sync_token": token}).push(respect_backoff=False)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    threading.Event().wait(rng.uniform(0.0, 0.03))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.slow
def test_thirty_day_outage_loses_and_doubles_nothing(hub_db_url: str, tls: dict[str, Path], hub_factory,
                                                     tmp_path: Path) -> None:
    rng = random.Random(10)
    # The box's clock is simulated (its shortest backoff, 30 s, passes at once), the
    # hub's is real: compress the hub's takeover of a request that died with a killed
    # hub the same way, or the box's retries meet 409s for 30 real seconds.
    hub = hub_factory(hub_db_url, tls, "--stale-after-s", "0.1").start()
    token = hub.cli("token", "create", "cel-1")
    cfg = box_config(tmp_path / "box", url=hub.url, ca_file=tls["ca"])
    fill(cfg, DAYS)
    clock = Clock(T0 - DAYS * DAY)
    ob, client = make_box(cfg, token, clock)
    real = client.transport
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # accepts connections in the kernel, never answers
    hole = Transport(f"https://127.0.0.1:{blackhole.getsockname()[1]}", ca_file=str(tls["ca"]), timeout_s=0.2)

    max_undelivered = 0
    hour = 0
    outcomes: set[str] = set()
    while clock.now < T0 + 12 * HOUR_NS:
        clock.advance(3600)
        hour += 1
        day = hour / 24
        if hour == 2 * 24:
            hub.kill()  # days 2..9: connection refused
        if hour == 9 * 24:
            client.transport = hole  # days 9..10: timeouts
        if hour == 10 * 24:
            client.transport = real
            hub.start()
        if hour % 6 == 0:
            _killed_sync_run(cfg, token, clock.now, rng)
        if day >= 10 and hour % 72 == 12:
            # Kill the hub while the box is sending (mid-batch), then restart it.
            t = threading.Thread(target=lambda: outcomes.update(s.outcome for s in client.push().sent))
            t.start()
            threading.Event().wait(rng.uniform(0.0, 0.05))
            hub.kill()
            t.join()
            hub.start()
            continue
        res = client.push(respect_backoff=True)
        outcomes.update(s.outcome for s in res.sent)
        max_undelivered = max(max_undelivered, ob.undelivered_bytes())

    # The outage is over: the timer keeps running until the box has caught up.
    for _ in range(48):
        if not ob.batches(state="pending"):
            break
        clock.advance(6 * 3600)
        client.push(respect_backoff=True)
    blackhole.close()

    assert {"retry", "delivered"} <= outcomes
    states = outbox_states(ob)
    assert states == {"delivered": states["delivered"]}, states
    box_seqs = [b.seq for b in ob.batches()]
    assert contiguous(box_seqs)
    held = hub_batches(hub_db_url)
    assert [seq for _, seq, _ in held] == box_seqs  # none lost, none doubled
    assert [sha for _, _, sha in held] == [b.sha256 for b in ob.batches()]
    assert hub_hours(hub_db_url) == box_hours(ob, T0 - DAYS * DAY, T0)
    assert max_undelivered <= cfg.sync.outbox_limit_mb * 1024 * 1024


def test_bound_seals_day_batches_and_drops_nothing(tmp_path: Path, hub_factory) -> None:
    """With the hub away and a small bound: hourly batches until the bound,
    then one batch per day and an alert; nothing sealed is dropped and all of it
    arrives once the hub is back."""
    from appliance.alerts import AlertStore, detail_in

    hub = hub_factory(f"sqlite:///{tmp_path / 'hub.db'}")
    token = hub.cli("token", "create", "cel-1")
    cfg = box_config(tmp_path / "box", url=hub.url, limit_mb=0.1)
    fill(cfg, 20)
    clock = Clock(T0 - 20 * DAY)
    ob, client = make_box(cfg, token, clock)
    while clock.now < T0 + 2 * HOUR_NS:
        clock.advance(3600)
        client.push(respect_backoff=False)  # refused: nobody listens yet
    grans = [b.granularity for b in ob.batches()]
    assert grans[0] == "hour" and grans[-1] == "day"
    assert "hour" not in grans[grans.index("day"):]
    assert len(ob.batches(state="pending")) == len(grans)
    (full,) = [a for a in AlertStore(ob.conn).list(source="sync") if a.kind == "sync.outbox_full"]
    assert detail_in(full.detail, "nl").text.startswith("Er gaat niets verloren")
    assert detail_in(full.detail, "en").text.startswith("Nothing is lost")
    hub.start()
    client.push(respect_backoff=False)
    held = hub_batches(hub.db_url)
    assert [s for _, s, _ in held] == list(range(1, len(grans) + 1))
    # Every planned day's good count arrived (in hours before the bound, in day rows after it).
    assert sum(g for _, g in hub_hours(hub.db_url)) > 0
