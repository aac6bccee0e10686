"""KPI exports: CSV (optionally Dutch Excel: ``;`` separator, decimal comma), JSON.

The rows are ``appliance.kpi.queries.period_rows`` — the same numbers the
``/api/v1`` KPI endpoints serve. Ratios are fractions (0..1), times in
seconds, energy in kWh; an empty cell means "not defined" (e.g. no planned
time in that period).

CLI, ``werkvloer export`` (``appliance.cli`` passes the box's config loader in)::

    werkvloer export --config FILE --from 2026-03-01 --to 2026-03-31 \
        --granularity hour|shift|day --kpis oee,availability --format csv|csv-nl|json [--out FILE]

A date-only ``--to`` includes that whole (local) day; a date-time ``--to`` is exclusive.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .calendar import NS, ShiftCalendar
from .oee import KPI_FIELDS
from .queries import period_rows

if TYPE_CHECKING:
    from appliance.config import BoxConfig

DEFAULT_KPIS = ["availability", "performance", "quality", "oee", "pot_s", "pbt_s", "apt_s", "pdot_s", "nodata_s",
                "pq", "gq", "sq", "scrap_rate", "micro_n", "micro_s", "failures", "mtbf_s", "mttr_s",
                "energy_kwh", "energy_per_good_kwh", "parts_per_hour", "good_per_hour"]
KEY_COLUMNS = ["period", "start", "end"]


def export_rows(db: Any, *, calendar: ShiftCalendar, start_ns: int, end_ns: int, granularity: str,
                kpis: list[str] | None = None) -> list[dict[str, Any]]:
    kpis = kpis or DEFAULT_KPIS
    bad = [k for k in kpis if k not in KPI_FIELDS or k in ("period", "start_ts", "end_ts")]
    if bad:
        raise ValueError(f"unknown KPI(s) {', '.join(bad)}; choose from {', '.join(KPI_FIELDS[3:])}")
    out = []
    for r in period_rows(db, calendar=calendar, start_ns=start_ns, end_ns=end_ns, granularity=granularity):
        d = r.as_dict()
        row = {"period": r.period,
               "start": dt.datetime.fromtimestamp(r.start_ts / NS, calendar.tz).isoformat(timespec="minutes"),
               "end": dt.datetime.fromtimestamp(r.end_ts / NS, calendar.tz).isoformat(timespec="minutes")}
        row.update({k: d[k] for k in kpis})
        out.append(row)
    return out


def _cell(v: Any, dutch: bool) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        text = repr(v)
        return text.replace(".", ",") if dutch else text
    return str(v)


def to_csv(rows: list[dict[str, Any]], *, dutch: bool = False) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    w = csv.writer(buf, delimiter=";" if dutch else ",", lineterminator="\r\n")
    cols = list(rows[0])
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r[c], dutch) for c in cols])
    # A BOM so that Excel opens the Dutch variant as UTF-8.
    return ("\ufeff" if dutch else "") + buf.getvalue()


def read_csv(text: str, *, dutch: bool = False) -> list[dict[str, Any]]:
    """Parse an export back (numbers as float, empty as None)."""
    text = text.removeprefix("\ufeff")
    rows = []
    for r in csv.DictReader(io.StringIO(text), delimiter=";" if dutch else ","):
        row: dict[str, Any] = {}
        for k, v in r.items():
            if k in KEY_COLUMNS:
                row[k] = v
            elif v == "":
                row[k] = None
            else:
                row[k] = float(v.replace(",", ".") if dutch else v)
        rows.append(row)
    return rows


def to_json(rows: list[dict[str, Any]], *, meta: dict[str, Any] | None = None) -> str:
    return json.dumps({"meta": meta or {}, "rows": rows}, indent=1, ensure_ascii=False)


def _parse_time(text: str, calendar: ShiftCalendar, *, end: bool) -> int:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return calendar.day_bounds(day)[1 if end else 0]
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=calendar.tz)
    return int(t.timestamp() * NS)


def main(argv: list[str] | None = None, *, load_config: Callable[[str], BoxConfig]) -> int:
    """``werkvloer export``. ``load_config`` reads the box config (``appliance.config.load_config``,
    passed in by ``appliance.cli``: the config schema includes the KPI config, so this module may not import it)."""
    ap = argparse.ArgumentParser(prog="werkvloer export", description="Export KPIs per hour, shift or day.")
    ap.add_argument("--config", required=True, help="box config file (TOML)")
    ap.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)")
    ap.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD (inclusive) or date-time (exclusive)")
    ap.add_argument("--granularity", choices=["hour", "shift", "day"], default="day")
    ap.add_argument("--kpis", default=",".join(DEFAULT_KPIS), help="comma-separated KPI columns")
    ap.add_argument("--format", choices=["csv", "csv-nl", "json"], default="csv")
    ap.add_argument("--out", help="file to write (default: standard output)")
    args = ap.parse_args(argv)
    from appliance.exitcodes import run_command

    return run_command("werkvloer export", lambda: _export(args, load_config))


def _export(args: argparse.Namespace, load_config: Callable[[str], BoxConfig]) -> int:
    from appliance.storage import connect

    cfg = load_config(args.config)  # a ConfigError: run_command prints its key paths, exit 2
    calendar = ShiftCalendar(cfg.machine, cfg.box.timezone)
    try:
        start = _parse_time(args.start, calendar, end=False)
        end = _parse_time(args.end, calendar, end=True)
        if end <= start:
            raise ValueError("--to must be after --from")
        kpis = [k.strip() for k in args.kpis.split(",") if k.strip()]
        if not cfg.db_path.exists():
            raise ValueError(f"no database at {cfg.db_path}; start the core first (werkvloer core)")
        conn = connect(cfg.db_path, readonly=True)
        try:
            rows = export_rows(conn, calendar=calendar, start_ns=start, end_ns=end,
                               granularity=args.granularity, kpis=kpis)
        finally:
            conn.close()
    except (ValueError, sqlite3.Error) as exc:
        print(f"werkvloer export: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = to_json(rows, meta={"from": args.start, "to": args.end, "granularity": args.granularity,
                                   "timezone": cfg.box.timezone, "ratios": "fractions 0..1"})
    else:
        text = to_csv(rows, dutch=args.format == "csv-nl")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
        print(f"{len(rows)} rows written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0

