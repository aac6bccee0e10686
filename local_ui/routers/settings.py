"""Settings (admin; maintenance sees the guard and models): config summary and
check, guard mode, models, language, PINs, remote access, data leaving the box."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.config import load_config, summary
from appliance.errors import ConfigError
from appliance.storage import set_setting

from .. import audit_view, i18n, security, services
from ..access import NeedsLogin, api_guard, page_guard
from ..context import Req, ReqDep
from .core import guard_status

router = APIRouter()


def _config_check(r: Req) -> dict[str, Any]:
    path = r.state.config_path
    if path is None:
        return {"path": None, "ok": None, "problems": []}
    try:
        load_config(path)
    except ConfigError as exc:
        return {"path": str(path), "ok": False, "problems": [f"{p}: {m}" for p, m in exc.problems]}
    return {"path": str(path), "ok": True, "problems": []}


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
        ctx.update(summary=summary(r.state.config), check=_config_check(r), remote=r.state.remote_access(),
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
    return {"summary": summary(r.state.config), "check": _config_check(r), "remote_access": r.state.remote_access(),
            "language": r.state.default_language(), "roles_with_pin": security.roles_with_pin(r.db),
            "sync": {"enabled": False, "note": "nothing leaves the box yet"}}
