"""The one access check of the pages and the API: first-start setup, login,
role. Routers call :func:`page_guard` or :func:`api_guard` with the capability
a route needs (``local_ui.security.CAPABILITIES``); ``create_app`` turns
``NeedsSetup``/``NeedsLogin`` into the setup screen, the login screen or 401/409.
:func:`found` is the one "no such thing" answer (404) after the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException

from . import security
from .context import Req

SESSION_MAX_AGE_S = 12 * 3600
T = TypeVar("T")


class NeedsSetup(Exception):
    """No admin PIN yet: every page leads to the setup screen."""


class NeedsLogin(Exception):
    def __init__(self, capability: str) -> None:
        self.capability = capability


def page_guard(r: Req, capability: str = "view") -> Req:
    """For page routes: first-start setup, then login when the role may not."""
    if not security.has_admin_pin(r.db):
        raise NeedsSetup()
    if not r.may(capability):
        raise NeedsLogin(capability)
    return r


def api_guard(r: Req, capability: str = "view") -> str:
    """For API routes: 409 before setup, 401 without a fitting login, 403 for a wrong role."""
    if not security.has_admin_pin(r.db):
        raise NeedsSetup()
    if not r.may(capability):
        if r.logged_in:
            raise HTTPException(403, f"role {r.role} may not do {capability}")
        raise NeedsLogin(capability)
    assert r.role is not None
    return r.role


def found(lookup: Callable[[], T], detail: str | None = None, *,
          missing: type[Exception] | tuple[type[Exception], ...] = LookupError) -> T:
    """``lookup()``, or a 404 when it raises ``missing`` (the stores raise ValueError, the content
    library LookupError): with ``detail``, or for the API the lookup's own message."""
    try:
        return lookup()
    except missing as exc:
        raise HTTPException(404, str(exc) if detail is None else detail) from exc
