"""The shift timeline: one bar per shift of run / stop / micro-stop / planned / no data, stops
coloured by their reason group, and the shift report (OEE, A/P/Q, counts, stops with reasons).

Segments come from appliance.kpi's state intervals (``kpi_state``) and stops (``kpi_stops``)
through ``services``; a gap without intervals is "no data", so the segments always cover the
shift from its start to now (or its end). The bar is SVG drawn here (no JavaScript); a stop
segment is a link to the stop's page, where the reason is given or corrected as on Stops.
"""

from __future__ import annotations

import datetime as dt
import time
from html import escape
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from appliance.kpi import queries as kpi_queries

from . import fmt, services
from .i18n import N_

KIND_LABELS = {"run": N_("Running"), "stop": N_("Stop"), "micro": N_("Micro-stop"), "planned": N_("Planned stop"),
               "no_data": N_("No data"), "open": N_("Reason needed")}
KIND_COLOURS = {"run": "#0a6b2e", "micro": "#d9a400", "no_data": "#9ca3af", "open": "#b3261e", "planned": "#1d4ed8"}
# Reason groups of the default tree; a configured tree's other groups take the palette in turn.
GROUP_COLOURS = {"breakdown": "#4c0519", "setup": "#1e40af", "material": "#9a3412", "information": "#6b21a8",
                 "operator": "#be185d", "quality": "#0f766e", "maintenance": "#0369a1", "break": "#334155",
                 "meeting": "#4338ca", "no_orders": "#475569", "other": "#57534e"}
PALETTE = ("#7c2d12", "#3730a3", "#065f46", "#86198f", "#1e3a8a", "#713f12")
W, BAR_H, H = 1000, 76, 106
MIN_HIT = 76  # viewBox units: 51 CSS px on the narrowest bar (678 px at 720x1280 portrait)


def group_colour(tree: Any, reason: str | None) -> str:
    if not reason:
        return KIND_COLOURS["open"]
    group = reason.split(".", 1)[0]
    if group in GROUP_COLOURS:
        return GROUP_COLOURS[group]
    codes = [g["code"] for g in tree.as_dicts()]
    return PALETTE[codes.index(group) % len(PALETTE)] if group in codes else GROUP_COLOURS["other"]


def _stops_by_id(db: Any, config: Any, start_ns: int, end_ns: int) -> dict[int, Any]:
    # A stop that began before the shift (up to a day) still shows where it overlaps.
    stops = kpi_queries.list_stops(db, start_ns=start_ns - 86_400 * 10**9, end_ns=end_ns,
                             tree=services.reason_tree(config), include_micro=True)
    return {s.id: s for s in stops if s.end_ts is None or s.end_ts > start_ns}


def _kind(state: str, stop: Any) -> str:
    if state == "running":
        return "run"
    if state == "no_data":
        return "no_data"
    if stop is None:
        return "planned" if state == "planned_down" else "stop"
    if stop.micro:
        return "micro"
    if stop.planned or state == "planned_down":
        return "planned"
    return "stop"


def shift_segments(db: Any, config: Any, start_ns: int, end_ns: int, now_ns: int | None = None,
                   lang: str = "nl") -> tuple[list[dict[str, Any]], int]:
    """Contiguous segments covering [start_ns, min(end_ns, now)); returns (segments, covered_until)."""
    now_ns = now_ns or time.time_ns()
    until = max(start_ns, min(end_ns, now_ns))
    tree = services.reason_tree(config)
    stops = _stops_by_id(db, config, start_ns, until)
    raw: list[tuple[int, int, str, Any]] = []
    for a, b, state, stop_id in services.state_segments(db, start_ns, until):
        raw.append((max(a, start_ns), min(b, until), _kind(state, stops.get(stop_id)), stops.get(stop_id)))
    last = max([b for _, b, _, _ in raw], default=start_ns)
    for s in stops.values():  # the open stop: the engine writes its intervals as they end
        if s.end_ts is None and s.start_ts < until:
            a = max(s.start_ts, last, start_ns)
            if a < until:
                raw.append((a, until, "micro" if s.micro else "planned" if s.planned else "stop", s))
    raw.sort(key=lambda x: x[0])
    segs: list[dict[str, Any]] = []
    t = start_ns

    def add(a: int, b: int, kind: str, stop: Any) -> None:
        if b <= a:
            return
        sid = stop.id if stop is not None else None
        if segs and segs[-1]["kind"] == kind and segs[-1]["stop_id"] == sid and segs[-1]["end_utc_ns"] == a:
            segs[-1]["end_utc_ns"] = b
            segs[-1]["duration_s"] = (b - segs[-1]["start_utc_ns"]) / 1e9
            return
        reason = stop.reason if stop is not None else None
        label = None
        if stop is not None:
            label = (stop.reason_label_nl if lang == "nl" else stop.reason_label_en) or stop.reason
        colour = KIND_COLOURS.get(kind, "#111827") if kind in ("run", "micro", "no_data") else (
            group_colour(tree, reason) if stop is not None else KIND_COLOURS["open"])
        segs.append({"kind": kind, "start_utc_ns": a, "end_utc_ns": b, "duration_s": (b - a) / 1e9, "stop_id": sid,
                     "reason": reason, "reason_label": label, "colour": colour,
                     "tappable": sid is not None and kind != "micro"})

    for a, b, kind, stop in raw:
        a = max(a, t)
        if a > t:
            add(t, a, "no_data", None)
        add(a, b, kind, stop)
        t = max(t, b)
    if t < until:
        add(t, until, "no_data", None)
    return segs, until


