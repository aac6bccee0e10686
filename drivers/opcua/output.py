"""The guard's OPC UA stop output: a synchronous write on a pre-opened session, no thread hop.

Issue 11. The guard's tripping thread calls ``fire()`` and must not depend on
any event loop (DESIGN.md, fast path). asyncua is async-only and its channel
belongs to the loop that runs it, so this output speaks OPC UA itself on a
session and socket of its own (``wire.py``: blocking socket, asyncua's
encoding and message security): the WriteRequest is sent and its answer read
in the calling thread. ``open()`` is one connection attempt (the guard's
output bank, ``appliance/guard/bank.py``, calls it again with bounded backoff
forever, off the stop path); ``check()`` is the keep-alive (one read of the
node, and the secure channel's token renewal when due); any failure raises
``DeviceError`` and a broken connection reads ``connected = False`` so the
bank reconnects and writes an unconfirmed stop again (issue 16, point 1).
"""

from __future__ import annotations

import logging
import os
from typing import Any, cast

from asyncua import ua

from drivers.errors import ConfigError, DeviceError, DeviceUnavailable

from .config import OpcuaOutputConfig
from .connection import Endpoint, _hint, check_security, open_wire
from .wire import Wire, WireError, WireTimeout

log = logging.getLogger(__name__)

_INT_TYPES = {ua.VariantType.SByte, ua.VariantType.Byte, ua.VariantType.Int16, ua.VariantType.UInt16,
              ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64, ua.VariantType.UInt64}


class OpcuaStopOutput:
    """StopOutput writing ``cfg.value`` to ``cfg.node_id`` on trip and 0 on release.

    Security and user are keyword arguments (the appliance resolves the password from
    ``cfg.password_secret``); ``data_dir`` holds the client certificate for Sign/SignAndEncrypt.
    """

    def __init__(self, cfg: OpcuaOutputConfig, *, data_dir: str | os.PathLike[str] | None = None,
                 security_mode: str = "None", username: str | None = None, password: str | None = None,
                 connect_timeout_s: float = 5.0, reconnect_max_s: float = 2.0,
                 key_path: str | None = None, channel_lifetime_s: float = 3600.0) -> None:
        key_path = key_path or f"guard.outputs[{cfg.name}]"
        problems = []
        if cfg.kind != "opcua":
            problems.append((f"{key_path}.kind", f"expected kind = \"opcua\", got {cfg.kind!r}"))
        if not cfg.url or not cfg.url.startswith("opc.tcp://"):
            problems.append((f"{key_path}.url", "an opc.tcp:// endpoint URL is required for an OPC UA stop output"))
        if not cfg.node_id:
            problems.append((f"{key_path}.node_id", "the node id to write is required (e.g. ns=2;s=Cell.Stop)"))
        else:
            try:
                self._nodeid = ua.NodeId.from_string(cfg.node_id)
            except (ValueError, ua.UaStringParsingError) as exc:
                problems.append((f"{key_path}.node_id", f"not a node id ({exc}); e.g. ns=2;s=Cell.Stop"))
        if problems:
            raise ConfigError(problems)
        self.cfg = cfg
        self.name = cfg.name
        self.endpoint = Endpoint(url=cfg.url or "", security_mode=security_mode, data_dir=data_dir,
                                 username=username, password=password, timeout_s=connect_timeout_s)
        check_security(self.endpoint, key_path=key_path)
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_max_s = reconnect_max_s  # the bank's backoff reconnects; kept for callers
        self.channel_lifetime_s = channel_lifetime_s  # the keep-alive renews the token at 75 % of it
        self._wire = Wire(self.endpoint.url, timeout_s=connect_timeout_s)
        self._vtype: ua.VariantType | None = None
        self._broken = False
        self._last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._wire.connected

    # ----- StopOutput ----------------------------------------------------
    def open(self) -> None:
        """One connection attempt: socket, secure channel, session, the node's data type.

        Raises ``DeviceUnavailable`` (with what to check) when it fails; the
        caller (the output bank's slot thread) tries again with its backoff.
        """
        try:
            self._wire = open_wire(self.endpoint, server_certificate=self._wire.server_certificate,
                                   channel_lifetime_s=self.channel_lifetime_s)
            self._vtype = self._data_type()
        except Exception as exc:
            self._wire.close()
            reason = str(exc) if isinstance(exc, DeviceUnavailable) else _hint(self.endpoint, exc)
            self._failed(reason)
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: {reason}") from exc
        if self._broken:
            log.debug("OPC UA stop output %s connected again to %s", self.name, self.cfg.url)
            self._broken = False
        self._last_error = None

    def check(self) -> None:
        """Keep-alive: read the node once (and renew the channel's token when due); raises
        ``DeviceError`` and drops the connection when the server does not answer."""
        if not self.connected:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected to {self.cfg.url}")
        try:
            if self._wire.renew_due():
                self._wire.renew()
            self._wire.read([self._nodeid], timeout_s=max(self.cfg.timeout_ms / 1000, 1.0))
        except Exception as exc:
            self._wire.close()
            self._failed(f"no answer to the keep-alive read of {self.cfg.node_id}: {exc}")
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: {self._last_error}") from exc

    def fire(self) -> None:
        self._write(self.cfg.value)

    def release(self) -> None:
        self._write(0)

    def close(self) -> None:
        self._wire.close()

    # ----- internals -------------------------------------------------------
    def _write(self, value: float) -> None:
        if not self.connected:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected to {self.cfg.url} "
                                    f"({self._last_error or 'reconnecting'})")
        vtype = cast(ua.VariantType, self._vtype)  # None (type unknown) lets asyncua guess
        dv = ua.DataValue(ua.Variant(_typed(value, vtype), vtype))
        try:
            status = self._wire.write(self._nodeid, dv, timeout_s=self.cfg.timeout_ms / 1000)
        except WireError as exc:
            self._failed(str(exc))
            if isinstance(exc, WireTimeout):
                raise DeviceError(f"OPC UA stop output {self.name}: {self.cfg.url} did not confirm the write of "
                                  f"{self.cfg.node_id} within {self.cfg.timeout_ms:.0f} ms") from exc
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: writing {self.cfg.node_id} failed: "
                                    f"{exc}") from exc
        except Exception as exc:
            raise DeviceError(f"OPC UA stop output {self.name}: writing {self.cfg.node_id} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not status.is_good():
            raise DeviceError(f"OPC UA stop output {self.name}: server refused the write of {self.cfg.node_id}: "
                              f"{status.name}; check the node is writable for this user")

    def _data_type(self) -> ua.VariantType | None:
        """The variant type to write: the node's DataType when it is a built-in type, else its value's."""
        dt = self._wire.read([self._nodeid], ua.AttributeIds.DataType)[0]
        if dt.StatusCode is not None:
            dt.StatusCode.check()
        nid = dt.Value.Value if dt.Value is not None else None
        if isinstance(nid, ua.NodeId) and nid.NamespaceIndex == 0 and isinstance(nid.Identifier, int) \
                and 1 <= nid.Identifier <= 25:
            return ua.VariantType(nid.Identifier)
        dv = self._wire.read([self._nodeid])[0]
        return dv.Value.VariantType if dv.Value is not None else None

    def _failed(self, reason: str) -> None:
        self._last_error = reason
        if not self._broken:
            self._broken = True
            log.debug("OPC UA stop output %s unavailable: %s", self.name, reason)  # the bank logs it once


def _typed(value: float, vtype: ua.VariantType | None) -> Any:
    if vtype is ua.VariantType.Boolean:
        return bool(value)
    if vtype in _INT_TYPES:
        return int(value)
    return float(value)
