"""The box's signing key, and the role grants the ui hands the core.

Issue 16: the session-signing key used to live in the database (mode 0644),
so anyone who could read, or copy, the database could sign an admin cookie.
It now lives in ``<data_dir>/session.key`` (mode 0600, owned by the box's
user), created on first use. The ui signs its session cookie with it; the
core checks the ui's role grants with it.

A *role grant* is how the ui tells the core which role the logged-in user
has: ``role.expires_ms.nonce.mac``, an HMAC-SHA256 with a key derived from the
session key for this purpose only, valid for ``GRANT_TTL_S``. The core never
takes a role named in a request body; a client that cannot read the key file
cannot speak for a role.

Files the box writes are private: ``secure_data_dir`` makes the data dir
0750 and the database 0640 (the units also set ``UMask=0027``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from pathlib import Path

from .errors import PermissionDenied

log = logging.getLogger(__name__)

KEY_FILE = "session.key"
GRANT_TTL_S = 30.0
DATA_DIR_MODE = 0o750
DB_MODE = 0o640
_KEY_MODE = 0o600


def key_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / KEY_FILE


def session_key(data_dir: str | os.PathLike[str]) -> bytes:
    """The box's key (32 random bytes), created 0600 on first use; a key file
    readable by others is made private again (and said so in the log)."""
    path = key_path(data_dir)
    if not path.exists():
        _create_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, _KEY_MODE)
        log.warning("%s was readable by others (mode %o); made it 0600", path, mode)
    key = path.read_bytes()
    if len(key) < 32:
        raise PermissionDenied(f"{path} holds no usable key ({len(key)} bytes); delete it so the box makes a new one "
                               "(everyone then logs in again)")
    return key


def _create_key(path: Path) -> None:
    """Write a new key under a temporary name and link it into place: a core
    and a ui starting together both end up with the same, complete key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _KEY_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # the other process was first: use its key
        log.info("created the box's session key %s (mode 0600)", path)
    finally:
        tmp.unlink(missing_ok=True)


def secure_data_dir(data_dir: str | os.PathLike[str], db_file: str | os.PathLike[str] | None = None) -> None:
    """Data dir 0750, database (and its -wal/-shm) 0640. Never widens a mode;
    leaves a directory alone that is not the box's own (another owner, or a
    shared one with the sticky bit such as /tmp)."""
    d = Path(data_dir)
    with contextlib.suppress(OSError):
        st = d.stat()
        if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX:
            os.chmod(d, stat.S_IMODE(st.st_mode) & DATA_DIR_MODE)
    if db_file is None:
        return
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db_file}{suffix}")
        with contextlib.suppress(OSError):
            os.chmod(p, stat.S_IMODE(p.stat().st_mode) & DB_MODE)


def cookie_secret(key: bytes) -> str:
    """The ui's cookie-signing secret, derived from the box's key (never the key itself)."""
    return hmac.new(key, b"werkvloer ui session cookie v1", hashlib.sha256).hexdigest()


def _grant_key(key: bytes) -> bytes:
    return hmac.new(key, b"werkvloer ipc role grant v1", hashlib.sha256).digest()


def role_grant(key: bytes, role: str, *, ttl_s: float = GRANT_TTL_S, now_s: float | None = None) -> str:
    """A grant for ``role`` the core accepts for ``ttl_s`` seconds."""
    if not role.isidentifier():
        raise ValueError(f"not a role: {role!r}")
    expires = int(((time.time() if now_s is None else now_s) + ttl_s) * 1000)
    body = f"{role}.{expires}.{secrets.token_hex(8)}"
    mac = hmac.new(_grant_key(key), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify_grant(key: bytes, grant: object, *, now_s: float | None = None) -> str:
    """The role in a valid, unexpired grant; PermissionDenied otherwise."""
    if not isinstance(grant, str) or grant.count(".") != 3:
        raise PermissionDenied("the role grant is malformed; roles come from a login in the ui")
    body, _, mac = grant.rpartition(".")
    want = hmac.new(_grant_key(key), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, mac):
        raise PermissionDenied("the role grant is not signed with this box's key; log in in the ui")
    role, expires, _nonce = body.split(".")
    if not expires.isdigit() or int(expires) < (time.time() if now_s is None else now_s) * 1000:
        raise PermissionDenied("the role grant has expired; try again")
    return role
