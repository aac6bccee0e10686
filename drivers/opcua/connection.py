"""Building a connected asyncua client the same way for the source, the stop
output and ``opcua browse``: security mode, certificate, user and password.

Timeouts use ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python
3.11 ``wait_for`` can swallow a cancellation that arrives as the inner call
completes (cpython gh-86296), and a poll loop then never stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from asyncua import Client, ua
from asyncua.crypto import security_policies

from drivers.errors import ConfigError, DeviceUnavailable

from .pki import ensure_client_certificate
from .wire import Credentials, Wire

log = logging.getLogger(__name__)

_POLICIES = {"Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256}
_MODES = {"Sign": ua.MessageSecurityMode.Sign, "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything needed to open a session (resolved: the password itself, not its name)."""

    url: str
    security_mode: str = "None"
    security_policy: str = "Basic256Sha256"
    data_dir: str | os.PathLike[str] | None = None
    username: str | None = None
    password: str | None = None
    timeout_s: float = 4.0
    session_timeout_s: float = 60.0


def resolve_password(*, key_path: str, username: str | None, password_secret: str | None,
                     secrets: Mapping[str, str]) -> str | None:
    """The password named by ``password_secret``, or a ConfigError saying what to add."""
    if password_secret is None:
        return None
    if password_secret not in secrets:
        raise ConfigError([(f"{key_path}.password_secret",
                            f"secret {password_secret!r} (password of OPC UA user {username!r}) is not in the "
                            "secrets file; add it there (werkvloer secrets set ...) or remove password_secret")])
    return secrets[password_secret]


def check_security(endpoint: Endpoint, *, key_path: str) -> None:
    if endpoint.security_mode != "None" and endpoint.data_dir is None:
        raise ConfigError([(f"{key_path}.security_mode",
                            f"{endpoint.security_mode} needs the box's client certificate, but no data directory "
                            "was given to the driver (box.data_dir)")])


async def connect(endpoint: Endpoint) -> Client:
    """A connected client (session activated). Raises DeviceUnavailable with a hint."""
    # asyncua probes ServerStatus every watchdog interval, with that interval as
    # the probe's timeout; a busy PLC may take longer than asyncua's 1 s default.
    client = Client(endpoint.url, timeout=endpoint.timeout_s, watchdog_intervall=endpoint.timeout_s)
    client.session_timeout = int(endpoint.session_timeout_s * 1000)
    client.name = client.description = "Werkvloer"
    if endpoint.username is not None:
        client.set_user(endpoint.username)
    if endpoint.password is not None:
        client.set_password(endpoint.password)
    try:
        if endpoint.security_mode != "None":
            if endpoint.data_dir is None:
                raise DeviceUnavailable("security needs a data directory for the client certificate")
            try:
                cert = await asyncio.to_thread(ensure_client_certificate, endpoint.data_dir)
            except OSError as exc:
                raise _CertificateProblem(
                    f"cannot create or read the client certificate in {endpoint.data_dir}/pki ({exc}); "
                    "check that box.data_dir exists and is writable") from exc
            client.application_uri = cert.application_uri
            async with asyncio.timeout(endpoint.timeout_s * 2):
                await client.set_security(
                    _POLICIES[endpoint.security_policy], str(cert.cert_path), str(cert.key_path),
                    mode=_MODES[endpoint.security_mode])
            peer = getattr(client.security_policy, "peer_certificate", None)
            if peer:
                await asyncio.to_thread(check_pinned_server, endpoint.data_dir, endpoint.url, peer)
        async with asyncio.timeout(endpoint.timeout_s * 2):
            await client.connect()
    except asyncio.CancelledError:
        # Stopped while connecting: do not leave asyncua's background tasks and a session behind.
        await asyncio.shield(close_quietly(client, timeout_s=1.0))
        raise
    except Exception as exc:  # the stack raises many kinds; all mean "not connected"
        await close_quietly(client, timeout_s=endpoint.timeout_s)
        raise DeviceUnavailable(_hint(endpoint, exc)) from exc
    return client


