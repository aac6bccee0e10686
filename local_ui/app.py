"""The local UI's FastAPI app factory.

``create_app(config)`` returns the app: server-rendered pages (Jinja2, a little
plain JavaScript, SVG charts drawn on the server), the JSON API under
``/api/v1`` (OpenAPI at ``/openapi.json``) and live values over SSE. The app
reads the box database and writes only its own user entries; live values and
guard commands go to the core over IPC.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from appliance.config import BoxConfig
from appliance.database import open_box_db
from appliance.keys import KEY_FILE, cookie_secret, session_key
from appliance.storage import get_setting, write_tx

from . import api_errors, store
from .access import SESSION_MAX_AGE_S, NeedsLogin, NeedsSetup, api_guard, page_guard
from .api_errors import error_response, validation_problems
from .context import HERE, Req, UiState, make_envs
from .corelink import CoreLink, LiveHub
from .security_headers import SecurityHeaders, allowed_names

log = logging.getLogger(__name__)

def _forget_old_session_secret(db: Any) -> None:
    """Before issue 16 the cookie key was a database setting; a copy of the
    database must not sign cookies, so it is removed (everyone logs in again)."""
    if get_setting(db, "ui.session_secret") is not None:
        with write_tx(db):
            db.execute("DELETE FROM settings WHERE key = ?", ["ui.session_secret"])
        log.info("removed the old session key from the database; the key is now a file of its own (%s)",
                 KEY_FILE)


class BoxApp(FastAPI):
    """FastAPI with the security headers outside *everything*, Starlette's ServerErrorMiddleware
    included: that one is always outermost in ``build_middleware_stack`` and answers an unexpected
    exception (the 500 of ``api_errors``) itself, so a middleware added with ``add_middleware``
    never saw that answer and it went out without CSP or X-Frame-Options (issue 16)."""

    def __init__(self, *, host_names: frozenset[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.host_names = host_names

    def build_middleware_stack(self) -> Any:
        return SecurityHeaders(super().build_middleware_stack(), names=self.host_names)


def create_app(config: BoxConfig, *, db_path: str | Path | None = None, ipc_path: str | Path | None = None,
               session_secret: str | None = None, config_path: str | Path | None = None) -> FastAPI:
    """Build the UI app. ``db_path`` defaults to the config's database,
    ``ipc_path`` to ``<data_dir>/core.sock``."""
    db_file = Path(db_path) if db_path is not None else config.db_path
    sock = Path(ipc_path) if ipc_path is not None else Path(config.box.data_dir) / "core.sock"
    db = open_box_db(db_file)
    store.migrations.apply(db)
    _forget_old_session_secret(db)
    db.conn.close()
    key = session_key(config.box.data_dir)
    secret = session_secret or cookie_secret(key)

    link = CoreLink(sock, role_key=key)
    state = UiState(config=config, db_path=db_file, link=link, hub=LiveHub(link), envs=make_envs(),
                    started_ns=time.time_ns(), config_path=Path(config_path) if config_path else None)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.hub.close()

    app = BoxApp(title="Werkvloer local UI", version="1", docs_url=None, redoc_url=None,  # /api/v1/docs: routers/docs.py, no CDN
                 lifespan=lifespan, host_names=allowed_names(config.ui.host, config.ui.allowed_hosts),
                 description="Shop-floor box: machine state, stops, alerts, KPIs, guard. "
                             "State-changing requests need the session's CSRF token (X-CSRF-Token).")
    app.state.ui = state
    # Signed (itsdangerous) cookie session; Starlette always sets HttpOnly.
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="werkvloer_session",
                       max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from .routers import (
        alerts,
        content,
        core,
        docs,
        guard_override,
        kpi,
        model_status,
        models,
        pages,
        review,
        session,
        settings,
        stops,
        timeline,
    )
    from .routers import sync as sync_page

    for mod in (session, core, guard_override, pages, stops, review, alerts, kpi, content, settings, model_status, models, docs, sync_page, timeline):
        app.include_router(mod.router)
    api_errors.install(app)  # one error body, every error status documented

    @app.exception_handler(NeedsSetup)
    async def _needs_setup(request: Request, exc: NeedsSetup) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(409, "first start: set an admin PIN at /setup on the box")
        return RedirectResponse("/setup", status_code=303)

    @app.exception_handler(NeedsLogin)
    async def _needs_login(request: Request, exc: NeedsLogin) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(401, f"log in with a role that may do {exc.capability}")
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.method not in ("GET", "HEAD"):
            if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
                return error_response(exc.status_code, exc.detail, headers=exc.headers)
        r = Req(request, state)
        return r.render("error.html", status_code=exc.status_code, message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError) -> Response:
        problems = validation_problems(exc.errors())
        if request.url.path.startswith("/api/"):
            return error_response(422, "invalid input: " + "; ".join(problems), problems=problems)
        r = Req(request, state)
        return r.render("error.html", status_code=422, message="; ".join(problems))

    return app


__all__ = ["SESSION_MAX_AGE_S", "NeedsLogin", "NeedsSetup", "api_guard", "create_app", "page_guard"]
