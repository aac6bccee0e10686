"""Audit entries and alert history in words: what happened, who (the role), when (local time),
details without JSON or nanosecond stamps."""

from __future__ import annotations

import json
import re
from typing import Any

from content.progress import STATUS_NAMES

from . import fmt, labels
from .i18n import N_, translations

ACTIONS = {
    "raised": N_("raised"), "repeated": N_("came again"), "suppressed_flapping": N_("paused: it kept coming and going"),
    "acknowledge": N_("acknowledged"), "acknowledged": N_("acknowledged"), "label": N_("labelled"),
    "labelled": N_("labelled"), "comment": N_("comment added"), "close": N_("closed"), "closed": N_("closed"),
    "alert.acknowledge": N_("alert acknowledged"), "alert.label": N_("alert labelled"), "alert.close": N_("alert closed"),
    "alert.comment": N_("alert comment added"), "unlabel": N_("label undone"), "alert.unlabel": N_("alert label undone"),
    "guard.reset": N_("stop reset"), "guard.reset_override": N_("stop reset by maintenance override"), "guard.set_mode": N_("guard mode changed"),
    "kpi.assign_reason": N_("stop reason given"), "kpi.clear_reason": N_("stop reason undone"),
    "kpi.split_stop": N_("stop split"), "kpi.mark_period": N_("period marked"), "kpi.set_product": N_("product chosen"),
    "kpi.set_roi_inputs": N_("ROI inputs changed"), "kpi.export": N_("KPIs exported"),
    "model.install": N_("model installed"), "model.activate": N_("model activated"),
    "model.shadow_clear": N_("shadow model removed"), "model.active": N_("model made active"),
    "model.shadow": N_("model set to shadow"), "model.rollback_active": N_("active model rolled back"),
    "model.rollback_shadow": N_("shadow model rolled back"), "sync.consent": N_("sync consent changed"),
    "sync.send": N_("KPIs sent to the hub"), "sync.quarantine": N_("batch set aside"),
    "content.check": N_("check taken"), "content.progress": N_("step progress saved"),
    "ui.language": N_("language changed"), "ui.login": N_("logged in"), "ui.login_failed": N_("wrong PIN"),
    "ui.login_locked": N_("login locked after wrong PINs"), "ui.logout": N_("logged out"),
    "ui.pin_removed": N_("PIN removed"), "ui.pin_set": N_("PIN set"), "ui.remote_access": N_("remote access changed"),
    "ui.setup": N_("first start: admin PIN set"),
}
TIME_KEYS = ("ts", "utc_ns", "start_ns", "end_ns", "at_ns", "since_utc_ns")


def action_text(action: str, lang: str) -> str:
    t = translations(lang)
    return t.gettext(ACTIONS[action]) if action in ACTIONS else action.replace("_", " ").replace(".", ": ")


TARGETS = {"guard": N_("guard"), "box": N_("box"), "ui": N_("screen"), "kpi": N_("KPIs"), "sync": N_("sync"),
           # kpi.export: the granularity exported
           "hour": N_("hour"), "shift": N_("shift"), "day": N_("day")}
WORDS = {"on": N_("on"), "off": N_("off")}


def target_text(target: str | None, lang: str) -> str:
    """What an audit entry is about, in words: a role, a client, an alert, a part of the box."""
    if not target:
        return ""
    t = translations(lang)
    if target in fmt.ROLE_LABELS:
        return role_text(target, lang)
    if target in TARGETS:
        return t.gettext(TARGETS[target])
    if target.startswith("client "):
        return t.gettext(N_("from %(host)s")) % {"host": target.split(" ", 1)[1]}
    kind, _, ident = target.partition(":")
    if kind == "alert" and ident:
        return t.gettext(N_("alert %(id)s")) % {"id": ident}
    if kind == "stop" and ident:
        return t.gettext(N_("stop %(id)s")) % {"id": ident}
    return target


def role_text(role: str | None, lang: str) -> str:
    t = translations(lang)
    if role in fmt.ROLE_LABELS:
        return t.gettext(fmt.ROLE_LABELS[role])
    # An alert's own events name the part that raised it (guard, driver, box, kpi).
    return t.gettext(fmt.SOURCE_LABELS[role]) if role in fmt.SOURCE_LABELS else (role or "")


