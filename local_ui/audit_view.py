"""Audit entries and alert history in words: what happened, who (the role), when (local time),
details without JSON or nanosecond stamps."""

from __future__ import annotations

import json
from typing import Any

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
    "model.shadow_clear": N_("shadow model removed"), "sync.consent": N_("sync consent changed"),
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


def role_text(role: str | None, lang: str) -> str:
    t = translations(lang)
    return t.gettext(fmt.ROLE_LABELS[role]) if role in fmt.ROLE_LABELS else (role or "")


def _value(key: str, v: Any, f: fmt.Formatter) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and (key in TIME_KEYS or key.endswith("_ns")) and v > 10**17:
        return f.time(v, date=True)
    if isinstance(v, bool | int | float):
        return labels.value_text(v, None, f)
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)[:80]
    return str(v)


def detail_text(detail: Any, lang: str, tz: str) -> str:
    """A stored detail (JSON text, a dict or plain text) as short readable text."""
    if detail is None or detail == "":
        return ""
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return detail
    f = fmt.Formatter(lang, tz)
    if isinstance(detail, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_value(k, v, f)}" for k, v in detail.items() if v is not None)
    return _value("", detail, f)


def _rule_detail_re() -> Any:
    import re

    return re.compile(r"^(?P<signal>\w+) = (?P<value>[-+\d.eE]+) (?P<kind>above|below) (?P<limit>[-+\d.eE]+) "
                      r"for (?P<ms>[\d.]+) ms$")


RULE_DETAIL = _rule_detail_re()


def alert_detail_text(detail: str | None, config: Any, lang: str) -> str:
    """The guard's rule detail ("motor_current = 23.341 above 20 for 200 ms") in words; other text as is."""
    if not detail:
        return ""
    m = RULE_DETAIL.match(detail.strip())
    if not m:
        return detail
    t = translations(lang)
    f = fmt.Formatter(lang, config.box.timezone)
    unit = labels.signal_unit(config, m["signal"])
    text = t.gettext(N_("%(signal)s %(value)s, above the limit of %(limit)s for %(duration)s") if m["kind"] == "above"
                     else N_("%(signal)s %(value)s, below the limit of %(limit)s for %(duration)s"))
    return text % {"signal": labels.signal_label(config, m["signal"], lang),
                   "value": labels.value_text(float(m["value"]), unit, f),
                   "limit": labels.value_text(float(m["limit"]), unit, f),
                   "duration": f"{labels.value_text(float(m['ms']), None, f)}\u00a0ms"}
