"""Settings (admin; maintenance sees the guard and models): config summary and
check, guard mode, models, language, PINs, remote access, data leaving the box."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.config import load_config, summary, summary_data
from appliance.errors import ConfigError
from appliance.storage import set_setting

from .. import audit_view, fmt, i18n, labels, security, services
from ..access import NeedsLogin, api_guard, page_guard
from ..context import Req, ReqDep
from ..i18n import N_
from .core import guard_status

router = APIRouter()


def _config_check(r: Req) -> dict[str, Any]:
    path = r.state.config_path
    if path is None:
        return {"path": None, "ok": None, "problems": []}
    try:
        load_config(path)
    except ConfigError as exc:
        return {"path": str(path), "ok": False, "problems": [f"{p}: {m}" for p, m in exc.problems],
                "where": [{"where": str(p), "message": str(m)} for p, m in exc.problems]}
    return {"path": str(path), "ok": True, "problems": []}


KINDS = {"modbus": "Modbus", "opcua": "OPC UA", "gpio": "GPIO", "camera": N_("Camera")}
SECURITY = {"None": N_("no security"), "Sign": N_("signed"), "SignAndEncrypt": N_("signed and encrypted")}


def summary_view(r: Req) -> list[tuple[str, list[dict[str, str | None]]]]:
    """The config summary (``appliance.config.summary_data``) as rows (label, lines) in the screen's
    language; names, hosts, paths and addresses stay as configured."""
    config, _ = r.state.config, r._
    d, f = summary_data(config), fmt.Formatter(r.lang, config.box.timezone)
    n = f.num
    sources = []
    for x in d["sources"]:
        if x["kind"] == "modbus":
            line = _("%(name)s: %(kind)s at %(where)s (%(transport)s, unit %(unit)s), %(n)s signals") % {
                "kind": "Modbus", "name": x["name"], "where": x["where"], "transport": x["transport"].upper(),
                "unit": x["unit_id"], "n": x["signals"]}
        elif x["kind"] == "opcua":
            line = _("%(name)s: %(kind)s at %(where)s (%(security)s), %(n)s signals") % {
                "kind": "OPC UA", "name": x["name"], "where": x["where"],
                "security": _(SECURITY.get(x["security"], x["security"])), "n": x["signals"]}
        elif x["kind"] == "gpio":
            line = _("GPIO pins (%(factory)s): %(inputs)s inputs, %(analog)s analog") % {
                "factory": x["where"], "inputs": x["inputs"], "analog": x["analog"]}
        else:
            line = _("%(name)s: camera (%(backend)s)") % {"name": x["name"], "backend": x["where"]}
        sources.append(line)
    g, hb, st = d["guard"], d["heartbeat"], d["storage"]
    mode = _(fmt.GUARD_LABELS.get(g["mode"], g["mode"]))
    if g["run_permit"]:
        mode += "; " + _("with run permit")
    outputs = [f"{o['name']} ({_(KINDS.get(o['kind'], o['kind']))})" for o in d["outputs"]]
    if hb:
        outputs.append(_("heartbeat on %(output)s every %(ms)s ms") % {"output": hb["output"],
                                                                          "ms": n(hb["period_ms"], 0)})
    none = _("none")
    rows: list[tuple[str, list[Any]]] = [
        (_("Box"), [d["box"]["name"]]),
        (_("Data folder"), [d["box"]["data_dir"]]),
        (_("Language of the box"), [{"text": "Nederlands" if d["box"]["language"] == "nl" else "English",
                                     "lang": d["box"]["language"]}]),
        (_("Time zone"), [d["box"]["timezone"]]),
        (_("Sources"), sources or [none]),
        (_("Signals"), [_named(labels.signal_label(config, s, r.lang), s) for s in d["signals"]] or [none]),
        (_("Guard mode in the config"), [mode]),
        (_("Models"), [f"{m['name']}: {m['model']}" for m in g["models"]] or [none]),
        (_("Rules"), g["rules"] or [none]),
        (_("Stop outputs"), outputs or [none]),
        (_("Storage"), [_("written every %(s)s s; raw values kept %(days)s days") % {
            "s": n(st["batch_interval_s"], 1), "days": n(st["raw_retention_days"], 0)}]),
        (_("Address of the screens"), [d["ui"]["url"]]),
        (_("Remote access"), [_("on") if d["ui"]["remote_access"] else _("off")]),
    ]
    return [(label, [x if isinstance(x, dict) else {"text": x} for x in items]) for label, items in rows]


def _named(label: str, name: str) -> dict[str, str | None]:
    """A configured name with its label: the label in the screen's language, the name as code."""
    return {"text": label, "code": None if label == name else name}