def _value(key: str, v: Any, f: fmt.Formatter) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and (key in TIME_KEYS or key.endswith("_ns")) and v > 10**17:
        return f.time(v, date=True)
    if isinstance(v, bool | int | float):
        return labels.value_text(v, None, f)
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)[:80]
    return str(v)


# Keys and coded values of the alert history's details (label, unlabel, raise) in words.
DETAIL_KEYS = {"severity": N_("severity"), "label": N_("label"), "comment": N_("comment"), "from": N_("was"),
               "to": N_("now"), "reason": N_("Reason"), "previous": N_("was"), "at_ns": N_("split at"),
               "new_stop": N_("new stop"), "start_ns": N_("from"), "end_ns": N_("until"), "note": N_("comment"),
               "answers": N_("answers"), "shared": N_("scores shared"), "cause": N_("cause"),
               "then": N_("guard after the reset"), "why": N_("why")}
# Keys whose value is a downtime reason code: shown as the reason's label.
REASON_KEYS = ("reason", "previous")
NO_REASON, NO_LABEL = N_("no reason"), N_("no label")
DETAIL_VALUES = {**fmt.SEVERITY_LABELS, **fmt.LABEL_NAMES, **fmt.GUARD_LABELS}
# Plain details of older entries, before they were stored as data (shown in words, or not at all
# where the action already says it).
OLD_DETAILS = {"first admin PIN set": ""}


def _pair(k: str, v: Any, f: fmt.Formatter, t: Any, reasons: dict[str, str]) -> str:
    key = t.gettext(DETAIL_KEYS[k]) if k in DETAIL_KEYS else k.replace("_", " ")
    if v is None:
        none = t.gettext(NO_REASON) if k in REASON_KEYS else t.gettext(NO_LABEL)
        return f"{key}: {none}"
    if k in REASON_KEYS and isinstance(v, str) and v in reasons:
        return f"{key}: {reasons[v]}"
    if k in DETAIL_KEYS and isinstance(v, str) and v in DETAIL_VALUES:
        return f"{key}: {t.gettext(DETAIL_VALUES[v])}"
    return f"{key}: {_value(k, v, f)}"


MODE_CHANGE = re.compile(r"(off|shadow|armed) -> (off|shadow|armed)")


def _plain_detail(detail: str, lang: str) -> str | None:
    """A stored plain-text detail in words, or None when it is not one of the box's own words."""
    t = translations(lang)
    if detail in OLD_DETAILS:
        return OLD_DETAILS[detail]
    if detail in STATUS_NAMES:  # content.progress: a step's new status
        return STATUS_NAMES[detail]["nl" if lang == "nl" else "en"]
    if detail in WORDS:
        return t.gettext(WORDS[detail])
    if detail.startswith("client "):
        return target_text(detail, lang)
    if mode := MODE_CHANGE.fullmatch(detail):  # the core's guard.set_mode
        return " → ".join(t.gettext(fmt.GUARD_LABELS[m]) for m in mode.groups())
    if detail in fmt.GUARD_LABELS:  # the ui's guard.set_mode: the mode asked for
        return t.gettext(fmt.GUARD_LABELS[detail])
    if detail.startswith("now "):  # a model rollback: the version now in the slot
        return f"{t.gettext(DETAIL_KEYS['to'])} {detail[4:]}"
    return None


def detail_text(detail: Any, lang: str, tz: str, reasons: dict[str, str] | None = None) -> str:
    """A stored detail (JSON text, a dict or plain text) as short readable text; ``reasons``
    maps downtime reason codes to their labels in ``lang``."""
    if detail is None or detail == "":
        return ""
    if isinstance(detail, str):
        if (plain := _plain_detail(detail, lang)) is not None:
            return plain
        try:
            detail = json.loads(detail)
        except ValueError:
            return detail
    f = fmt.Formatter(lang, tz)
    if isinstance(detail, dict):
        t = translations(lang)
        return "; ".join(_pair(k, v, f, t, reasons or {}) for k, v in detail.items()
                         if v is not None or k in ("to", *REASON_KEYS))
    return _value("", detail, f)


def _rule_detail_re() -> Any:
    import re

    return re.compile(r"^(?P<signal>\w+) = (?P<value>[-+\d.eE]+) (?P<kind>above|below) (?P<limit>[-+\d.eE]+) "
                      r"for (?P<ms>[\d.]+) ms(?:\. (?P<rest>Outputs: .*))?$")


RULE_DETAIL = _rule_detail_re()