WHOLE_DAY = N_("Whole day")  # the pseudo-shift "24h" when no shifts are configured


def shift_name(gettext: Any, name: str) -> str:
    return gettext(WHOLE_DAY) if name == "24h" else name


def shifts_of_day(db: Any, config: Any, day: dt.date, lang: str, now_ns: int | None = None) -> list[dict[str, Any]]:
    now_ns = now_ns or time.time_ns()
    cal = services.calendar(config)
    out = []
    for inst in cal.shifts_on(day):
        segs: list[dict[str, Any]] = []
        if inst.start_ns > now_ns:
            until = inst.start_ns
        else:
            segs, until = shift_segments(db, config, inst.start_ns, inst.end_ns, now_ns, lang)
        out.append({"key": inst.key, "name": inst.name, "start_utc_ns": inst.start_ns, "end_utc_ns": inst.end_ns,
                    "until_utc_ns": until, "current": inst.start_ns <= now_ns < inst.end_ns, "segments": segs})
    return out


def current_day(config: Any, now_ns: int | None = None) -> dt.date:
    """The day whose shifts include now (a night shift belongs to the day it started)."""
    now_ns = now_ns or time.time_ns()
    cal = services.calendar(config)
    inst = cal.shift_at(now_ns)
    return dt.date.fromisoformat(inst.key.split("/", 1)[0]) if inst else cal.local_date(now_ns)


def find_shift(config: Any, key: str) -> Any:
    """The shift instance for a key "YYYY-MM-DD/name"; ValueError when there is none."""
    day_text, _, name = key.partition("/")
    day = dt.date.fromisoformat(day_text)
    for inst in services.calendar(config).shifts_on(day):
        if inst.name == name:
            return inst
    raise ValueError(f"no shift {key!r}: give a key as YYYY-MM-DD/name of a configured shift")


def bar_svg(shift: dict[str, Any], f: fmt.Formatter, gettext: Any) -> Markup:
    """The Gantt bar: segments in colour, stops as links to their page, hour ticks under it."""
    s0, s1 = shift["start_utc_ns"], shift["end_utc_ns"]
    span = max(1, s1 - s0)

    def x(t: int) -> float:
        return (t - s0) * W / span

    body = [f'<rect x="0" y="0" width="{W}" height="{BAR_H}" fill="#f3f4f6" stroke="#d1d5db"/>']
    links = []
    for seg in shift["segments"]:
        x0, x1 = x(seg["start_utc_ns"]), x(seg["end_utc_ns"])
        key = "open" if seg["kind"] == "stop" and not seg["reason"] else seg["kind"]
        what = gettext(KIND_LABELS[key])
        tip = f'{f.time(seg["start_utc_ns"])}–{f.time(seg["end_utc_ns"])} {what}'
        if seg["reason_label"]:
            tip += f' · {seg["reason_label"]}'
        tip += f' · {f.duration(seg["duration_s"])}'
        dim = ' fill-opacity="0.55"' if seg["kind"] == "no_data" else ""
        rect = (f'<rect x="{x0:.2f}" y="0" width="{max(x1 - x0, 0.6):.2f}" height="{BAR_H}" '
                f'fill="{seg["colour"]}"{dim}/>')
        if seg["tappable"]:
            hw = max(x1 - x0, MIN_HIT)
            hx = min(max(0.0, (x0 + x1) / 2 - hw / 2), W - hw)
            back = quote(f'/timeline?day={shift["key"][:10]}', safe="")
            links.append(f'<a href="/stops/{seg["stop_id"]}?next={back}" class="seg-link" '
                         f'data-stop="{seg["stop_id"]}" data-kind="{seg["kind"]}" aria-label="{escape(tip)}">'
                         f'<title>{escape(tip)}</title>{rect}'
                         f'<rect x="{hx:.2f}" y="0" width="{hw:.2f}" height="{BAR_H}" fill="transparent" class="hit"/></a>')
        else:
            body.append(f'<g data-kind="{seg["kind"]}"><title>{escape(tip)}</title>{rect}</g>')
    if shift["until_utc_ns"] < s1 and shift["until_utc_ns"] > s0:
        xn = x(shift["until_utc_ns"])
        body.append(f'<line x1="{xn:.2f}" y1="0" x2="{xn:.2f}" y2="{BAR_H}" stroke="#111827" stroke-width="3"/>')
    for tn, label in hour_ticks(s0, s1, f.tz):
        xt = x(tn)
        anchor = "start" if xt < 30 else "end" if xt > W - 30 else "middle"
        body.append(f'<line x1="{xt:.1f}" y1="{BAR_H}" x2="{xt:.1f}" y2="{BAR_H + 6}" stroke="#111827"/>'
                    f'<text x="{xt:.1f}" y="{H - 4}" font-size="20" text-anchor="{anchor}" fill="#111827">'
                    f'{label}</text>')
    label = gettext("Shift timeline %(shift)s") % {"shift": shift["title"]}
    return Markup(f'<svg class="gantt" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
                  f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
                  f'<title>{escape(label)}</title>{"".join(body)}{"".join(links)}</svg>')


