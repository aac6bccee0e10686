"""A small synchronous OPC UA client for the guard's stop output: one blocking socket, one session.

Issue 11: the stop write must not hop into another thread. asyncua is
async-only, and a secure channel cannot be shared between threads (sequence
numbers, request ids and the token renewal belong to one owner). So the stop
output owns a channel of its own, spoken here synchronously in whichever
thread calls it (the guard's tripping thread, or the output's slot thread for
the connect and the keep-alive; ``appliance/guard/bank.py`` serialises them,
and :class:`Wire` has its own lock besides).

Only the transport is ours; the encoding, chunking and message security are
asyncua's own synchronous parts (``ua_binary``, ``SecureConnection``, the
security policies), so this speaks exactly what asyncua speaks: OPC UA
Binary over TCP (Part 6, 7), SecurityPolicy None or Basic256Sha256 with
Sign / SignAndEncrypt, anonymous or user name logins. Services: Hello,
OpenSecureChannel (issue and renew), GetEndpoints, CreateSession,
ActivateSession, Read, Write, CloseSession, CloseSecureChannel.

Every call has a deadline; any error, timeout or unexpected answer drops the
socket (``connected`` becomes false): the caller reconnects, never this
module, and a late answer can never be read as the answer to a newer request.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from asyncua import ua
from asyncua.common.connection import SecureConnection, TransportLimits
from asyncua.common.utils import Buffer
from asyncua.crypto import security_policies
from asyncua.ua.ua_binary import (
    header_from_binary,
    nodeid_from_binary,
    struct_from_binary,
    struct_to_binary,
    uatcp_to_binary,
)

log = logging.getLogger(__name__)

_MODES = {"None": ua.MessageSecurityMode.None_, "Sign": ua.MessageSecurityMode.Sign,
          "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}
_SESSION_GONE = {ua.StatusCodes.BadSessionIdInvalid, ua.StatusCodes.BadSessionClosed,
                 ua.StatusCodes.BadSessionNotActivated, ua.StatusCodes.BadSecureChannelIdInvalid,
                 ua.StatusCodes.BadSecureChannelClosed, ua.StatusCodes.BadIdentityTokenInvalid}
_SERVICE_FAULT = ua.FourByteNodeId(ua.Int32(ua.ObjectIds.ServiceFault_Encoding_DefaultBinary))
# The chunk sizes the client announces in its Hello (Part 6, 7.1.2.3); 0 = no limit on message size and count.
CHUNK_SIZE = 65535


def apply_acknowledge(limits: TransportLimits, ack: ua.Acknowledge) -> None:
    """Take a server's Acknowledge into a client's limits (Part 6, 7.1.2.4).

    The ACK's ReceiveBufferSize is the largest chunk the *server* can receive, so it caps the
    chunks we send; its SendBufferSize is the largest chunk it will send us. asyncua 2.1's
    ``TransportLimits.update_client_limits`` swaps the two (and takes the server's MaxMessageSize
    as our receive limit): harmless against a server with equal sizes (asyncua's own), but a PLC
    that receives 8 KiB chunks and sends 64 KiB ones (found with node-opcua, see
    tests/drivers/opcua/test_interop_node.py) refuses every request over 8 KiB and the client
    refuses its answers. Installed for asyncua's client too (below), so the source is fixed as well.
    """
    if ack.ReceiveBufferSize:
        limits.max_send_buffer = min(CHUNK_SIZE, ack.ReceiveBufferSize)
    limits.max_recv_buffer = max(CHUNK_SIZE, min(ack.SendBufferSize or CHUNK_SIZE, 1 << 24))  # lenient
    limits.max_chunk_count = 0
    limits.max_message_size = 0


TransportLimits.update_client_limits = apply_acknowledge  # type: ignore[method-assign,assignment]


class WireError(ConnectionError):
    """The channel failed (no answer in time, a closed socket, a fault); it is closed."""


class WireTimeout(WireError):
    """No (complete) answer within the deadline; the channel is closed."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Message security and login. ``certificate``/``private_key`` (DER / PEM bytes) only for Sign*."""

    security_mode: str = "None"
    certificate: bytes | None = None
    private_key: bytes | None = None
    application_uri: str = "urn:werkvloer:opcua-client"
    username: str | None = None
    password: str | None = None


class Wire:
    """One OPC UA session on one blocking socket. Not connected until :meth:`connect`."""

    def __init__(self, url: str, *, timeout_s: float, credentials: Credentials | None = None,
                 session_timeout_s: float = 60.0, channel_lifetime_s: float = 3600.0,
                 server_certificate: bytes | None = None) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host, self.port = parts.hostname or "localhost", parts.port or 4840
        self.timeout_s = timeout_s
        self.creds = credentials or Credentials()
        self.session_timeout_s = session_timeout_s
        self.channel_lifetime_s = channel_lifetime_s
        self.server_certificate = server_certificate  # DER; fetched with GetEndpoints when secured and unknown
        self.lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._conn: SecureConnection | None = None
        self._request_id = 0
        self._handle = 0
        self._token = ua.NodeId()
        self._renew_at = 0.0
        self._pending_renew: bytes | None = None
        self.connected = False

    # ----- lifecycle ----------------------------------------------------------------
    def connect(self) -> None:
        """Open socket, channel and session (activated). Raises WireError (closed again)."""
        with self.lock:
            self._connect()

    def _connect(self) -> None:
        self._close()
        mode = _MODES[self.creds.security_mode]
        if mode is not ua.MessageSecurityMode.None_ and self.server_certificate is None:
            self.server_certificate = self._fetch_server_certificate(mode)
        policy = self._policy(mode)
        try:
            self._open(policy)
            self._session(policy)
        except BaseException:
            self._close()
            raise
        self.connected = True

    def close(self) -> None:
        """CloseSession + CloseSecureChannel when connected (best effort), then drop the socket.
        Waits for a request in flight (at most the timeout), so it never pulls the socket from under it."""
        held = self.lock.acquire(timeout=self.timeout_s)
        try:
            self._close()
        finally:
            if held:
                self.lock.release()

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        was, self.connected = self.connected, False
        if sock is None:
            return
        if was:
            try:
                self._sock = sock
                req = ua.CloseSessionRequest()
                req.DeleteSubscriptions = True
                self._call(req, time.monotonic() + min(self.timeout_s, 1.0))
                self._send(ua.CloseSecureChannelRequest(), ua.MessageType.SecureClose)
            except Exception:  # noqa: BLE001 - the server expires the session itself
                log.debug("closing the OPC UA stop session to %s failed", self.url, exc_info=True)
            finally:
                self._sock = None
        try:
            sock.close()
        except OSError:
            pass

    # ----- services ---------------------------------------------------------------------
    def read(self, nodeids: Sequence[ua.NodeId], attribute: ua.AttributeIds = ua.AttributeIds.Value,
             timeout_s: float | None = None) -> list[ua.DataValue]:
        params = ua.ReadParameters()
        params.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=attribute) for n in nodeids]
        req = ua.ReadRequest()
        req.Parameters = params
        resp = struct_from_binary(ua.ReadResponse, self._service(req, timeout_s))
        resp.ResponseHeader.ServiceResult.check()
        return list(resp.Results)

    def write(self, nodeid: ua.NodeId, value: ua.DataValue, timeout_s: float | None = None) -> ua.StatusCode:
        params = ua.WriteParameters()
        params.NodesToWrite = [ua.WriteValue(NodeId=nodeid, AttributeId=ua.AttributeIds.Value, Value=value)]
        req = ua.WriteRequest()
        req.Parameters = params
        resp = struct_from_binary(ua.WriteResponse, self._service(req, timeout_s))
        resp.ResponseHeader.ServiceResult.check()
        return resp.Results[0]

    def renew_due(self) -> bool:
        return self.connected and time.monotonic() >= self._renew_at

    def renew(self) -> None:
        """Renew the channel's security token (Part 4, 5.5.2; due at 75 % of its lifetime)."""
        with self.lock:
            self._renew(time.monotonic() + self.timeout_s)

    # ----- internals ----------------------------------------------------------------------
    def _service(self, req: Any, timeout_s: float | None) -> Buffer:
        if not self.lock.acquire(timeout=timeout_s or self.timeout_s):
            raise WireError(f"OPC UA {self.url}: busy (connecting or another request)")
        try:
            if not self.connected:
                raise WireError(f"OPC UA {self.url}: not connected")
            return self._call(req, time.monotonic() + (timeout_s or self.timeout_s))
        except WireError:
            self._drop()
            raise
        except ua.UaStatusCodeError as exc:
            if exc.code in _SESSION_GONE:
                # The server no longer knows this session or channel: a retry on it can never succeed.
                self._drop()
                raise WireError(f"OPC UA {self.url}: {exc}; reconnecting") from exc
            raise  # a fault answer about this request (e.g. not writable): the session is fine
        except Exception as exc:
            self._drop()
            raise WireError(f"OPC UA {self.url}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.lock.release()

    def _drop(self) -> None:
        self.connected = False
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _policy(self, mode: ua.MessageSecurityMode) -> security_policies.SecurityPolicy:
        if mode is ua.MessageSecurityMode.None_:
            return security_policies.SecurityPolicyNone()
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        creds = self.creds
        if creds.certificate is None or creds.private_key is None or self.server_certificate is None:
            raise WireError(f"OPC UA {self.url}: security {creds.security_mode} needs the client certificate")
        cert = x509.load_der_x509_certificate(creds.certificate)
        key = serialization.load_pem_private_key(creds.private_key, password=None)
        peer = x509.load_der_x509_certificate(self.server_certificate)
        return security_policies.SecurityPolicyBasic256Sha256(peer, cert, key, mode)

    def _fetch_server_certificate(self, mode: ua.MessageSecurityMode) -> bytes:
        """GetEndpoints on an unsecured channel of its own (what asyncua's set_security does)."""
        try:
            self._open(security_policies.SecurityPolicyNone())
            params = ua.GetEndpointsParameters()
            params.EndpointUrl = self.url
            req = ua.GetEndpointsRequest()
            req.Parameters = params
            resp = struct_from_binary(ua.GetEndpointsResponse, self._call(req, time.monotonic() + self.timeout_s))
            resp.ResponseHeader.ServiceResult.check()
        finally:
            self._drop()
        uri = security_policies.SecurityPolicyBasic256Sha256.URI
        for ep in resp.Endpoints:
            if ep.SecurityMode == mode and ep.SecurityPolicyUri == uri and ep.ServerCertificate:
                return _first_cert(ep.ServerCertificate)
        raise WireError(f"No matching endpoints: {mode.name}, {uri}")

    def _open(self, policy: security_policies.SecurityPolicy) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise WireError(f"cannot connect to {self.host}:{self.port} ({exc})") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._conn = SecureConnection(policy, TransportLimits(CHUNK_SIZE, CHUNK_SIZE, 0, 0))
        self._request_id = self._handle = 0
        self._token = ua.NodeId()
        hello = ua.Hello()  # asyncua's defaults announce 2 GiB chunks: say what we take
        hello.ReceiveBufferSize = hello.SendBufferSize = ua.UInt32(CHUNK_SIZE)
        hello.MaxMessageSize = hello.MaxChunkCount = ua.UInt32(0)
        hello.EndpointUrl = ua.String(self.url)
        sock.sendall(uatcp_to_binary(ua.MessageType.Hello, hello))  # type: ignore[arg-type]
        ack = self._receive(deadline)  # SecureConnection applies it (apply_acknowledge)
        if not isinstance(ack, ua.Acknowledge):
            raise WireError(f"OPC UA {self.url}: expected Acknowledge, got {type(ack).__name__}")
        self._channel(ua.SecurityTokenRequestType.Issue, deadline)

    def _channel(self, kind: ua.SecurityTokenRequestType, deadline: float) -> None:
        conn = self._conn
        assert conn is not None
        params = ua.OpenSecureChannelParameters()
        params.ClientProtocolVersion = 0
        params.RequestType = kind
        params.SecurityMode = conn.security_policy.Mode
        params.RequestedLifetime = int(self.channel_lifetime_s * 1000)
        params.ClientNonce = ua.utils.create_nonce(conn.security_policy.secure_channel_nonce_length)
        req = ua.OpenSecureChannelRequest()
        req.Parameters = params
        body = self._call(req, deadline, ua.MessageType.SecureOpen)
        resp = struct_from_binary(ua.OpenSecureChannelResponse, body)
        resp.ResponseHeader.ServiceResult.check()
        conn.set_channel(resp.Parameters, kind, params.ClientNonce)
        lifetime_s = resp.Parameters.SecurityToken.RevisedLifetime / 1000
        self._renew_at = time.monotonic() + 0.75 * lifetime_s

    def _renew(self, deadline: float) -> None:
        try:
            self._channel(ua.SecurityTokenRequestType.Renew, deadline)
        except Exception as exc:
            self._drop()
            raise WireError(f"OPC UA {self.url}: renewing the secure channel failed: {exc}") from exc

    def _session(self, policy: security_policies.SecurityPolicy) -> None:
        deadline = time.monotonic() + self.timeout_s
        creds = self.creds
        desc = ua.ApplicationDescription()
        desc.ApplicationUri = creds.application_uri
        desc.ProductUri = "urn:werkvloer"
        desc.ApplicationName = ua.LocalizedText("Werkvloer stop")
        desc.ApplicationType = ua.ApplicationType.Client
        params = ua.CreateSessionParameters()
        nonce = ua.utils.create_nonce(32)
        params.ClientNonce = nonce
        params.ClientCertificate = policy.host_certificate
        params.ClientDescription = desc
        params.EndpointUrl = self.url
        params.SessionName = "Werkvloer stop output"
        params.RequestedSessionTimeout = self.session_timeout_s * 1000
        params.MaxResponseMessageSize = 0
        req = ua.CreateSessionRequest()
        req.Parameters = params
        created = struct_from_binary(ua.CreateSessionResponse, self._call(req, deadline))
        created.ResponseHeader.ServiceResult.check()
        res = created.Parameters
        signed = nonce if policy.host_certificate is None else policy.host_certificate + nonce
        policy.asymmetric_cryptography.verify(signed, res.ServerSignature.Signature)
        self._token = res.AuthenticationToken
        server_cert = _first_cert(res.ServerCertificate) if res.ServerCertificate else None
        token_policies: list[ua.UserTokenPolicy] = next((ep.UserIdentityTokens for ep in res.ServerEndpoints
                               if ep.SecurityMode == policy.Mode and ep.SecurityPolicyUri == policy.URI), [])

        act = ua.ActivateSessionParameters()
        challenge = (server_cert or b"") + (res.ServerNonce or b"")
        act.ClientSignature.Algorithm = (policy.AsymmetricSignatureURI or
                                         security_policies.SecurityPolicyBasic256Sha256.AsymmetricSignatureURI)
        act.ClientSignature.Signature = policy.asymmetric_cryptography.signature(challenge)
        act.LocaleIds = ["en"]
        if creds.username is None:
            token: Any = ua.AnonymousIdentityToken()
            token.PolicyId = _token_policy(token_policies, ua.UserTokenType.Anonymous, policy.URI).PolicyId
        else:
            token = ua.UserNameIdentityToken()
            token.UserName = creds.username
            tp = _token_policy(token_policies, ua.UserTokenType.UserName, policy.URI)
            token.PolicyId = tp.PolicyId
            if creds.password is not None:
                if tp.SecurityPolicyUri in ("", None, security_policies.SecurityPolicyNone.URI):
                    token.Password = creds.password.encode()  # Part 4, 7.36.3: not encrypted
                    token.EncryptionAlgorithm = None
                else:
                    if server_cert is None:
                        raise WireError(f"OPC UA {self.url}: the password must be encrypted, but the server "
                                        "sent no certificate")
                    from asyncua.crypto import uacrypto

                    secret = ua.ua_binary.Primitives.Bytes.pack(creds.password.encode() + (res.ServerNonce or b""))
                    pub = uacrypto.x509_from_der(server_cert).public_key()
                    token.Password, token.EncryptionAlgorithm = security_policies.encrypt_asymmetric(
                        pub, secret, tp.SecurityPolicyUri)
        act.UserIdentityToken = token
        req2 = ua.ActivateSessionRequest()
        req2.Parameters = act
        activated = struct_from_binary(ua.ActivateSessionResponse, self._call(req2, deadline))
        activated.ResponseHeader.ServiceResult.check()

    def _send(self, req: Any, kind: Any = ua.MessageType.SecureMessage) -> int:
        conn, sock = self._conn, self._sock
        if conn is None or sock is None:
            raise WireError(f"OPC UA {self.url}: not connected")
        hdr = getattr(req, "RequestHeader", None)
        if hdr is not None:
            self._handle += 1
            hdr.AuthenticationToken = self._token
            hdr.RequestHandle = self._handle
            hdr.TimeoutHint = int(self.timeout_s * 1000)
        if conn.next_security_token.TokenId != 0:
            conn.revolve_tokens()  # a renewed token is used from the next request on
        self._request_id += 1
        sock.sendall(conn.message_to_binary(struct_to_binary(req), message_type=kind, request_id=self._request_id))
        return self._request_id

    def _call(self, req: Any, deadline: float, kind: Any = ua.MessageType.SecureMessage) -> Buffer:
        # No token renewal here: the stop goes out first; the keep-alive renews (renew_due/renew).
        rid = self._send(req, kind)
        while True:
            msg = self._receive(deadline)
            if isinstance(msg, ua.ErrorMessage):
                raise WireError(f"OPC UA {self.url}: the server closed the channel: {msg.Error.name} {msg.Reason}")
            if not isinstance(msg, ua.Message):
                raise WireError(f"OPC UA {self.url}: unexpected {type(msg).__name__}")
            if msg.request_id() != rid:
                raise WireError(f"OPC UA {self.url}: answer to request {msg.request_id()}, expected {rid}")
            body = msg.body()
            probe = body.copy()
            if nodeid_from_binary(probe) == _SERVICE_FAULT:
                struct_from_binary(ua.ResponseHeader, probe).ServiceResult.check()
                raise WireError(f"OPC UA {self.url}: service fault without a status")
            return body

    def _receive(self, deadline: float) -> Any:
        """The next complete message (intermediate chunks are assembled by SecureConnection)."""
        conn = self._conn
        assert conn is not None
        while True:
            head = self._read_exact(8, deadline)
            size = int.from_bytes(head[4:8], "little")
            if size < 8 or size > 1 << 24:
                raise WireError(f"OPC UA {self.url}: bad message size {size}")
            data = Buffer(head + self._read_exact(size - 8, deadline))
            header = header_from_binary(data)
            msg = conn.receive_from_header_and_body(header, data)
            if msg is not None:
                return msg

    def _read_exact(self, n: int, deadline: float) -> bytes:
        sock = self._sock
        if sock is None:
            raise WireError(f"OPC UA {self.url}: not connected")
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireTimeout(f"OPC UA {self.url}: no answer in time")
            sock.settimeout(left)
            try:
                k = sock.recv_into(view[got:])
            except TimeoutError:
                continue
            except OSError as exc:
                raise WireError(f"OPC UA {self.url}: {exc}") from exc
            if k == 0:
                raise WireError(f"OPC UA {self.url}: the server closed the connection")
            got += k
        return bytes(buf)


def _first_cert(chain: bytes) -> bytes:
    """The first certificate of a DER chain (a server may send its chain; Part 6, 6.2.6)."""
    if len(chain) < 4 or chain[0] != 0x30:
        return chain
    n = chain[1]
    if n < 0x80:
        return chain[: 2 + n]
    k = n & 0x7F
    return chain[: 2 + k + int.from_bytes(chain[2:2 + k], "big")]


def _token_policy(policies: Sequence[ua.UserTokenPolicy], kind: ua.UserTokenType,
                  endpoint_uri: str) -> ua.UserTokenPolicy:
    for p in policies:
        if p.TokenType == kind:
            if p.SecurityPolicyUri:
                return p
            return ua.UserTokenPolicy(PolicyId=p.PolicyId, TokenType=kind, SecurityPolicyUri=endpoint_uri)
    return ua.UserTokenPolicy(TokenType=kind, SecurityPolicyUri=endpoint_uri)
