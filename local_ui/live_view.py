"""Home's one live snapshot: every figure on Home (state, since, current stop,
OEE, rate, counts, alerts badge, guard and why it stopped) from one core
``live`` message plus two counts from the database, formatted for one language.

The page renders it once (``home.html``), the SSE stream (``/api/v1/live?view=home``)
pushes it with every core message and ``/api/v1/home`` returns it, so the screen
and the API cannot disagree.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from . import fmt, labels
from .i18n import N_, translations

COUNTS_MAX_AGE_S = 1.0

_counts_lock = threading.Lock()
_counts_cache: dict[str, tuple[float, dict[str, int | None]]] = {}


def counts(db: Any, config: Any, *, max_age_s: float = COUNTS_MAX_AGE_S) -> dict[str, int | None]:
    """Stops that still need a reason and alerts nobody acknowledged (None = not known)."""
    key = str(config.db_path)
    now = time.monotonic()
    with _counts_lock:
        hit = _counts_cache.get(key)
        if hit and now - hit[0] < max_age_s:
            return hit[1]
    from . import services

    out: dict[str, int | None] = {"needing_reason": None, "alerts_unacknowledged": None}
    try:
        out["needing_reason"] = len(services.stops_needing_reason(db, config))
    except services.NotAvailable:
        pass
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alerts'").fetchone() is not None:
        out["alerts_unacknowledged"] = int(db.execute("SELECT count(*) FROM alerts WHERE state = 'raised'").fetchone()[0])
    with _counts_lock:
        _counts_cache[key] = (now, out)
    return out


def invalidate_counts() -> None:
    """After a user entry (a reason given, an alert acknowledged): the next snapshot counts afresh."""
    with _counts_lock:
        _counts_cache.clear()


def _machine_key(msg: dict[str, Any]) -> str:
    st = msg.get("state") or {}
    vals = msg.get("values") or {}
    if "state" in st:
        return fmt.state_key(st["state"])
    if "machine_state" in vals:
        return fmt.state_key(vals["machine_state"].get("v"))
    if "running" in vals:
        return "running" if vals["running"].get("v") else "idle"
    return "unknown"


# The stack light as the core drives it: (green, amber, red), what it means.
ANDON = {
    "running": ({"green": True, "amber": False, "red": False}, N_("Stack light green: running")),
    "attention": ({"green": False, "amber": True, "red": False}, N_("Stack light amber: needs attention")),
    "stopped": ({"green": False, "amber": False, "red": True}, N_("Stack light red: stopped")),
    "off": ({"green": False, "amber": False, "red": False}, N_("Stack light off")),
}

CHECKS = {
    "above": N_("Check why %(signal)s is high before you reset; it must be below %(limit)s."),
    "below": N_("Check why %(signal)s is low before you reset; it must be above %(limit)s."),
    "stalled": N_("Check why %(signal)s stands still (jam, sensor, material) before you reset."),
    "model": N_("Listen and look at the machine (bearing, tool, loose parts) before you reset."),
}


def cause_view(guard: dict[str, Any], values: dict[str, Any], config: Any, lang: str) -> dict[str, Any] | None:
    """The guard's trip cause in plain words: what, the value against its limit (or the
    model's score against its threshold), what to check, and whether it still holds."""
    cause = guard.get("cause") if guard.get("tripped") else None
    if not isinstance(cause, dict):
        return None
    t = translations(lang)
    f = fmt.Formatter(lang, config.box.timezone)
    name = str(cause.get("name") or cause.get("kind") or "")
    out: dict[str, Any] = {"kind": cause.get("kind"), "name": name, "since_utc_ns": cause.get("ts"),
                           "since": f.time(cause.get("ts")), "value": None, "limit": None, "persists": None}
    if cause.get("kind") == "rule":
        rule = next((r for r in config.guard.rules if r.name == name), None)
        live: dict[str, Any] = next((r for r in guard.get("rules") or [] if r.get("name") == name), {})
        signal = rule.signal if rule else cause.get("signal")
        sig = labels.signal_label(config, signal, lang) if signal else name
        unit = labels.signal_unit(config, signal) if signal else None
        v = (values.get(signal) or {}).get("v") if signal else None
        out.update(signal=signal, signal_label=sig, value=v, unit=unit, trend_signal=signal)
        if rule is not None and rule.kind in ("above", "below"):
            out["limit"] = rule.limit
            beyond = None if not isinstance(v, int | float) or isinstance(v, bool) else (
                v > rule.limit if rule.kind == "above" else v < rule.limit)  # type: ignore[operator]
            out["persists"] = bool(live.get("active")) or bool(beyond)
            word = t.gettext(N_("too high") if rule.kind == "above" else N_("too low"))
            out["text"] = t.gettext(N_("%(signal)s %(word)s: %(value)s (limit %(limit)s)")) % {
                "signal": sig, "word": word, "value": labels.value_text(v, unit, f),
                "limit": labels.value_text(rule.limit, unit, f)}
            out["check"] = t.gettext(CHECKS[rule.kind]) % {"signal": sig, "limit": labels.value_text(rule.limit, unit, f)}
        else:
            out["persists"] = bool(live.get("active"))
            secs = (rule.for_ms / 1000) if rule is not None else None
            out["text"] = t.gettext(N_("%(signal)s stood still for %(duration)s")) % {
                "signal": sig, "duration": f.duration(secs)}
            out["check"] = t.gettext(CHECKS["stalled"]) % {"signal": sig}
    else:
        b: dict[str, Any] = next((m for m in guard.get("models") or [] if m.get("name") == name), {})
        score, thr = b.get("last_score"), b.get("threshold")
        inputs = _model_inputs(config, name)
        scalar = [s for s in inputs if getattr(labels.signals(config).get(s), "type", None) != "block"]
        out.update(value=score, limit=thr, persists=bool(b.get("alarm")),
                   inputs=[labels.signal_label(config, s, lang) for s in inputs],
                   trend_signal=scalar[0] if scalar else None)  # the card's trend: the first scalar input
        out["text"] = t.gettext(N_("Model %(name)s saw an anomaly: score %(score)s (threshold %(threshold)s)")) % {
            "name": name, "score": f.num(score, 2), "threshold": f.num(thr, 2)}
        out["check"] = t.gettext(CHECKS["model"])
    # A limit rule whose sensor still reads beyond its limit (maybe a stuck sensor): maintenance may override.
    out["override"] = bool(out["persists"]) and out.get("kind") == "rule" and out.get("limit") is not None
    if out["persists"]:
        out["refuse"] = t.gettext(N_("The cause is still there: a reset would stop the machine again at once. "
                                     "Remove the cause first."))
    return out


