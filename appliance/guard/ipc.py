"""IPC handlers of the guard (``appliance.ipc.IpcServer`` ops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def handlers(guard: Any) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """``guard.status``, ``guard.set_mode {mode, role}``, ``guard.reset {role}``.

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

    return {"guard.status": status, "guard.set_mode": set_mode, "guard.reset": reset}
