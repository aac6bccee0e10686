"""IPC handlers of the guard (``appliance.ipc.IpcServer`` ops)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def handlers(guard: Any) -> dict[str, Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]]:
    """``guard.status``, ``guard.set_mode {mode, role}``, ``guard.reset {role}``, ``models.reload``.

    ``models.reload`` makes the guard apply the registry's active/shadow
    versions now (the UI and ``werkvloer model`` ask after each change);
    it answers within ~1.5 s, ``pending: true`` if loading takes longer.

    ``PermissionDenied`` / ``ValueError`` raised here become ``{"ok": false, "error": ...}``.
    """

    def status(req: dict[str, Any]) -> dict[str, Any]:
        return guard.status()

    def set_mode(req: dict[str, Any]) -> dict[str, Any]:
        mode, role = req.get("mode"), req.get("role")
        if not isinstance(mode, str) or not isinstance(role, str):
            raise ValueError("guard.set_mode needs 'mode' (off, shadow or armed) and 'role'")
        return guard.set_mode(mode, role)

    def reset(req: dict[str, Any]) -> dict[str, Any]:
        role = req.get("role")
        if not isinstance(role, str):
            raise ValueError("guard.reset needs 'role'")
        return guard.reset(role, source=str(req.get("source", "ui")))

    async def reload(req: dict[str, Any]) -> dict[str, Any]:
        from .engine import RELOAD_WAIT_S

        # Loading and validating run in the guard's watcher thread; this only waits, off the event loop.
        return await asyncio.to_thread(guard.reload_models, wait_s=RELOAD_WAIT_S)  # type: ignore[no-any-return]

    return {"guard.status": status, "guard.set_mode": set_mode, "guard.reset": reset, "models.reload": reload}
