"""The guard's OPC UA stop output: a synchronous write on a pre-opened session.

The guard thread calls ``fire()`` and must not depend on the core's event loop
(DESIGN.md, fast path). So this output owns a small thread running its own
event loop and its own asyncua client, started by the first ``open()`` and
kept connected (reconnect forever, bounded backoff with jitter) until
``close()``. ``open()`` never gives up the connection: it only reports
whether a session is up. ``fire()`` submits the write to that loop and waits
for the server's answer up to the configured timeout; any failure raises
``DeviceError``. ``check()`` is the guard's keep-alive (one read of the node).
The guard's output bank (``appliance/guard/bank.py``) calls ``open()`` and
``check()`` off the stop path and writes an unconfirmed stop again (issue 16,
point 1: a PLC down at start used to leave the output closed for good).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from typing import Any, cast

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState

from drivers.backoff import Backoff
from drivers.errors import ConfigError, DeviceError, DeviceUnavailable

from .config import OpcuaOutputSettings
from .connection import Endpoint, check_security, close_quietly, connect

log = logging.getLogger(__name__)

_INT_TYPES = {ua.VariantType.SByte, ua.VariantType.Byte, ua.VariantType.Int16, ua.VariantType.UInt16,
              ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64, ua.VariantType.UInt64}


class OpcuaStopOutput:
    """StopOutput writing ``cfg.value`` to ``cfg.node_id`` on trip and 0 on release.

    Security and user are keyword arguments (GuardOutput has only url, node_id
    and value); ``data_dir`` holds the client certificate for Sign/SignAndEncrypt.
    """

    def __init__(self, cfg: OpcuaOutputSettings, *, data_dir: str | os.PathLike[str] | None = None,
                 security_mode: str = "None", username: str | None = None, password: str | None = None,
                 connect_timeout_s: float = 5.0, reconnect_max_s: float = 2.0,
                 key_path: str | None = None) -> None:
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
        self.reconnect_max_s = reconnect_max_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._vtype: ua.VariantType | None = None
        self._ready = threading.Event()
        self._attempt_failed = threading.Event()
        self._supervisor: concurrent.futures.Future[None] | None = None
        self._broken = False
        self._last_error: str | None = None

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.uaclient.state is UaClientState.CONNECTED

    # ----- StopOutput ----------------------------------------------------
    def open(self) -> None:
        """Start the output's thread (first call) and wait for a session.

        Raises ``DeviceUnavailable`` when a connection attempt fails or none is
        up within the connect timeout; the thread keeps reconnecting all the
        same, until :meth:`close`. Call it again to wait for the next attempt.
        """
        if self._thread is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=f"opcua-stop-{self.name}",
                                            daemon=True)
            self._thread.start()
            self._supervisor = asyncio.run_coroutine_threadsafe(self._supervise(), self._loop)
        deadline = time.monotonic() + self.connect_timeout_s * 2 + 1
        self._attempt_failed.clear()
        while not self.connected:
            left = deadline - time.monotonic()
            if self._attempt_failed.wait(min(0.05, max(left, 0))) or left <= 0:
                raise DeviceUnavailable(f"OPC UA stop output {self.name}: {self._last_error or 'no answer'}")

    def check(self) -> None:
        """Keep-alive: read the node once on the session; raises ``DeviceError`` (and drops the
        session, so that the thread reconnects) when the server does not answer."""
        loop = self._loop
        if loop is None or not self.connected:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected to {self.cfg.url}")
        fut = asyncio.run_coroutine_threadsafe(self._read_async(), loop)
        try:
            fut.result(max(self.cfg.timeout_ms / 1000, 1.0))
        except Exception as exc:
            fut.cancel()
            self._failed(f"no answer to the keep-alive read of {self.cfg.node_id}: {type(exc).__name__}: {exc}")
            asyncio.run_coroutine_threadsafe(self._close_client(), loop)
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: {self._last_error}") from exc

    def fire(self) -> None:
        self._write(self.cfg.value)

    def release(self) -> None:
        self._write(0)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._supervisor is not None:
            loop.call_soon_threadsafe(self._supervisor.cancel)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close_client(), loop).result(self.connect_timeout_s + 1)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.connect_timeout_s + 1)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = self._supervisor = None
        self._ready.clear()

    # ----- internals -------------------------------------------------------
    def _write(self, value: float) -> None:
        loop = self._loop
        if loop is None:
            raise DeviceError(f"OPC UA stop output {self.name} is not open")
        if not self.connected:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected to {self.cfg.url} "
                                    f"({self._last_error or 'reconnecting'})")
        fut = asyncio.run_coroutine_threadsafe(self._write_async(value), loop)
        try:
            fut.result(self.cfg.timeout_ms / 1000)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise DeviceError(f"OPC UA stop output {self.name}: {self.cfg.url} did not confirm the write of "
                              f"{self.cfg.node_id} within {self.cfg.timeout_ms:.0f} ms") from None
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(f"OPC UA stop output {self.name}: writing {self.cfg.node_id} failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    async def _write_async(self, value: float) -> None:
        client = self._client
        if client is None:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected")
        # asyncua annotates VariantType without None, but None (type not read yet) makes it guess.
        vtype = cast(ua.VariantType, self._vtype)
        dv = ua.DataValue(ua.Variant(_typed(value, vtype), vtype))
        results = await client.uaclient.write_attributes([self._nodeid], [dv], ua.AttributeIds.Value)
        if not results[0].is_good():
            raise DeviceError(f"OPC UA stop output {self.name}: server refused the write of {self.cfg.node_id}: "
                              f"{results[0].name}; check the node is writable for this user")

    async def _read_async(self) -> None:
        client = self._client
        if client is None:
            raise DeviceUnavailable(f"OPC UA stop output {self.name}: not connected")
        await client.get_node(self._nodeid).read_value()

    async def _supervise(self) -> None:
        backoff = Backoff(0.1, self.reconnect_max_s)
        while True:
            try:
                client = await connect(self.endpoint)
                try:
                    node = client.get_node(self._nodeid)
                    async with asyncio.timeout(self.connect_timeout_s):
                        self._vtype = await node.read_data_type_as_variant_type()
                except Exception:
                    await close_quietly(client, timeout_s=1.0)
                    raise
            except Exception as exc:
                self._failed(str(exc) if isinstance(exc, DeviceUnavailable) else
                             f"cannot read the data type of {self.cfg.node_id}: {type(exc).__name__}: {exc}")
                self._attempt_failed.set()
                # Forever, bounded: a stop output that gives up is a stop lost (issue 16, point 1).
                await asyncio.sleep(backoff.failed())
                continue
            self._client = client
            backoff.reset()
            if self._broken:
                log.info("OPC UA stop output %s connected again to %s", self.name, self.cfg.url)
                self._broken = False
            self._last_error = None
            self._ready.set()
            while client.uaclient.state is UaClientState.CONNECTED:
                await asyncio.sleep(0.2)
            self._failed(f"connection lost ({client.uaclient.state.value})")
            await self._close_client()

    def _failed(self, reason: str) -> None:
        self._last_error = reason
        if not self._broken:
            self._broken = True
            log.error("OPC UA stop output %s unavailable: %s", self.name, reason)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await close_quietly(client, timeout_s=1.0)


def _typed(value: float, vtype: ua.VariantType | None) -> Any:
    if vtype is ua.VariantType.Boolean:
        return bool(value)
    if vtype in _INT_TYPES:
        return int(value)
    return float(value)
