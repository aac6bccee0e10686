"""``werkvloer simulate history --config FILE --days N [--pilot-from-day K]``.

Fills the box's store with N days of simulated, closed KPI periods (minute,
hour, shift and day rows through the KPI store's additive writer), stops with
reasons (some left without one, for the operator to fill in), micro-stops and
guard alerts (some labelled true or false alarm). The coordinator's baseline
period covers the days before K and the pilot period the days from K on; in
the pilot the machine stops less often and runs closer to its ideal cycle.

It writes the N days ending at the start of the current hour and refuses to
run over minutes that already hold KPI data (nothing is doubled). Seeded:
the same arguments give the same history.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from appliance.config import BoxConfig, load_config
from appliance.database import open_box_db
from appliance.kpi.buckets import apply_delta
from appliance.kpi.calendar import MINUTE_NS, NS, ShiftCalendar
from appliance.kpi.commands import mark_period
from appliance.kpi.reasons import ReasonTree
from appliance.kpi.schema import HOUR_NS
from appliance.storage import write_tx

DAY_NS = 86_400 * NS


def fill_history(cfg: BoxConfig, *, days: int, pilot_from_day: int | None = None, seed: int = 2026,
                 now_ns: int | None = None, db_path: str | Path | None = None) -> dict[str, int]:
    """Write the history; returns counts (minutes, stops, alerts)."""
    from appliance.alerts import AlertStore

    if days < 1 or days > 400:
        raise ValueError("--days must be between 1 and 400")
    if pilot_from_day is not None and not 0 < pilot_from_day < days:
        raise ValueError(f"--pilot-from-day must lie between 1 and {days - 1}")
    now = now_ns or time.time_ns()
    end = now - now % HOUR_NS
    start = end - days * DAY_NS
    start -= start % MINUTE_NS
    pilot_ns = start + pilot_from_day * DAY_NS if pilot_from_day else None
    cal = ShiftCalendar(cfg.machine, cfg.box.timezone)
    tree = ReasonTree.from_config(cfg.machine)
    m = cfg.machine
    cycle = m.products[0].ideal_cycle_s if m.products else m.ideal_cycle_s
    unplanned = [c for c in tree.codes() if not tree.get(c).planned and not tree.get(c).setup]
    setups = [c for c in tree.codes() if tree.get(c).setup]
    rng = random.Random(seed)
    db = open_box_db(db_path or cfg.db_path)
    alerts = AlertStore(db)
    n_min = n_stops = n_alerts = 0
    if db.execute("SELECT count(*) FROM kpi_minute WHERE ts >= ? AND ts < ?", [start, end]).fetchone()[0]:
        raise ValueError("the store already holds KPI data in these days; use a fresh data directory "
                         "(nothing was written)")
    trips: list[tuple[int, bool]] = []
    with write_tx(db) as conn:
        stop_left = 0  # minutes left of the current stop
        stop: dict[str, object] | None = None
        t = start
        while t < end:
            planned, inst = cal.minute_info(t)
            if not planned:
                t += MINUTE_NS
                continue
            pilot = pilot_ns is not None and t >= pilot_ns
            day = cal.day_key(t)
            delta: dict[str, float]
            if stop_left == 0 and rng.random() < (0.006 if pilot else 0.011):
                code = rng.choice(setups) if rng.random() < 0.25 else rng.choice(unplanned)
                stop_left = rng.randint(4, 25 if pilot else 45)
                reason: str | None = code if rng.random() < 0.9 else None
                info = tree.find(reason)
                state = "setup" if info and info.setup else "down"
                cur = conn.execute(
                    "INSERT INTO kpi_stops(start_ts, end_ts, dur_s, state, micro, sched, day, shift_key, reason, "
                    "planned, reason_role, reason_ts) VALUES (?, ?, ?, 'down', 0, 1, ?, ?, ?, 0, ?, ?)",
                    [t, t + stop_left * MINUTE_NS, stop_left * 60.0, day, inst.key if inst else None, reason,
                     "operator" if reason else None, t + stop_left * MINUTE_NS if reason else None])
                stop = {"id": cur.lastrowid, "col": "setup_s" if state == "setup" else "down_s"}
                conn.execute("INSERT INTO kpi_state(start_ts, end_ts, dur_s, state, stop_id) VALUES (?, ?, ?, 'down', ?)",
                             [t, t + stop_left * MINUTE_NS, stop_left * 60.0, stop["id"]])
                n_stops += 1
                if rng.random() < 0.3:
                    trips.append((t, rng.random() < 0.7))
            if stop_left > 0 and stop is not None:
                delta = {str(stop["col"]): 60.0}
                stop_left -= 1
            else:
                micro = rng.random() < (0.02 if pilot else 0.04)
                micro_s = rng.uniform(10, 50) if micro else 0.0
                run = 60.0 - micro_s
                speed = rng.uniform(0.86, 0.96) if pilot else rng.uniform(0.78, 0.9)
                pq = float(int(run / cycle * speed + rng.random()))
                sq = float(sum(rng.random() < (0.015 if pilot else 0.03) for _ in range(int(pq))))
                delta = {"run_s": run, "down_s": micro_s, "micro_n": 1.0 if micro else 0.0, "micro_s": micro_s,
                         "pq": pq, "gq": pq - sq, "sq": sq, "ideal_s": pq * cycle, "energy_kwh": run / 3600 * 4.5}
                if micro:
                    conn.execute("INSERT INTO kpi_stops(start_ts, end_ts, dur_s, state, micro, sched, day, shift_key, "
                                 "planned) VALUES (?, ?, ?, 'down', 1, 1, ?, ?, 0)",
                                 [t, t + int(micro_s * NS), micro_s, day, inst.key if inst else None])
            apply_delta(conn, t, delta, sched=True, shift=inst, day=day)
            n_min += 1
            t += MINUTE_NS
    if pilot_ns is not None:
        mark_period(db, kind="baseline", start_ns=start, end_ns=pilot_ns, role="coordinator", note="simulated history")
        mark_period(db, kind="pilot", start_ns=pilot_ns, end_ns=end, role="coordinator", note="simulated history")
    else:
        mark_period(db, kind="baseline", start_ns=start, end_ns=end, role="coordinator", note="simulated history")
    names = [r.name for r in cfg.guard.rules] or ["simulated_rule"]
    for ts, true_alarm in trips:
        name = rng.choice(names)
        aid = alerts.raise_alert(source="guard", kind="guard.trip", severity="warning", ts_ns=ts,
                                 title={"nl": f"Regel {name} sloeg aan", "en": f"Rule {name} tripped"},
                                 dedupe_key=f"guard.trip.{name}")
        n_alerts += 1
        alerts.acknowledge(aid, role="maintenance")
        alerts.label(aid, "true" if true_alarm else "false", role="maintenance")
        alerts.close(aid, role="maintenance")
    db.conn.close()
    return {"minutes": n_min, "stops": n_stops, "alerts": n_alerts, "start_ns": start, "end_ns": end}


def has_kpi_data(cfg: BoxConfig) -> bool:
    """Whether the store already holds KPI minutes (the demo fills only a fresh one)."""
    if not cfg.db_path.exists():
        return False
    db = open_box_db(cfg.db_path)
    try:
        return db.execute("SELECT count(*) FROM (SELECT 1 FROM kpi_minute LIMIT 1)").fetchone()[0] > 0
    finally:
        db.conn.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer simulate history",
                                description="Fill the store with N days of simulated, closed KPI periods.")
    p.add_argument("--config", required=True, help="box config (its data_dir holds the store)")
    p.add_argument("--days", type=int, required=True, help="number of days up to now (1..400)")
    p.add_argument("--pilot-from-day", type=int, default=None,
                   help="day K (1..N-1) on which the pilot starts; without it all days are baseline")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    try:
        out = fill_history(cfg, days=a.days, pilot_from_day=a.pilot_from_day, seed=a.seed)
    except ValueError as exc:
        print(f"werkvloer simulate history: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.days} days: {out['minutes']} planned minutes, {out['stops']} stops, {out['alerts']} alerts "
          f"into {cfg.db_path}")
    return 0