BEYOND = {"above": N_("above limit %(limit)s"), "below": N_("below limit %(limit)s")}


def _good_number(s: Any) -> float | None:
    """A live value's number when its quality is good (a stale or bad value says nothing about a limit)."""
    if not isinstance(s, dict) or s.get("q") not in (None, 0, "GOOD"):
        return None
    v = s.get("v")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def beyond_view(values: dict[str, Any], config: Any, lang: str) -> dict[str, dict[str, Any]]:
    """Signal -> the first guard rule whose limit its live value is beyond now (the guard's own test,
    ``decide.LimitRule``: strictly above / below), in words: a ``for_ms`` rule shows while the condition
    holds, before it trips. Home marks the live value and its sparkline with it."""
    out: dict[str, dict[str, Any]] = {}
    f = fmt.Formatter(lang, config.box.timezone)
    t = translations(lang)
    for rule in config.guard.rules:
        if rule.kind not in ("above", "below") or rule.limit is None or rule.signal in out:
            continue
        v = _good_number(values.get(rule.signal))
        if v is None or not (v > rule.limit if rule.kind == "above" else v < rule.limit):
            continue
        limit = labels.value_text(rule.limit, labels.signal_unit(config, rule.signal), f)
        out[rule.signal] = {"rule": rule.name, "kind": rule.kind, "limit": rule.limit, "value": v,
                            "text": t.gettext(BEYOND[rule.kind]) % {"limit": limit}}
    return out


def _model_inputs(config: Any, name: str) -> list[str]:
    m = next((m for m in config.guard.models if m.name == name), None)
    return list(getattr(m, "inputs", None) or [])


def home_view(msg: dict[str, Any], cnt: dict[str, int | None], config: Any, lang: str,
              reason_label: Any = None) -> dict[str, Any]:
    """The snapshot Home shows, raw values next to their text in ``lang``."""
    t = translations(lang)
    f = fmt.Formatter(lang, config.box.timezone)
    up = msg.get("core") == "up"
    st = (msg.get("state") or {}) if up else {}
    key = _machine_key(msg) if up else "unknown"
    since = st.get("since_utc_ns")
    out: dict[str, Any] = {
        "core": msg.get("core", "connecting"), "utc_ns": msg.get("utc_ns"),
        "machine": {"key": key, "label": t.gettext(fmt.STATE_LABELS[key]), "since_utc_ns": since,
                    "since": (t.gettext(N_("since %(time)s")) % {"time": f.time(since)}) if since else ""},
    }
    stop = st.get("stop") if key != "running" else None
    if stop:
        code = stop.get("reason")
        out["stop"] = {"open": True, "id": stop.get("id"), "start_utc_ns": stop.get("start_utc_ns"),
                       "duration_s": stop.get("duration_s"), "duration": f.duration(stop.get("duration_s")),
                       "reason": code, "reason_label": (reason_label(code) if reason_label and code else code),
                       "needs_reason": bool(stop.get("needs_reason"))}
    else:
        out["stop"] = {"open": False}
    out["stop"]["needing"] = cnt.get("needing_reason")
    oee = st.get("oee_today") if up else None
    if oee:
        out["oee"] = {"available": True, **{k: oee.get(k) for k in ("oee", "availability", "performance", "quality")},
                      "text": f.pct(oee.get("oee"), 0),
                      "parts": {k: f.pct(oee.get(k), 0) for k in ("availability", "performance", "quality")}}
        out["rate"] = {"available": True, "parts_per_hour": oee.get("parts_per_hour"), "good": oee.get("gq"),
                       "scrap": oee.get("sq"), "parts_per_hour_text": f.num(oee.get("parts_per_hour"), 0),
                       "good_text": f.num(oee.get("gq"), 0), "scrap_text": f.num(oee.get("sq"), 0)}
    else:
        out["oee"] = {"available": False}
        out["rate"] = {"available": False}
    out["alerts"] = {"unacknowledged": cnt.get("alerts_unacknowledged")}
    light = msg.get("stack_light") if up else None
    lamps = ANDON.get(str(light)) if light is not None else None
    out["andon"] = {"state": light if lamps else None, "lamps": lamps[0] if lamps else None,
                    "label": t.gettext(lamps[1]) if lamps else ""}
    g = dict(msg.get("guard") or {}) if up else {}
    if up and msg.get("guard") is not None:
        g["available"] = True
    gkey = fmt.guard_key(g) if g else "unavailable"
    cause = cause_view(g, msg.get("values") or {}, config, lang) if gkey == "tripped" else None
    out["guard"] = {"key": gkey, "mode": g.get("mode"), "label": t.gettext(fmt.GUARD_LABELS[gkey]), "cause": cause}
    out["beyond"] = beyond_view(msg.get("values") or {}, config, lang) if up else {}
    return out
