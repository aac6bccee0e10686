"""A sealed period that a later user entry changes is sent again, and the hub
keeps the newer figures: a reason given a day late, a baseline marked weeks
after the fact. Real outbox, real hub (SQLite and PostgreSQL) over TLS on
loopback."""

from __future__ import annotations

from pathlib import Path

from appliance.kpi.calendar import ShiftCalendar
from appliance.kpi.commands import assign_reason, mark_period
from appliance.kpi.reasons import ReasonTree
from sync.hub.db import Database
from sync.outbox import Outbox

from .conftest import Clock, box_config
from .helpers import (
    DAY,
    HOUR_NS,
    NS,
    T0,
    box_with_history,
    contiguous,
    fill,
    hourly_pushes,
    hub_batches,
)


def hub_periods(db_url: str, granularity: str) -> dict[int, tuple[str, float | None, int]]:
    db = Database(db_url)
    try:
        with db.tx() as c:
            return {int(r[0]): (r[1], r[2], int(r[3])) for r in c.all(
                "SELECT start_ts, phase, availability, seq FROM hub_periods WHERE granularity = ? ORDER BY start_ts",
                [granularity])}
    finally:
        db.close()


def test_a_late_reason_and_a_late_baseline_reach_the_hub(hub_db_url: str, tls: dict[str, Path], hub_factory,
                                                         tmp_path: Path) -> None:
    hub = hub_factory(hub_db_url, tls).start()
    token = hub.cli("token", "create", "cel-1")
    cfg, clock, ob, client = box_with_history(hub.url, token, tmp_path, 3, ca_file=tls["ca"])
    hourly_pushes(client, clock, T0 + 2 * HOUR_NS)
    before_hours = hub_periods(hub_db_url, "hour")
    before_days = hub_periods(hub_db_url, "day")
    n_batches = len(hub_batches(hub_db_url))
    assert before_hours and before_days

    # Nothing changed: another push seals nothing and sends nothing.
    assert client.push().sent == []

    # A day later, the operator gives an unplanned stop of the first day a planned reason:
    # its time leaves planned busy time, so that hour's availability goes up.
    cal = ShiftCalendar(cfg.machine, cfg.box.timezone)
    tree = ReasonTree.from_config(cfg.machine)
    stop_id, stop_start = ob.conn.execute(
        "SELECT id, start_ts FROM kpi_stops WHERE end_ts IS NOT NULL AND start_ts < ? AND reason NOT LIKE 'maintenance%' "
        "AND end_ts - start_ts > 60000000000 ORDER BY start_ts LIMIT 1", [T0 - 2 * DAY]).fetchone()
    assign_reason(ob.conn, stop_id=stop_id, reason="maintenance.preventive", role="operator", calendar=cal, tree=tree)
    # Weeks later, the coordinator marks the first day as the baseline and the rest as the pilot.
    mark_period(ob.conn, kind="baseline", start_ns=T0 - 3 * DAY, end_ns=T0 - 2 * DAY, role="coordinator")
    mark_period(ob.conn, kind="pilot", start_ns=T0 - 2 * DAY, end_ns=T0, role="coordinator")

    clock.advance(3600)
    res = client.push()
    corrections = [b for b in ob.batches() if b.granularity == "correction"]
    assert corrections and all(b.state == "delivered" for b in corrections)
    assert [s.seq for s in res.sent] == [b.seq for b in corrections]

    held = hub_batches(hub_db_url)
    assert contiguous([seq for _, seq, _ in held]) and len(held) > n_batches
    after_hours = hub_periods(hub_db_url, "hour")
    after_days = hub_periods(hub_db_url, "day")
    assert after_hours.keys() == before_hours.keys()  # replaced, not added
    hour = (stop_start - stop_start % HOUR_NS) // NS
    assert after_hours[hour][1] is not None and before_hours[hour][1] is not None
    assert after_hours[hour][1] > before_hours[hour][1]
    assert after_hours[hour][2] == corrections[-1].seq
    def phase(t_s: int) -> str:
        return "baseline" if T0 - 3 * DAY <= t_s * NS < T0 - 2 * DAY else "pilot" if t_s * NS >= T0 - 2 * DAY else "none"

    fixes = {b.seq for b in corrections}
    for before, after in ((before_hours, after_hours), (before_days, after_days)):
        assert all(after[t][0] == phase(t) for t in after)
        for t in after:
            if after[t][0] != before[t][0] or (after is after_hours and t == hour):
                assert after[t][2] in fixes
            elif after is after_hours:  # an hour nothing touched: not re-sent
                assert after[t] == before[t]
    assert any(after_hours[t][0] != before_hours[t][0] for t in after_hours)

    # The corrections are themselves recorded: no second correction without a new entry.
    clock.advance(3600)
    assert client.push().sent == []


