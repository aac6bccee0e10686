"""Per-app state and per-request context (role, language, CSRF, translations).

``UiState`` is built once by ``create_app``; ``Req`` is what every route gets
through ``Depends(req)``: who is asking (role), in which language, and the
helpers to render a page.
"""

from __future__ import annotations

import dataclasses
import gettext
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from appliance.config import BoxConfig
from appliance.storage import audit, connect, get_setting

from . import fmt, i18n, security
from .corelink import CoreLink, LiveHub

HERE = Path(__file__).parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PASSIVE_PATHS = frozenset({"/api/v1/live", "/api/v1/home", "/api/v1/health"})


@dataclasses.dataclass
class UiState:
    config: BoxConfig
    db_path: Path
    link: CoreLink
    hub: LiveHub
    envs: dict[str, Environment]
    started_ns: int
    config_path: Path | None = None
    listen_host: str | None = None  # what uvicorn listens on (set by local_ui.server; None in tests)
    _local: threading.local = dataclasses.field(default_factory=threading.local)

    def db(self) -> sqlite_utils.Database:
        """A connection per thread (FastAPI runs sync routes in a pool)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(connect(self.db_path))
            self._local.db = db
        return db

    def remote_access(self) -> bool:
        value = get_setting(self.db(), "ui.remote_access")
        if value is None:
            return self.config.ui.remote_access
        return value == "1"

    def default_language(self) -> str:
        return get_setting(self.db(), "ui.language") or self.config.box.language


def make_envs() -> dict[str, Environment]:
    envs = {}
    for lang in i18n.LANGUAGES:
        env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
        env.globals["lang"] = lang
        env.globals["nav_items"] = fmt.NAV_ITEMS
        env.globals["role_label"] = lambda role: fmt.ROLE_LABELS.get(role or "", role or "")
        env.globals["state_labels"] = fmt.STATE_LABELS
        env.globals["guard_labels"] = fmt.GUARD_LABELS
        env.globals["alert_states"] = fmt.ALERT_STATES
        env.globals["severity_labels"] = fmt.SEVERITY_LABELS
        env.globals["label_names"] = fmt.LABEL_NAMES
        env.globals["source_labels"] = fmt.SOURCE_LABELS
        env.globals["kind_labels"] = fmt.KIND_LABELS
        env.globals["eval_labels"] = fmt.EVAL_LABELS
        envs[lang] = env
    return envs


class Req:
    """Who is asking, in which language; render helpers."""

    def __init__(self, request: Request, state: UiState) -> None:
        self.request = request
        self.state = state
        session = request.session
        host = request.client.host if request.client else ""
        self.client = host
        self.loopback = host in security.LOOPBACK
        if "csrf" not in session:
            session["csrf"] = security.new_csrf_token()
        self.csrf: str = session["csrf"]
        logged = session.get("role")
        expires = session.get("role_until", 0)
        now = time.time()
        idle_s = state.config.ui.idle_logout_s
        if logged and self.loopback and idle_s and now - session.get("seen", now) > idle_s:
            expires = 0  # the kiosk at the machine: nobody touched it for a while, back to operator
        if logged and expires < now:
            session.pop("role", None)
            logged = None
        if logged and request.url.path not in PASSIVE_PATHS:
            session["seen"] = now  # a live stream or a poll is not a person using the screen
        self.logged_in: str | None = logged if logged in security.LOGIN_ROLES else None
        self.role: str | None = self.logged_in or ("operator" if self.loopback else None)
        lang = session.get("lang") or state.default_language()
        self.lang = lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
        self.t: gettext.NullTranslations = i18n.translations(self.lang)

    @property
    def db(self) -> sqlite_utils.Database:
        return self.state.db()

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def may(self, capability: str) -> bool:
        return security.may(self.role, capability)

    def require(self, capability: str) -> str:
        if not self.may(capability):
            raise HTTPException(403 if self.role else 401, self._("You may not do this; log in with a role that may."))
        assert self.role is not None
        return self.role

    def audit(self, action: str, target: str | None = None, detail: str | None = None) -> None:
        audit(self.db, role=self.role or "anonymous", action=action, target=target, detail=detail)

    def flash(self, message: str, kind: str = "ok", undo: str | None = None) -> None:
        """A message on the next page; ``undo`` = a URL the banner's Undo button posts to."""
        self.request.session["flash"] = [kind, message, undo]

    def render(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        env = self.state.envs[self.lang]
        flash = self.request.session.pop("flash", None)
        f = fmt.Formatter(self.lang, self.state.config.box.timezone)
        html = env.get_template(name).render(
            req=self, role=self.role, num=f.num, pct=f.pct, ftime=f.time, fdur=f.duration, csrf=self.csrf, cfg=self.state.config, flash=flash,
            path=self.request.url.path, **ctx)
        return HTMLResponse(html, status_code=status_code)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def csrf_field(self) -> Markup:
        return Markup('<input type="hidden" name="csrf" value="%s">') % self.csrf


def ui_state(request: Request) -> UiState:
    return request.app.state.ui  # type: ignore[no-any-return]


async def req(request: Request) -> Req:
    """Every route's gate: remote access, first-start setup, CSRF."""
    state = ui_state(request)
    r = Req(request, state)
    if not r.loopback and not state.remote_access():
        raise HTTPException(403, r._("Remote access is off. An admin can turn it on at the box (Settings)."))
    if request.method not in SAFE_METHODS:
        token = request.headers.get("x-csrf-token")
        if token is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            token = form.get("csrf")  # type: ignore[assignment]
        if not security.csrf_ok(r.csrf, token):
            raise HTTPException(403, r._("The form was stale; reload the page and try again."))
    return r


ReqDep = Depends(req)