def open_wire(endpoint: Endpoint, *, server_certificate: bytes | None = None,
              channel_lifetime_s: float = 3600.0) -> Wire:
    """A connected synchronous session (``wire.py``) in the calling thread, set up like
    :func:`connect`: security, the box's certificate, the pinned server certificate, the user.
    Raises DeviceUnavailable with a hint."""
    wire = Wire(endpoint.url, timeout_s=endpoint.timeout_s, session_timeout_s=endpoint.session_timeout_s,
                channel_lifetime_s=channel_lifetime_s, server_certificate=server_certificate)
    try:
        wire.creds = _credentials(endpoint)
        wire.connect()
        if endpoint.security_mode != "None" and endpoint.data_dir is not None and wire.server_certificate:
            check_pinned_server(endpoint.data_dir, endpoint.url, wire.server_certificate)
    except Exception as exc:
        wire.close()
        raise DeviceUnavailable(_hint(endpoint, exc)) from exc
    return wire


def _credentials(endpoint: Endpoint) -> Credentials:
    if endpoint.security_mode == "None" or endpoint.data_dir is None:
        return Credentials(username=endpoint.username, password=endpoint.password)
    try:
        cert = ensure_client_certificate(endpoint.data_dir)
    except OSError as exc:
        raise _CertificateProblem(
            f"cannot create or read the client certificate in {endpoint.data_dir}/pki ({exc}); "
            "check that box.data_dir exists and is writable") from exc
    return Credentials(security_mode=endpoint.security_mode, certificate=cert.cert_path.read_bytes(),
                       private_key=cert.key_path.read_bytes(), application_uri=cert.application_uri,
                       username=endpoint.username, password=endpoint.password)


class _CertificateProblem(Exception):
    pass


class ServerCertificateChanged(DeviceUnavailable):
    """The server shows another certificate than the one pinned at first contact."""


def pinned_server_path(data_dir: str | os.PathLike[str], url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(data_dir) / "pki" / "trusted-servers" / f"{key}.der"


def check_pinned_server(data_dir: str | os.PathLike[str], url: str, der: bytes) -> None:
    """Trust on first use: the server certificate seen at the first secured
    connection is kept; a different one later is refused (a replaced PLC, or
    someone in between). Deleting the pinned file trusts the next one seen."""
    path = pinned_server_path(data_dir, url)
    seen = hashlib.sha256(der).hexdigest()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(der)
        tmp.replace(path)
        log.info("OPC UA server %s: certificate pinned at first contact (SHA-256 %s)", url, seen)
        return
    pinned = hashlib.sha256(path.read_bytes()).hexdigest()
    if pinned != seen:
        raise ServerCertificateChanged(
            f"OPC UA server {url} shows another certificate (SHA-256 {seen}) than the one trusted at first "
            f"contact ({pinned}); if the PLC or its certificate was replaced on purpose, delete {path} "
            "to trust the new one")


def _hint(endpoint: Endpoint, exc: BaseException) -> str:
    if isinstance(exc, _CertificateProblem | ServerCertificateChanged):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if "Untrusted" in text or "CertificateInvalid" in text or "SecurityChecksFailed" in text:
        return (f"OPC UA server {endpoint.url} rejected the box's certificate ({text}); trust it on the PLC "
                "(see `werkvloer opcua certificate`)")
    if "IdentityToken" in text or "UserAccessDenied" in text:
        return f"OPC UA server {endpoint.url} rejected user {endpoint.username!r} ({text}); check user and password"
    if "No matching endpoints" in text:
        return (f"OPC UA server {endpoint.url} offers no endpoint with {endpoint.security_policy} "
                f"{endpoint.security_mode} ({text}); use `werkvloer opcua browse` to list what it offers")
    return f"cannot connect to OPC UA server {endpoint.url} ({text}); check the URL, network and that the server runs"


async def transport_answers(url: str, *, timeout_s: float) -> bool:
    """Whether the server's TCP port accepts a connection (no OPC UA message is sent)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 4840
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def close_quietly(client: Client, *, timeout_s: float) -> None:
    """Close session, channel and socket; never hang on a dead peer.

    CloseSession is sent so the server frees the session at once (no leak until
    its timeout); if the peer does not answer within ``timeout_s`` the socket
    is dropped anyway and the server expires the session itself.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await client.disconnect()
    except Exception:  # includes TimeoutError
        log.debug("closing OPC UA session to %s failed; dropping the socket", client.server_url.geturl(),
                  exc_info=True)
    try:
        client.disconnect_socket()
    except Exception:
        log.debug("dropping socket failed", exc_info=True)
