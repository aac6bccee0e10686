"""Host and Origin allow-lists and the browser security headers (issue 16).

Without a Host check a page on any site can reach the box through DNS
rebinding (its name resolving to 127.0.0.1), read a CSRF token and release a
latched stop; without an Origin check any site may post to the box from a
browser on the shop floor. So every request:

- must name an allowed ``Host``: a loopback name, an IP address (a rebinding
  page always carries its own domain name), the box's host name (also
  ``.local``), the configured ``ui.host`` or a name in ``ui.allowed_hosts``;
- if it carries an ``Origin`` (browsers send one on every POST and on
  cross-site fetches), that origin's host must be allowed the same way. A
  foreign origin gets nothing, not even ``GET /api/v1/session``'s token;
- gets ``Content-Security-Policy`` (no framing, nothing from elsewhere),
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: same-origin``.

A refused request is a 400 (bad Host) or 403 (foreign Origin) with the API's
error body, and one WARNING per refused name (not per request).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# FastAPI's Swagger page starts itself with an inline script.
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")
DOCS_PATHS = ("/api/v1/docs",)
HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin")]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def allowed_names(ui_host: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    names = set(LOOPBACK_NAMES)
    host = socket.gethostname().lower()
    if host:
        names |= {host, f"{host}.local"}
    if ui_host and ui_host not in ("0.0.0.0", "::", ""):
        names.add(ui_host.lower())
    names |= {n.lower().rstrip(".") for n in extra if n}
    return frozenset(names)


def _split_host(value: str) -> str:
    """The name of a Host header value, without the port (``[::1]:8080`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class SecurityHeaders:
    """ASGI middleware around the whole app, Starlette's error middleware included (``local_ui.app.BoxApp``)."""

    def __init__(self, app: Any, *, names: frozenset[str]) -> None:
        self.app = app
        self.names = names
        self._warned: set[str] = set()

    def host_ok(self, name: str) -> bool:
        return bool(name) and (name in self.names or _is_ip(name))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = _split_host(headers.get("host", ""))
        if not self.host_ok(host):
            await self._refuse(send, 400, f"host {host or '(none)'!r} is not this box's name; open the box by its "
                                          "address, or add the name to ui.allowed_hosts in the config", host)
            return
        origin = headers.get("origin")
        if origin is not None:
            o = urlsplit(origin) if origin != "null" else None
            name = (o.hostname or "") if o is not None else ""
            if o is None or o.scheme not in ("http", "https") or not self.host_ok(name):
                await self._refuse(send, 403, f"requests from {origin!r} are refused; use the box's own pages",
                                   origin)
                return
        csp = (CSP_DOCS if scope.get("path", "").startswith(DOCS_PATHS) else CSP).encode()

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", csp), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, send: Any, status: int, message: str, what: str) -> None:
        if what not in self._warned and len(self._warned) < 1000:
            self._warned.add(what)
            log.warning("ui: refused a request: %s", message)
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"content-security-policy", CSP.encode()), *HEADERS]})
        await send({"type": "http.response.body", "body": body})