def hour_ticks(s0: int, s1: int, tz: Any) -> list[tuple[int, str]]:
    """The bar's hour ticks from ``s0`` to ``s1`` (UTC ns): (UTC ns, "HH:MM") on every full local hour,
    every 2nd or 3rd hour for a shift longer than 9 or 16 hours (the page's SVG and the PDF)."""
    hours = max(1, s1 - s0) / 3.6e12
    step = 1 if hours <= 9 else 2 if hours <= 16 else 3
    out = []
    t = dt.datetime.fromtimestamp(s0 / 1e9, tz).replace(minute=0, second=0, microsecond=0)
    while (tn := int(t.timestamp()) * 10**9) <= s1:
        if tn >= s0 and t.hour % step == 0:
            out.append((tn, t.strftime("%H:%M")))
        t += dt.timedelta(hours=1)
    return out


def legend(config: Any, segments: list[dict[str, Any]], gettext: Any, lang: str) -> list[dict[str, Any]]:
    """Legend entries for the kinds and reason groups present."""
    tree = services.reason_tree(config)
    groups = {g["code"]: g[lang] for g in tree.as_dicts()}
    out: dict[str, dict[str, Any]] = {}
    for s in segments:
        if s["kind"] in ("run", "micro", "no_data"):
            out.setdefault(s["kind"], {"label": gettext(KIND_LABELS[s["kind"]]), "colour": s["colour"]})
        elif not s["reason"]:
            out.setdefault("open", {"label": gettext(KIND_LABELS["open"]), "colour": s["colour"]})
        else:
            g = s["reason"].split(".", 1)[0]
            out.setdefault("g:" + g, {"label": groups.get(g, g), "colour": s["colour"]})
    return list(out.values())


def swatch(colour: str) -> Markup:
    return Markup(f'<svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" '
                  f'fill="{escape(colour)}"/></svg>')


def report(db: Any, config: Any, key: str, lang: str, now_ns: int | None = None) -> dict[str, Any]:
    """The shift report: KPIs over the shift (so far), counts, every stop with reason and duration."""
    now_ns = now_ns or time.time_ns()
    inst = find_shift(config, key)
    until = max(inst.start_ns, min(inst.end_ns, now_ns))
    segs: list[dict[str, Any]] = []
    if inst.start_ns <= now_ns:
        segs, until = shift_segments(db, config, inst.start_ns, inst.end_ns, now_ns, lang)
    row = kpi_queries.kpi_total(db, calendar=services.calendar(config), start_ns=inst.start_ns, end_ns=max(until, inst.start_ns + 1))
    stops = [services.stop_view(s, lang, now_ns) | {"micro": s.micro, "planned": s.planned}
             for s in kpi_queries.list_stops(db, start_ns=inst.start_ns, end_ns=until, tree=services.reason_tree(config),
                                       include_micro=False)]
    kpis = {k: getattr(row, k) for k in ("oee", "availability", "performance", "quality", "parts_per_hour")}
    counts = {"produced": row.pq, "good": row.gq, "scrap": row.sq, "micro_stops": row.micro_n,
              "micro_stop_s": row.micro_s, "down_s": row.down_s, "planned_down_s": row.pdot_s, "run_s": row.apt_s,
              "no_data_s": row.nodata_s}
    return {"key": inst.key, "name": inst.name, "start_utc_ns": inst.start_ns, "end_utc_ns": inst.end_ns,
            "until_utc_ns": until, "current": inst.start_ns <= now_ns < inst.end_ns, "segments": segs,
            "kpis": kpis, "counts": counts, "stops": stops,
            "stops_without_reason": sum(1 for s in stops if not s["reason"])}
