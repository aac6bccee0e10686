"""First-start setup, PIN login/logout, language."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .. import i18n, security
from ..access import SESSION_MAX_AGE_S, NeedsSetup
from ..context import Req, ReqDep

router = APIRouter()

LOGIN_TTL_S = 8 * 3600  # one shift and a bit; then log in again


def _safe_next(url: str | None) -> str:
    # Only local paths: never redirect to another site after login.
    if url and url.startswith("/") and not url.startswith("//"):
        return url
    return "/"


@router.get("/setup", include_in_schema=False)
def setup_page(r: Req = ReqDep) -> Response:
    if security.has_admin_pin(r.db):
        return r.redirect("/")
    if not r.loopback:
        raise HTTPException(403, r._("The first admin PIN can only be set at the box itself."))
    return r.render("setup.html")


@router.post("/setup", include_in_schema=False)
def setup_submit(pin: Annotated[str, Form()], pin2: Annotated[str, Form()], r: Req = ReqDep) -> Response:
    if security.has_admin_pin(r.db):
        raise HTTPException(409, r._("An admin PIN exists already."))
    if not r.loopback:
        raise HTTPException(403, r._("The first admin PIN can only be set at the box itself."))
    error = None
    if pin != pin2:
        error = r._("The two PINs differ.")
    else:
        try:
            security.set_pin(r.db, "admin", pin)
        except security.PinError:
            error = r._("A PIN is 4 to 12 digits.")
    if error:
        return r.render("setup.html", status_code=422, error=error)
    _log_in(r, "admin")
    r.audit("ui.setup", "admin")  # the action says it (audit_view.ACTIONS)
    r.flash(r._("Admin PIN set. You are logged in as admin."))
    return r.redirect("/settings")


def _log_in(r: Req, role: str) -> None:
    s = r.request.session
    s["role"] = role
    s["role_until"] = time.time() + min(LOGIN_TTL_S, SESSION_MAX_AGE_S)
    s["csrf"] = security.new_csrf_token()  # new token per login (no fixation)


def _try_login(r: Req, role: str, pin: str) -> str | None:
    """None on success, else the message to show."""
    if role not in security.LOGIN_ROLES:
        return r._("Choose a role.")
    try:
        ok = security.login(r.db, role=role, pin=pin, client=r.client)
    except security.LockedOut as exc:
        r.audit("ui.login_locked", role, f"client {r.client}")
        n = int(exc.retry_after_s)
        return r.t.ngettext("Too many wrong PINs. Try again in %(s)s second.",
                            "Too many wrong PINs. Try again in %(s)s seconds.", n) % {"s": n}
    if not ok:
        r.audit("ui.login_failed", role, f"client {r.client}")
        return r._("Wrong PIN.")
    _log_in(r, role)
    r.role = r.logged_in = role
    r.audit("ui.login", role, f"client {r.client}")
    return None


@router.get("/login", include_in_schema=False)
def login_page(next: str | None = None, role: str | None = None, r: Req = ReqDep) -> Response:
    if not security.has_admin_pin(r.db):
        raise NeedsSetup()
    return r.render("login.html", next=_safe_next(next), chosen=role,
                    roles=[x for x in security.LOGIN_ROLES if x in security.roles_with_pin(r.db)])


@router.post("/login", include_in_schema=False)
def login_submit(role: Annotated[str, Form()], pin: Annotated[str, Form()],
                 next: Annotated[str, Form()] = "/", r: Req = ReqDep) -> Response:
    error = _try_login(r, role, pin)
    if error:
        return r.render("login.html", status_code=401, error=error, next=_safe_next(next), chosen=role,
                        roles=[x for x in security.LOGIN_ROLES if x in security.roles_with_pin(r.db)])
    return r.redirect(_safe_next(next))


@router.post("/logout", include_in_schema=False)
def logout_submit(r: Req = ReqDep) -> Response:
    if r.logged_in:
        r.audit("ui.logout", r.logged_in)
    r.request.session.pop("role", None)
    r.request.session["csrf"] = security.new_csrf_token()
    return r.redirect("/")


@router.post("/language", include_in_schema=False)
def language_submit(lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/", r: Req = ReqDep) -> Response:
    if lang in i18n.LANGUAGES:
        r.request.session["lang"] = lang
    return r.redirect(_safe_next(next))


# ----- JSON API ---------------------------------------------------------------
class LoginIn(BaseModel):
    role: str = Field(..., title="Role", description="maintenance, coordinator or admin")
    pin: str = Field(..., title="PIN", min_length=1, max_length=32)


class SessionOut(BaseModel):
    role: str | None = Field(None, title="Current role (operator without login on the local kiosk)")
    logged_in: bool = Field(..., title="Logged in with a PIN")
    language: str = Field(..., title="Language")
    csrf: str = Field(..., title="CSRF token to send as X-CSRF-Token on changes")


def _session_out(r: Req) -> SessionOut:
    return SessionOut(role=r.role, logged_in=r.logged_in is not None, language=r.lang, csrf=r.request.session["csrf"])


@router.get("/api/v1/session", response_model=SessionOut, tags=["session"])
def session_get(r: Req = ReqDep) -> SessionOut:
    """Who am I; also hands out the CSRF token for API clients."""
    return _session_out(r)


@router.post("/api/v1/session", response_model=SessionOut, tags=["session"])
def session_login(body: LoginIn, r: Req = ReqDep) -> SessionOut:
    if not security.has_admin_pin(r.db):
        raise NeedsSetup()
    error = _try_login(r, body.role, body.pin)
    if error:
        raise HTTPException(401, error)
    return _session_out(r)


@router.delete("/api/v1/session", response_model=SessionOut, tags=["session"])
def session_logout(r: Req = ReqDep) -> SessionOut:
    if r.logged_in:
        r.audit("ui.logout", r.logged_in)
    r.request.session.pop("role", None)
    return _session_out(Req(r.request, r.state))