def test_an_older_batch_never_overwrites_a_correction_at_the_hub(hub_db_url: str, tls: dict[str, Path],
                                                                 hub_factory, tmp_path: Path) -> None:
    hub = hub_factory(hub_db_url, tls).start()
    token = hub.cli("token", "create", "cel-1")
    cfg, clock, ob, client = box_with_history(hub.url, token, tmp_path, 2, ca_file=tls["ca"])
    hourly_pushes(client, clock, T0 + 2 * HOUR_NS)
    # The local day starts before the UTC one: the pilot covers the whole local day.
    mark_period(ob.conn, kind="pilot", start_ns=T0 - 3 * DAY, end_ns=T0, role="coordinator")
    clock.advance(3600)
    assert client.push().sent
    days = hub_periods(hub_db_url, "day")
    assert days and any(phase == "pilot" for phase, _, _ in days.values())

    # The first batch arrives again (a retry after a lost answer): the hub keeps the newer figures.
    first = ob.batches()[0]
    status = client.transport.post(ob.body(first.loan, first.seq) or b"", {
        "Authorization": f"Bearer {token}", "Idempotency-Key": f"{first.loan}:{first.seq}",
        "Content-Type": "application/json"})[0]
    assert status == 200
    assert hub_periods(hub_db_url, "day") == days


def test_a_box_that_sealed_before_the_upgrade_knows_what_it_sent(tmp_path: Path) -> None:
    import sqlite3

    from sync.outbox import Outbox

    cfg = box_config(tmp_path / "box", url=None)
    fill(cfg, 2)
    clock = Clock(T0 + 2 * HOUR_NS)
    ob = Outbox(cfg, clock=clock)
    ob.set_consent("kpi", version=1, role="coordinator")
    assert ob.seal()
    sent = ob.conn.execute("SELECT granularity, start_ts, sha256, seq FROM sync_sent_periods ORDER BY 1, 2").fetchall()
    assert sent
    ob.close()
    # As the database was before the digests were kept.
    conn = sqlite3.connect(cfg.db_path)
    conn.execute("DROP TABLE sync_sent_periods")
    conn.execute("DELETE FROM _sqlite_migrations WHERE migration_set = 'werkvloer.sync' AND name = 'm002_sent_periods'")
    conn.commit()
    conn.close()
    ob = Outbox(cfg, clock=clock)
    assert ob.conn.execute("SELECT granularity, start_ts, sha256, seq FROM sync_sent_periods "
                           "ORDER BY 1, 2").fetchall() == sent
    assert ob.changed_periods() == []
    ob.close()


def test_only_an_entry_that_can_change_a_figure_makes_the_box_recompute(tmp_path: Path) -> None:
    # The outbox alone (no hub: nothing is sent): a delivery, a consent change or a guard mode
    # change is audited too, but changes no sealed figure, so it must not cost the 62-day recompute.
    from appliance.storage import audit_row

    cfg = box_config(tmp_path / "box", url="https://127.0.0.1:9", ca_file=None)
    fill(cfg, 2)
    clock = Clock(T0 - 2 * DAY)
    ob = Outbox(cfg, clock=clock)
    ob.set_consent("kpi", version=1, role="coordinator")
    clock.advance(2 * DAY // NS)
    assert ob.seal()  # the history, sealed
    seen = ob.get_state("corrections_audit_id")
    assert seen is not None

    with ob.tx() as c:
        audit_row(c, role="maintenance", action="guard.set_mode", target="guard", detail={"to": "armed"})
    ob.set_consent("kpi", version=2, role="coordinator")  # audited as sync.consent
    clock.advance(3600)
    ob.seal()
    assert ob.get_state("corrections_audit_id") == seen  # no recompute for them

    mark_period(ob.conn, kind="baseline", start_ns=T0 - 2 * DAY, end_ns=T0 - DAY, role="coordinator")
    clock.advance(3600)
    sealed = ob.seal()
    assert ob.get_state("corrections_audit_id") != seen  # a KPI entry: recomputed
    assert any(s.granularity == "correction" for s in sealed), sealed
