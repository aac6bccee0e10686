"""Issue 16: the core's socket takes no role from the request body and serves
only its own user (SO_PEERCRED); roles come as grants signed with the box's key.

A real IpcServer on a Unix socket in a temp dir, real clients."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from appliance.errors import PermissionDenied
from appliance.ipc import IpcClient, IpcServer
from appliance.keys import key_path, role_grant, session_key, verify_grant
from appliance.storage import open_db


def _guard_like(seen: list[str]) -> dict[str, Any]:
    def set_mode(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req["role"])
        return {"mode": req["mode"], "role": req["role"]}

    return {"guard.set_mode": set_mode, "status": lambda req: {"parts": []}}


async def test_a_role_named_in_the_request_is_refused(tmp_path: Path) -> None:
    seen: list[str] = []
    key = session_key(tmp_path)
    async with IpcServer(tmp_path / "core.sock", _guard_like(seen), role_key=key):
        client = IpcClient(tmp_path / "core.sock")
        named = await client.request("guard.set_mode", mode="armed", role="admin")
        assert named["ok"] is False and named["denied"] and "role" in named["error"]
        both = await client.request("guard.set_mode", mode="armed", role="admin",
                                    grant=role_grant(key, "operator"))
        assert both["ok"] is False and both["denied"]
        ok = await client.request("guard.set_mode", mode="armed", grant=role_grant(key, "maintenance"))
        assert ok == {"ok": True, "mode": "armed", "role": "maintenance"}
    assert seen == ["maintenance"]  # the handler never ran for the refused requests


@pytest.mark.parametrize("grant", [
    role_grant(b"k" * 32, "admin"),                                    # another box's key
    role_grant(b"x" * 32, "admin", now_s=0),                           # this box's key, long expired
    "admin.99999999999999.00.deadbeef",                                # made up
    "admin",
])
async def test_forged_or_expired_grants_are_refused(tmp_path: Path, grant: str) -> None:
    key = b"x" * 32
    seen: list[str] = []
    async with IpcServer(tmp_path / "core.sock", _guard_like(seen), role_key=key):
        reply = await IpcClient(tmp_path / "core.sock").request("guard.set_mode", mode="armed", grant=grant)
    assert reply["ok"] is False and reply["denied"]
    assert seen == []


def test_grant_checks() -> None:
    key = os.urandom(32)
    assert verify_grant(key, role_grant(key, "admin")) == "admin"
    with pytest.raises(PermissionDenied, match="expired"):
        verify_grant(key, role_grant(key, "admin", now_s=1000.0), now_s=1000.0 + 31)
    with pytest.raises(PermissionDenied, match="not signed"):
        verify_grant(key, role_grant(key, "admin").replace("admin", "admim", 1))


async def test_a_peer_of_another_user_is_refused(tmp_path: Path) -> None:
    """SO_PEERCRED: the kernel's word on who connected. Only the core's own user
    (and root) may talk; here our own uid is left out, so we are the stranger."""
    stranger_only = frozenset({os.getuid() + 4242})
    async with IpcServer(tmp_path / "core.sock", {"status": lambda req: {"parts": []}},
                         allowed_uids=stranger_only):
        reply = await IpcClient(tmp_path / "core.sock").request("status")
    assert reply["ok"] is False and reply["denied"] and f"uid {os.getuid()}" in reply["error"]
    async with IpcServer(tmp_path / "core.sock", {"status": lambda req: {"parts": []}}):
        assert (await IpcClient(tmp_path / "core.sock").request("status"))["ok"]


def test_key_file_is_private_and_shared_by_core_and_ui(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a = session_key(data)
    assert session_key(data) == a and len(a) == 32
    assert stat.S_IMODE(key_path(data).stat().st_mode) == 0o600
    os.chmod(key_path(data), 0o644)  # someone loosened it
    assert session_key(data) == a
    assert stat.S_IMODE(key_path(data).stat().st_mode) == 0o600


def test_database_and_data_dir_modes(tmp_path: Path) -> None:
    data = tmp_path / "box"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    db = open_db(data / "werkvloer.db")
    db.conn.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o750
    assert stat.S_IMODE((data / "werkvloer.db").stat().st_mode) & 0o137 == 0
