"""Small local IPC between the core and the ui process: JSON lines over a Unix socket.

The ui process asks the core for live values and sends guard commands; the
core never waits on the ui. One request per line, one response per line;
``stream`` ops keep the connection open and send a message per interval.

    {"op": "guard.set_mode", "mode": "armed", "grant": "<role grant>"}
    {"ok": true, ...} | {"ok": false, "error": "..."}

Who may talk (issue 16): the socket is 0660 and the core checks each peer's
credentials (``SO_PEERCRED``): only processes of the core's own user (the ui)
and root are served. An op that acts for a person takes the role from a
*role grant* (``appliance.keys``) the ui signs for the logged-in session; a
``role`` named in the request is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import EXPECTED, DeviceUnavailable, PermissionDenied
from .keys import verify_grant

log = logging.getLogger(__name__)
# Errors a handler raises on purpose: the caller gets the message, not a traceback.
_ANSWERED: tuple[type[Exception], ...] = (*EXPECTED, ValueError, KeyError)

Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
StreamSource = Callable[[], dict[str, Any]]

MAX_LINE = 1 << 20


class CoreUnavailable(DeviceUnavailable):
    """The core process does not answer on its socket (is `werkvloer core` running?)."""


def _json_default(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def dumps(obj: object) -> bytes:
    return (json.dumps(obj, default=_json_default, allow_nan=False, separators=(",", ":")) + "\n").encode()


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON; send them as null."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


class IpcServer:
    """Serves ``handlers`` (request/response) and ``streams`` (periodic messages)."""

    def __init__(self, path: str | Path, handlers: dict[str, Handler] | None = None,
                 streams: dict[str, StreamSource] | None = None, *, stream_interval_s: float = 0.2,
                 role_key: bytes | None = None, allowed_uids: frozenset[int] | None = None) -> None:
        self.path = Path(path)
        self.role_key = role_key  # None: no op may act for a role
        self.allowed_uids = allowed_uids if allowed_uids is not None else frozenset({os.getuid(), 0})
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.streams: dict[str, StreamSource] = dict(streams or {})
        self.stream_interval_s = stream_interval_s
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    def register(self, op: str, handler: Handler) -> None:
        self.handlers[op] = handler

    async def __aenter__(self) -> IpcServer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket from a killed core
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_LINE)
        os.chmod(self.path, 0o660)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            refused = self._refuse_peer(writer)
            if refused:
                writer.write(dumps({"ok": False, "error": refused, "denied": True}))
                await writer.drain()
                return
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    op = req.pop("op")
                except (ValueError, KeyError, AttributeError, TypeError):
                    writer.write(dumps({"ok": False, "error": "bad request: send one JSON object with an 'op' per line"}))
                    await writer.drain()
                    continue
                if op in self.streams:
                    await self._stream(op, writer)
                    return
                writer.write(dumps(await self._call(op, req)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _refuse_peer(self, writer: asyncio.StreamWriter) -> str | None:
        """Why this peer may not talk to the core (SO_PEERCRED), or None."""
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 struct.calcsize("3i")))
        except (OSError, AttributeError, struct.error):
            return "cannot check the peer's credentials"
        if uid in self.allowed_uids:
            return None
        log.warning("IPC: refused a client of uid %d (pid %d); only uids %s may use %s", uid, pid,
                    sorted(self.allowed_uids), self.path)
        return f"uid {uid} may not use the core's socket"

    def _take_role(self, req: dict[str, Any]) -> None:
        """Replace the request's grant by the role it carries; refuse a named role."""
        if "role" in req:
            raise PermissionDenied("the core does not take a role from the request; the ui sends the logged-in "
                                   "session's role grant")
        if "grant" in req:
            if self.role_key is None:
                raise PermissionDenied("this core accepts no role grants")
            req["role"] = verify_grant(self.role_key, req.pop("grant"))

    async def _call(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(op)
        if handler is None:
            return {"ok": False, "error": f"unknown op {op!r}; known: {', '.join(sorted([*self.handlers, *self.streams]))}"}
        try:
            self._take_role(req)
            result = handler(req)
            if inspect.isawaitable(result):
                result = await result
            return {"ok": True, **_clean(result or {})}
        except PermissionDenied as exc:
            return {"ok": False, "error": str(exc), "denied": True}
        except _ANSWERED as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in one handler must not kill the socket
            log.exception("IPC op %s failed", op)
            return {"ok": False, "error": f"internal error in {op}: {exc}"}

    async def _stream(self, op: str, writer: asyncio.StreamWriter) -> None:
        source = self.streams[op]
        while True:
            try:
                msg = {"ok": True, **_clean(source())}
            except Exception as exc:
                log.exception("IPC stream %s failed", op)
                msg = {"ok": False, "error": str(exc)}
            writer.write(dumps(msg))
            await writer.drain()
            await asyncio.sleep(self.stream_interval_s)


class IpcClient:
    """Talks to the core. Each request opens a short connection (simple and robust)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 2.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path), limit=MAX_LINE), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise CoreUnavailable(
                f"the core does not answer on {self.path} ({exc.__class__.__name__}); "
                "is `werkvloer core` running? (systemctl status werkvloer-core)") from None

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        reader, writer = await self._open()
        try:
            writer.write(dumps({"op": op, **args}))
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise CoreUnavailable(f"the core stopped answering during {op!r}: {exc.__class__.__name__}") from None
        finally:
            writer.close()
        if not line:
            raise CoreUnavailable(f"the core closed the connection during {op!r}")
        return json.loads(line)

    async def stream(self, op: str = "live") -> AsyncIterator[dict[str, Any]]:
        reader, writer = await self._open()
        try:
            writer.write(dumps({"op": op}))
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    raise CoreUnavailable("the core closed the live stream")
                yield json.loads(line)
        finally:
            writer.close()


def exchange_line(sock: socket.socket, obj: object) -> dict[str, Any]:
    """Send one JSON line on a connected socket and read one JSON line back."""
    sock.sendall(dumps(obj))
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    if not buf:
        raise ConnectionError("the peer closed the connection without an answer")
    return json.loads(buf)


def request_sync(path: str | Path, op: str, *, timeout_s: float = 2.0, **args: Any) -> dict[str, Any]:
    """Blocking request (CLI, tests): same protocol, no event loop needed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
            return exchange_line(sock, {"op": op, **args})
        except OSError as exc:
            raise CoreUnavailable(f"the core does not answer on {path} ({exc}); is `werkvloer core` running?") from None


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "core.sock"
