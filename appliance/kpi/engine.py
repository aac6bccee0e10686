"""The KPI engine: samples in, state intervals, stops and period aggregates out.

Runs in the core process in **its own thread** (not an asyncio task): it
drains a ``appliance.bus.SampleQueue``, keeps the machine state in memory and
writes through its own SQLite connection in one short transaction every
``machine.flush_s`` seconds (state intervals, stops, additive deltas to the
minute/hour/shift/day rows).

Time: durations come from the samples' monotonic timestamps; UTC for storage
is ``mono + offset`` with the offset taken from the samples' (mono, UTC)
pairs. A change of that offset by more than ``machine.clock_jump_s`` is a
clock jump: a ``clock_jump`` box event and a box alert are recorded, the new
offset is used from then on, and durations stay monotonic. At boot (a Pi has
no RTC) writes are held until the system clock is NTP-synchronised (at most
``machine.clock_hold_s``), so what was measured before the jump is placed on
the corrected clock.

The parts: ``accumulator.py`` (pure: samples in, segments, counts and stops
out), ``clock.py`` (offset, jumps, the NTP hold), ``writer.py`` (the SQL of
one flush, inside the write transaction), ``state.py`` (raw state and
counters); this module holds the thread, the database connection, the box
events and the alerts, and the status snapshot.

The thread is a queue-driven :class:`appliance.dbworker.DbWorker` that keeps
its connection after stop (``conn`` is also read directly, e.g. by tests and
``process``/``flush`` without a thread); its final flush runs inside the thread.

Daemon wiring::

    engine = KpiEngine(cfg, cfg.db_path, queue=bus.subscribe_queue("kpi"), alert_sink=sink)
    engine.start()                 # or: async with engine: ...
    daemon.register_ipc("kpi.status", engine.ipc_status)
    ...
    engine.stop()                  # joins the thread and writes what is pending
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.alerts import migrations as alert_tables
from appliance.alerts import nl_number
from appliance.bus import Bus, SampleQueue
from appliance.dbworker import DbWorker
from appliance.storage import open_db, write_tx
from drivers.samples import Sample, now_pair

from .accumulator import Accumulator, PendingStop
from .calendar import NS, ShiftCalendar
from .clock import ClockHold, ClockWatch, system_clock_synced
from .queries import oee_now, period_rows
from .reasons import ReasonTree
from .schema import migrations as kpi_migrations
from .writer import LAST_UTC_KEY, PeriodWriter

if TYPE_CHECKING:
    from appliance.alerts import AlertSink
    from appliance.config import BoxConfig

log = logging.getLogger(__name__)

OEE_REFRESH_NS = 30 * NS  # status() OEE today/shift refresh


class KpiEngine(DbWorker):
    closes_conn = False  # conn outlives the thread: process/flush/status read it without one
    conn: sqlite3.Connection

    def __init__(self, config: BoxConfig, db_path: str | Path, *, queue: SampleQueue | None = None,
                 alert_sink: AlertSink | None = None,
                 clock: Callable[[], tuple[int, int]] = now_pair,
                 clock_synced: Callable[[], bool] = system_clock_synced) -> None:
        self.config = config
        self.m = m = config.machine
        self.calendar = ShiftCalendar(m, config.box.timezone)
        self.tree = ReasonTree.from_config(m)
        self.acc = Accumulator(m)  # samples in, segments and stops out
        self.db = open_db(db_path, sets=[kpi_migrations, alert_tables])  # KPI alerts go to the alert tables
        super().__init__(name="kpi-engine", logger=log, conn=self.db.conn)
        self.queue = queue
        self.alert_sink = alert_sink
        self._clock = clock
        self._clock_synced = clock_synced
        self.flush_ns = int(m.flush_s * NS)
        self.jump_ns = int(m.clock_jump_s * NS)
        self._clock_watch = ClockWatch(self.jump_ns)
        self._clock_hold = ClockHold(m.clock_hold_s, clock_synced)
        self._writer = PeriodWriter(m, self.calendar, self.tree, self.jump_ns)
        # in-memory state (owned by the engine thread; the segmentation is in self.acc)
        self._last_flush = 0
        self._start_mono: int | None = None
        self._shift_key: str | None = None
        self.samples_seen = 0
        self._snapshot: dict[str, Any] = {"state": "no_data"}
        self._oee: dict[str, Any] = {}
        self._oee_at = 0
        self._last_write_utc: int | None = None
        self._read_product_setting()

    @property
    def t(self) -> int | None:
        """Monotonic time (ns) accounted up to; None before the first sample or tick."""
        return self.acc.t

    @property
    def state(self) -> str:
        return self.acc.state

    @property
    def since(self) -> int:
        return self.acc.since

    @property
    def stop_obj(self) -> PendingStop | None:
        """The open stop, if the machine is stopped."""
        return self.acc.stop

    @property
    def offset(self) -> int | None:
        """UTC - monotonic (ns) from the latest sample or tick; None before the first."""
        return self._clock_watch.offset

    @property
    def clock_jumps(self) -> int:
        return self._clock_watch.jumps

    # ------------------------------------------------------------- lifecycle (DbWorker)
    def start(self) -> None:
        if self.queue is None:
            raise ValueError("KpiEngine.start needs a queue (bus.subscribe_queue('kpi'))")
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.started:
            super().stop(timeout)  # the thread writes what is pending
        else:
            self.flush(force=True)

    async def __aenter__(self) -> KpiEngine:
        self.start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await asyncio.to_thread(self.stop)

    def work(self) -> None:
        # A failing batch is logged once (DbWorker) and must not stop the KPIs.
        assert self.queue is not None
        samples = self.queue.drain(timeout=self.poll_s)
        if samples:
            self.process(samples)
        self.tick()

    def final(self) -> None:
        assert self.queue is not None
        rest = self.queue.drain()
        if rest:
            self.process(rest)
        self.tick()
        self.flush(force=True)

    # ------------------------------------------------------------- input
    def process(self, samples: list[Sample]) -> None:
        """Feed samples (in arrival order). Called by the engine thread, or directly in tests."""
        for s in samples:
            self._on_sample(s)
        self._publish_snapshot()

    def tick(self, mono_ns: int | None = None, utc_ns: int | None = None) -> None:
        """Advance to now without a sample (no-data detection) and write when due."""
        if mono_ns is None or utc_ns is None:
            mono_ns, utc_ns = self._clock()
        self._watch_clock(utc_ns - mono_ns, utc_ns)
        self._advance(mono_ns)
        if self.t is not None and self.t - self._last_flush >= self.flush_ns:
            self.flush()
        self._publish_snapshot()

    def _on_sample(self, s: Sample) -> None:
        t = s.mono_ns if self.t is None else max(self.t, s.mono_ns)
        self._watch_clock(s.utc_ns - s.mono_ns, s.utc_ns)
        self._advance(t)
        utc = s.utc_ns
        self.acc.sample(s, t, on_reset=lambda signal, value: self._box_event(
            "counter_reset", {"signal": signal, "value": value}, utc))
        self.samples_seen += 1
        if self.t is not None and self.t - self._last_flush >= self.flush_ns:
            self.flush()

    # ------------------------------------------------------------- time and state
    def _watch_clock(self, offset: int, utc_ns: int) -> None:
        d = self._clock_watch.observe(offset)
        if d is not None:
            self._box_event("clock_jump", {"delta_s": d / NS, "mono_ns": utc_ns - offset}, utc_ns)
            self._alert(source="box", kind="clock_jump", severity="info",
                        title={"nl": f"Klok verzet met {d / NS:+.0f} s", "en": f"Clock jumped by {d / NS:+.0f} s"},
                        detail={"nl": "De klok van de box is verzet (opgestart zonder klokbatterij, of gelijkgezet "
                                      "door de tijdserver). De KPI-tijden kloppen nog: de box meet ze met een eigen "
                                      "klok die niet verspringt.",
                                "en": "The box's clock was set (started without a clock battery, or corrected by the "
                                      "time server). The KPI durations are still right: the box measures them with "
                                      "its own clock that never jumps."},
                        dedupe_key="box:clock_jump", evidence={"delta_s": d / NS}, ts_ns=utc_ns)

    def _begin(self, t: int) -> None:
        self._last_flush = self._start_mono = t
        self.acc.begin(t)
        last = self.conn.execute("SELECT value FROM settings WHERE key = ?", [LAST_UTC_KEY]).fetchone()
        if last is not None and self.offset is not None:
            gap = t + self.offset - int(last[0])
            if 0 < gap <= self.m.max_gap_fill_days * 86_400 * NS:
                self.acc.no_data_before(t, gap)
        self._box_event("kpi_engine_start", None, t + (self.offset or 0))

    def _advance(self, t: int) -> None:
        if self.acc.t is None:
            self._begin(t)
        else:
            self.acc.advance(t)

    # ------------------------------------------------------------- writing
    def _clock_ok(self) -> bool:
        return self._clock_hold.ok((self.t or 0) - (self._start_mono or 0))

    def flush(self, *, force: bool = False) -> None:
        """Write pending state time, counts and stops in one short transaction.

        ``force`` writes even while the clock is not yet trusted and refreshes the OEE summary."""
        if force:
            self._oee_at = -OEE_REFRESH_NS * 2 if self.t is None else self.t - OEE_REFRESH_NS
        if self.t is None or self.offset is None:
            return
        if not force and not self._clock_ok():
            return
        segs, counts, closed = self.acc.take()
        inserted: list[PendingStop] = []
        row_before = self._writer.row
        try:
            with write_tx(self.conn) as c:
                self._writer.write(c, offset=self.offset, t=self.t, segs=segs, counts=counts, closed=closed,
                                   current=self.stop_obj, inserted=inserted)
        except sqlite3.Error as exc:
            for st in inserted:
                st.id = None
            self._writer.row = row_before
            self.acc.put_back(segs, counts, closed)
            self.write_failed(exc, "KPI engine cannot write to the database (%s); keeping periods in memory", exc)
            return
        self.write_ok("KPI engine writes to the database again")
        self._last_flush = self.t
        self._last_write_utc = self.t + self.offset
        self._after_flush()

    def _after_flush(self) -> None:
        assert self.t is not None and self.offset is not None
        now = self.t + self.offset
        self._read_product_setting()
        if self.t - self._oee_at >= OEE_REFRESH_NS or not self._oee:
            self._oee_at = self.t
            try:
                self._oee = {k: (v.as_dict() if v is not None else None)
                             for k, v in oee_now(self.conn, calendar=self.calendar, now_ns=now).items()}
            except sqlite3.Error as exc:
                log.debug("OEE summary not available: %s", exc)
        inst = self.calendar.shift_at(now)
        key = inst.key if inst else None
        if self._shift_key is not None and key != self._shift_key:
            self._check_shift_target(self._shift_key)
        self._shift_key = key
        if self.stop_obj is not None and self.stop_obj.id is not None:
            r = self.conn.execute("SELECT reason FROM kpi_stops WHERE id = ?", [self.stop_obj.id]).fetchone()
            self.stop_obj.reason = r[0] if r else None

    def _check_shift_target(self, shift_key: str) -> None:
        row = self.conn.execute("SELECT start_ts FROM kpi_shift WHERE shift_key = ?", [shift_key]).fetchone()
        if row is None:
            return
        rows = period_rows(self.conn, calendar=self.calendar, start_ns=row[0], end_ns=row[0] + 1, granularity="shift")
        if not rows:
            return
        r = rows[0]
        # At least 10 minutes of planned busy time, or the number means nothing.
        if r.oee is None or r.pbt_s < 600 or r.oee >= self.m.oee_target:
            return
        self._alert(source="kpi", kind="oee_below_target", severity="warning",
                    title={"nl": f"OEE {r.oee:.0%} onder doel {self.m.oee_target:.0%} ({shift_key})",
                           "en": f"OEE {r.oee:.0%} below target {self.m.oee_target:.0%} ({shift_key})"},
                    detail={"nl": f"beschikbaarheid {nl_number((r.availability or 0) * 100, '.1f')} %, prestatie "
                                  f"{nl_number((r.performance or 0) * 100, '.1f')} %, kwaliteit "
                                  f"{nl_number((r.quality or 0) * 100, '.1f')} %; zonder gegevens "
                                  f"{r.nodata_s / 60:.0f} min",
                            "en": f"availability {r.availability or 0:.1%}, performance {r.performance or 0:.1%}, "
                                  f"quality {r.quality or 0:.1%}; no data {r.nodata_s / 60:.0f} min"},
                    dedupe_key=f"kpi:oee:{shift_key}",
                    evidence={"shift": shift_key, "oee": r.oee, "availability": r.availability,
                              "performance": r.performance, "quality": r.quality, "target": self.m.oee_target})

    def _alert(self, **kw: Any) -> None:
        if self.alert_sink is not None:
            self.alert_sink.submit(**kw)
            return
        from appliance.alerts import AlertStore

        try:
            AlertStore(self.conn).raise_alert(**kw)
        except sqlite3.Error as exc:
            log.error("could not store KPI alert %s: %s", kw.get("dedupe_key"), exc)

    def _box_event(self, kind: str, detail: Any, ts: int) -> None:
        try:
            with write_tx(self.conn) as c:
                c.execute("INSERT INTO box_events(ts, kind, detail) VALUES (?, ?, ?)",
                          [ts, kind, None if detail is None else json.dumps(detail)])
        except sqlite3.Error as exc:
            log.error("could not record box event %s: %s", kind, exc)

    def _read_product_setting(self) -> None:
        r = self.conn.execute("SELECT value FROM settings WHERE key = 'kpi.product'").fetchone()
        self.acc.operator_product = (r[0] or None) if r else None

    # ------------------------------------------------------------- status
    def _publish_snapshot(self) -> None:
        if self.t is None:
            return
        off = self.offset or 0
        st = self.stop_obj
        stop = None
        if st is not None:
            dur = (self.t - st.start_mono) / NS
            stop = {"id": st.id, "start_utc_ns": st.start_mono + off, "duration_s": dur, "reason": st.reason,
                    "needs_reason": st.reason is None and dur >= self.m.micro_stop_s}
        self._snapshot = {
            "state": self.state, "since_utc_ns": self.since + off, "state_duration_s": (self.t - self.since) / NS,
            "stop": stop, "samples": self.samples_seen, "clock_jumps": self.clock_jumps,
            "queue_dropped": self.queue.dropped if self.queue else 0, "db_ok": not self.failing,
        }

    def status(self) -> dict[str, Any]:
        """Current state, current stop and OEE today/this shift (thread-safe, no database access)."""
        out = dict(self._snapshot)
        oee = self._oee
        out["oee_today"] = oee.get("today")
        out["oee_shift"] = oee.get("shift")
        return out

    def health(self) -> dict[str, Any]:
        """For the core's ``status`` op: is the engine alive and writing?"""
        alive = self.alive
        return {"name": "kpi", "state": "running" if alive else "stopped", "available": alive and not self.failing,
                "last_good_utc_ns": self._last_write_utc, "machine_state": self.state,
                "samples": self.samples_seen, "queue_dropped": self.queue.dropped if self.queue else 0,
                "clock_jumps": self.clock_jumps, "clock_trusted": self._clock_synced()}

    def ipc_status(self, _args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Handler for the IPC op ``kpi.status`` (and the ``state`` part of ``live``)."""
        return self.status()


def kpi_engine_for(config: BoxConfig, bus: Bus, *, alert_sink: AlertSink | None = None) -> KpiEngine:
    """The engine the daemon runs: subscribes a queue named ``kpi`` on ``bus``."""
    return KpiEngine(config, config.db_path, queue=bus.subscribe_queue("kpi"), alert_sink=alert_sink)
