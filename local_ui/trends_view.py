"""Live trends: a sparkline per signal on Home with the guard's limits drawn as lines.

The page starts each sparkline with a short history from the box's own recorder
(``appliance.storage.read_samples`` over ``sample_chunks``), so it is not empty
after a reload; ``static/trends.js`` then appends every value of the live
stream (``/api/v1/live``, the same message that fills the live values table).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from appliance.storage import read_samples

from . import labels

NS = 1_000_000_000
WINDOW_S = 600  # ten minutes: enough to see a trend, small enough for 800x480
MAX_POINTS = 300


def watched(config: Any) -> dict[str, list[dict[str, Any]]]:
    """Signal -> the guard rules and models that watch it: ``{"name", "kind", "limit"}``
    (limit None for a stalled rule or a model's input)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in config.guard.rules:
        signal = getattr(rule, "signal", None)
        if not signal:
            continue
        limit = getattr(rule, "limit", None) if rule.kind in ("above", "below") else None
        out.setdefault(signal, []).append({"name": rule.name, "kind": rule.kind, "limit": limit})
    for model in config.guard.models:
        for signal in getattr(model, "inputs", None) or []:
            out.setdefault(signal, []).append({"name": model.name, "kind": "model", "limit": None})
    return out


def _measured(s: Any) -> bool:
    """A measured quantity (float registers, analog inputs), not a code, a counter or a switch."""
    return str(getattr(s, "type", "") or "").startswith("float") or getattr(s, "kind", None) == "analog"


def sparkline_signals(config: Any, lang: str) -> list[dict[str, Any]]:
    """The signals with a sparkline: every measured signal and every numeric one the guard
    watches (a stalled-counter rule's counter); the watched ones carry their limits."""
    w = watched(config)
    out = []
    for name, s in labels.signals(config).items():
        if str(getattr(s, "type", "")) in ("block", "bool", "string") or getattr(s, "kind", None) == "state":
            continue
        if not _measured(s) and name not in w:
            continue
        limits = [x for x in w.get(name, []) if x["limit"] is not None]
        out.append({"name": name, "label": labels.signal_label(config, name, lang),
                    "unit": labels.display_unit(getattr(s, "unit", None)), "watched": name in w,
                    "watched_by": [x["name"] for x in w.get(name, [])], "limits": limits})
    return out


def _thin(ts: list[int], vs: list[float], max_points: int) -> tuple[list[int], list[float]]:
    """At most ``max_points``, evenly spread, always keeping the newest sample."""
    n = len(ts)
    if n <= max_points:
        return ts, vs
    step = (n - 1) / (max_points - 1)
    idx = sorted({int(i * step) for i in range(max_points - 1)} | {n - 1})
    return [ts[i] for i in idx], [vs[i] for i in idx]


def history(db: Any, config: Any, lang: str, *, window_s: int = WINDOW_S, signal: str | None = None,
            max_points: int = MAX_POINTS, now_ns: int | None = None) -> dict[str, Any]:
    """The sparklines' signals with their recorded values of the last ``window_s``."""
    now = now_ns or time.time_ns()
    t0 = now - window_s * NS
    out = []
    for spec in sparkline_signals(config, lang):
        if signal is not None and spec["name"] != signal:
            continue
        ts_a, v_a, q_a = read_samples(db, spec["name"], t0, now + NS)
        good = q_a == 0
        ts, vs = _thin([int(x) for x in ts_a[good]], [float(x) for x in v_a[good]], max_points)
        out.append({**spec, "t": ts, "v": vs})
    return {"window_s": window_s, "now_utc_ns": now, "signals": out}


TRIP_BEFORE_S, TRIP_AFTER_S = 60, 10  # a rule trip's picture: a minute before to 10 s after


def around(db: Any, signal: str, mark_ns: int, *, before_s: int = TRIP_BEFORE_S, after_s: int = TRIP_AFTER_S,
           max_points: int = MAX_POINTS) -> tuple[list[int], list[float]]:
    """The recorder's good samples of ``signal`` from ``before_s`` before ``mark_ns`` to ``after_s`` after."""
    try:
        ts_a, v_a, q_a = read_samples(db, signal, mark_ns - before_s * NS, mark_ns + after_s * NS + 1)  # both ends in
    except sqlite3.OperationalError:  # no recorder tables yet (a box that never recorded)
        return [], []
    good = q_a == 0
    return _thin([int(x) for x in ts_a[good]], [float(x) for x in v_a[good]], max_points)