def models_view(r: Req, guard: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return {"error": None, "models": services.models_list(r.db, r.state.config, guard)}
    except services.NotAvailable as exc:
        return {"error": str(exc), "models": []}


def _audit_rows(r: Req, limit: int = 15) -> list[dict[str, Any]]:
    rows = r.db.execute("SELECT ts, role, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    tz = r.state.config.box.timezone
    tree = services.reason_tree(r.state.config)
    reasons = {c: tree.get(c).label(r.lang) for c in tree.codes()}
    return [{"ts": t, "role": audit_view.role_text(ro, r.lang), "action": audit_view.action_text(a, r.lang),
             "target": audit_view.target_text(ta, r.lang), "detail": audit_view.detail_text(d, r.lang, tz, reasons)}
            for t, ro, a, ta, d in rows]


@router.get("/settings", include_in_schema=False)
async def settings_page(confirm_arm: bool = False, r: Req = ReqDep) -> Response:
    page_guard(r, "view")
    if not (r.may("settings") or r.may("guard.mode")):
        raise NeedsLogin("settings")
    gs = await guard_status(r, fresh=True)  # right after a change the live copy may still hold the old mode
    admin = r.may("settings")
    ctx: dict[str, Any] = {"guard": gs, "admin": admin, "models": models_view(r, gs), "confirm_arm": confirm_arm}
    if admin:
        ctx.update(summary=summary_view(r), check=_config_check(r), remote=r.state.remote_access(),
                   pins=security.roles_with_pin(r.db), login_roles=security.LOGIN_ROLES,
                   box_language=r.state.default_language(), audit=_audit_rows(r),
                   loopback_only=(r.state.listen_host or r.state.config.ui.host) in ("127.0.0.1", "localhost", "::1"))
    return r.render("settings.html", **ctx)


@router.post("/settings/pin", include_in_schema=False)
def settings_pin(role: Annotated[str, Form()], pin: Annotated[str, Form()] = "", pin2: Annotated[str, Form()] = "",
                 remove: Annotated[str, Form()] = "", r: Req = ReqDep) -> Response:
    page_guard(r, "settings")
    if role not in security.LOGIN_ROLES:
        raise HTTPException(422, r._("Choose a role."))
    if remove:
        try:
            security.remove_pin(r.db, role)
        except security.PinError as exc:
            raise HTTPException(422, r._("The admin PIN can be changed, not removed.")) from exc
        r.audit("ui.pin_removed", role)
        r.flash(r._("PIN removed."))
        return r.redirect("/settings#pins")
    if pin != pin2:
        r.flash(r._("The two PINs differ."), "bad")
        return r.redirect("/settings#pins")
    try:
        security.set_pin(r.db, role, pin)
    except security.PinError:
        r.flash(r._("A PIN is 4 to 12 digits."), "bad")
        return r.redirect("/settings#pins")
    r.audit("ui.pin_set", role)
    r.flash(r._("PIN saved."))
    return r.redirect("/settings#pins")


@router.post("/settings/remote", include_in_schema=False)
def settings_remote(enabled: Annotated[str, Form()], r: Req = ReqDep) -> Response:
    page_guard(r, "settings")
    on = enabled == "1"
    set_setting(r.db, "ui.remote_access", "1" if on else "0")
    r.audit("ui.remote_access", "ui", "on" if on else "off")
    r.flash(r._("Remote access is on.") if on else r._("Remote access is off."))
    return r.redirect("/settings#remote")


@router.post("/settings/language", include_in_schema=False)
def settings_language(lang: Annotated[str, Form()], r: Req = ReqDep) -> Response:
    page_guard(r, "settings")
    if lang not in i18n.LANGUAGES:
        raise HTTPException(422, r._("Unknown language."))
    set_setting(r.db, "ui.language", lang)
    r.request.session["lang"] = lang
    r.audit("ui.language", "box", lang)
    return r.redirect("/settings#language")


class RemoteIn(BaseModel):
    enabled: bool = Field(..., title="Allow access from other hosts (login needed for everything)")


@router.post("/api/v1/settings/remote-access", tags=["settings"])
def api_remote(body: RemoteIn, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "settings")
    set_setting(r.db, "ui.remote_access", "1" if body.enabled else "0")
    r.audit("ui.remote_access", "ui", "on" if body.enabled else "off")
    return {"remote_access": body.enabled}


@router.get("/api/v1/settings", tags=["settings"])
def api_settings(r: Req = ReqDep) -> dict[str, Any]:
    """Config summary and check, language, remote access, which roles have a PIN."""
    api_guard(r, "settings")
    return {"summary": summary(r.state.config), "summary_data": summary_data(r.state.config),
            "check": _config_check(r), "remote_access": r.state.remote_access(),
            "language": r.state.default_language(), "roles_with_pin": security.roles_with_pin(r.db),
            "sync": {"enabled": False, "note": "nothing leaves the box yet"}}