def _rule_words(rule: dict[str, Any], config: Any, lang: str) -> str | None:
    """A rule trip (signal, kind, value, limit, for_ms, while) in words, with the signal's label and unit."""
    t = translations(lang)
    f = fmt.Formatter(lang, config.box.timezone)
    signal = str(rule.get("signal") or "")
    unit = labels.signal_unit(config, signal)
    try:
        duration = f"{labels.value_text(float(rule['for_ms']), None, f)}\u00a0ms"
        if rule.get("kind") == "stalled":
            text = t.gettext(N_("%(signal)s unchanged at %(value)s for %(duration)s") if not rule.get("while")
                             else N_("%(signal)s unchanged at %(value)s for %(duration)s while %(while)s is on"))
            return text % {"signal": labels.signal_label(config, signal, lang),
                           "value": labels.value_text(rule.get("value"), unit, f), "duration": duration,
                           "while": labels.signal_label(config, str(rule.get("while")), lang)}
        text = t.gettext(N_("%(signal)s %(value)s, above the limit of %(limit)s for %(duration)s")
                         if rule.get("kind") == "above"
                         else N_("%(signal)s %(value)s, below the limit of %(limit)s for %(duration)s"))
        return text % {"signal": labels.signal_label(config, signal, lang),
                       "value": labels.value_text(float(rule["value"]), unit, f),
                       "limit": labels.value_text(float(rule["limit"]), unit, f), "duration": duration}
    except (KeyError, TypeError, ValueError):
        return None


def alert_detail(stored: str | None, config: Any, lang: str) -> dict[str, Any]:
    """An alert's stored detail for the screen: ``text`` in ``lang`` (a guard rule's in words,
    with the signal's label and unit), ``error`` the raw technical error text (shown apart, as
    code), ``stored`` True when ``text`` is an old plain row shown as it was stored (no language)."""
    from appliance.alerts import detail_in

    d = detail_in(stored, lang)
    if not d.plain:
        text: str | None = d.text
        if isinstance(d.data.get("rule"), dict):
            words = _rule_words(d.data["rule"], config, lang)
            outputs = d.data.get("outputs")
            after = (outputs.get(lang) or outputs.get("en")) if isinstance(outputs, dict) else None
            text = f"{words}. {after}" if words and after else words or d.text
        return {"text": text, "error": d.error, "stored": False}
    m = RULE_DETAIL.match(d.text.strip())
    if not m:
        return {"text": d.text, "error": None, "stored": bool(d.text)}
    words = _rule_words({"signal": m["signal"], "kind": m["kind"], "value": m["value"], "limit": m["limit"],
                         "for_ms": m["ms"]}, config, lang)
    # An old armed trip's "Outputs: ..." is English as stored: shown apart, as stored text.
    return {"text": words or d.text, "error": m["rest"] if words else None, "stored": not words}


# The keys box alerts keep as evidence (appliance.health, dbwatch, kpi.engine) in words.
EVIDENCE_KEYS = {
    "free_bytes": N_("free space"), "total_bytes": N_("disk size"), "part": N_("part of the box"),
    "cause": N_("cause"), "error": N_("error message"), "delta_s": N_("clock set by (s)"), "shift": N_("shift"),
    "oee": N_("OEE"), "availability": N_("availability"), "performance": N_("performance"),
    "quality": N_("quality"), "target": N_("target"), "score": N_("score"), "threshold": N_("threshold"),
}
SHARES = {"oee", "availability", "performance", "quality", "target"}


def evidence_value(key: str, v: Any, config: Any, lang: str) -> tuple[str, str, bool]:
    """One stored evidence value for the alert page: (name in words, value, raw): a number formatted
    (bytes in MB, shares in %), a structure in words; other text is the raiser's own value (``raw``)."""
    t, f = translations(lang), fmt.Formatter(lang, config.box.timezone)
    name = t.gettext(EVIDENCE_KEYS[key]) if key in EVIDENCE_KEYS else labels.signal_label(config, key, lang)
    if isinstance(v, dict | list):
        return name, detail_text(v, lang, config.box.timezone), False
    if isinstance(v, int | float) and not isinstance(v, bool):
        if key.endswith("_bytes"):
            return name, labels.value_text(round(v / 2**20), "MB", f), False
        if key in SHARES:
            return name, f"{f.num(v * 100, 1)}\u00a0%", False
    return name, labels.value_text(v, labels.signal_unit(config, key), f), isinstance(v, str)
