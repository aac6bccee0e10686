"""The UI's link to the core process: requests over IPC and one shared live stream.

The UI never talks to devices; live values, guard commands and the health of
every part come from the core over ``appliance.ipc`` (a Unix socket). When the
core is not running (or the IPC module is not installed) every call raises
``CoreDown`` and the screens say so.

``LiveHub`` keeps one IPC ``live`` subscription however many browsers listen,
and fans each message out to the SSE clients (latest message wins for a slow
client: a touchscreen wants the newest value, not a backlog).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from appliance.errors import DeviceUnavailable

log = logging.getLogger(__name__)

RETRY_S = 1.0  # reconnect delay after the core went away


class CoreDown(DeviceUnavailable):
    """The core process does not answer; start it with `werkvloer core --config FILE`."""


def _ipc_module() -> Any:
    try:
        from appliance import ipc
    except ModuleNotFoundError as exc:
        if exc.name == "appliance.ipc":
            return None
        raise
    return ipc


class CoreLink:
    def __init__(self, path: str | Path, *, timeout_s: float = 2.0, role_key: bytes | None = None) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._role_key = role_key

    async def request_as(self, role: str, op: str, **args: Any) -> dict[str, Any]:
        """A request on behalf of the logged-in session's ``role``: the core
        takes the role only from a grant signed with the box's key."""
        if self._role_key is None:
            raise CoreDown("the ui has no key to speak for a role")
        from appliance.keys import role_grant

        return await self.request(op, grant=role_grant(self._role_key, role), **args)

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        """One IPC request. Raises ``CoreDown`` when the core is not there,
        ``PermissionError``/``ValueError`` when it refused the request."""
        ipc = _ipc_module()
        if ipc is None:
            raise CoreDown("the core IPC (appliance.ipc) is not installed yet")
        try:
            client = ipc.IpcClient(self.path)
            reply = await asyncio.wait_for(client.request(op, **args), self.timeout_s)
        except ipc.CoreUnavailable as exc:
            raise CoreDown(f"core not running ({exc})") from None
        except (TimeoutError, ConnectionError, FileNotFoundError, OSError) as exc:
            raise CoreDown(f"core not answering ({exc.__class__.__name__})") from None
        if isinstance(reply, dict) and reply.get("ok") is False:
            err = str(reply.get("error") or "refused")
            if reply.get("denied"):
                raise PermissionError(err)
            raise ValueError(err)
        return reply

    async def stream(self, op: str = "live") -> AsyncIterator[dict[str, Any]]:
        ipc = _ipc_module()
        if ipc is None:
            raise CoreDown("the core IPC (appliance.ipc) is not installed yet")
        try:
            client = ipc.IpcClient(self.path)
            async for msg in client.stream(op):
                yield msg
        except ipc.CoreUnavailable as exc:
            raise CoreDown(f"core not running ({exc})") from None
        except (ConnectionError, FileNotFoundError, OSError) as exc:
            raise CoreDown(f"core connection lost ({exc.__class__.__name__})") from None


class LiveHub:
    """One live subscription to the core, many listeners."""

    def __init__(self, link: CoreLink) -> None:
        self.link = link
        self.latest: dict[str, Any] = {"core": "connecting"}
        self.core_up = False
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        q.put_nowait(self.latest)
        self._listeners.add(q)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ui-live-relay")
        try:
            yield q
        finally:
            self._listeners.discard(q)
            if not self._listeners and self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
                self._task = None

    def _publish(self, msg: dict[str, Any]) -> None:
        self.latest = msg
        for q in list(self._listeners):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(msg)

    async def _run(self) -> None:
        while self._listeners:
            try:
                async for msg in self.link.stream("live"):
                    if not self.core_up:
                        log.info("core live stream connected")
                        self.core_up = True
                    out = dict(msg)
                    out["core"] = "up"
                    out["ui_ts"] = time.time_ns()
                    self._publish(out)
                raise CoreDown("core closed the live stream")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: core unavailable, retry
                if self.core_up:
                    log.error("core live stream lost: %s", exc)
                self.core_up = False
                self._publish({"core": "unavailable", "reason": str(exc)})
                await asyncio.sleep(RETRY_S)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
