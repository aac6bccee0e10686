"""Box-side helpers for the sync tests (real outbox, real client, real hub)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sync.client import SyncClient
from sync.hub.db import Database
from sync.outbox import HOUR_NS, NS, Outbox

from .conftest import Clock, box_config

# A Monday, 00:00 UTC: the simulated history ends here.
T0 = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()) * NS
DAY = 86_400 * NS


def fill(cfg: Any, days: int, *, end_ns: int = T0, pilot_from_day: int | None = None) -> dict[str, int]:
    from appliance.simulator.history import fill_history

    return fill_history(cfg, days=days, now_ns=end_ns, pilot_from_day=pilot_from_day)


def box_with_history(url: str, token: str, tmp_path: Path, days: int, *,
                     ca_file: Path) -> tuple[Any, Clock, Outbox, SyncClient]:
    """A box that sends to the hub at ``url`` with ``token``, with ``days`` of simulated closed KPI periods
    up to ``T0`` and its clock at the start of that history: (config, clock, outbox, client)."""
    cfg = box_config(tmp_path / "box", url=url, ca_file=ca_file)
    fill(cfg, days)
    clock = Clock(T0 - days * DAY)
    ob, client = make_box(cfg, token, clock)
    return cfg, clock, ob, client


def make_box(cfg: Any, token: str, clock: Clock, *, consent: str = "kpi") -> tuple[Outbox, SyncClient]:
    ob = Outbox(cfg, clock=clock)
    if consent != "off":
        ob.set_consent(consent, version=1, role="coordinator")
    client = SyncClient.from_config(ob, {"sync_token": token})
    return ob, client


def hub_batches(db_url: str) -> list[tuple[str, int, str]]:
    db = Database(db_url)
    try:
        with db.tx() as c:
            return [(r[0], int(r[1]), r[2]) for r in c.all("SELECT loan, seq, sha256 FROM hub_batches ORDER BY loan, seq")]
    finally:
        db.close()


def hub_hours(db_url: str) -> list[tuple[int, float]]:
    db = Database(db_url)
    try:
        with db.tx() as c:
            return [(int(r[0]), float(r[1])) for r in c.all(
                "SELECT start_ts, good_count FROM hub_periods WHERE granularity = 'hour' ORDER BY start_ts")]
    finally:
        db.close()


def box_hours(ob: Outbox, start_ns: int, end_ns: int) -> list[tuple[int, float]]:
    from appliance.kpi.queries import period_rows

    return [(r.start_ts // NS, r.gq) for r in
            period_rows(ob.conn, calendar=ob.calendar, start_ns=start_ns, end_ns=end_ns, granularity="hour")]


def hourly_pushes(client: SyncClient, clock: Clock, until_ns: int, *, respect_backoff: bool = False) -> list[Any]:
    """The timer: every simulated hour, seal and send (until the clock passes ``until_ns``)."""
    results = []
    while clock.now < until_ns:
        clock.advance(3600)
        results.append(client.push(respect_backoff=respect_backoff))
    return results


def contiguous(seqs: list[int]) -> bool:
    return seqs == list(range(1, len(seqs) + 1))


def outbox_states(ob: Outbox) -> dict[str, int]:
    return dict(ob.conn.execute("SELECT state, count(*) FROM sync_batches GROUP BY state").fetchall())


__all__ = ["T0", "DAY", "HOUR_NS", "NS", "Path", "fill", "make_box", "hub_batches", "hub_hours", "box_hours",
           "hourly_pushes", "contiguous", "outbox_states"]
