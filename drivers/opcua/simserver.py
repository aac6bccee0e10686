"""The machine simulator as an OPC UA server (what a PLC's OPC UA server shows).

``async with OpcuaSimServer(sim, port=4840):`` exposes ``MachineSim`` under the
namespace ``urn:werkvloer:sim`` (index 2) as ``ns=2;s=Cell.<Name>``:

- one variable per key of ``sim.values()`` (``spindle_speed`` -> ``Cell.SpindleSpeed``);
- ``Cell.Vibration.Block`` (Float array: the samples produced since the last
  update) and ``Cell.Vibration.Seq`` (sequence number of its first sample);
- writable ``Cell.Stop`` (Boolean, calls ``sim.apply_stop``) and ``Cell.Heartbeat``;
- optionally ``Cell.Load.Item0000``.. (``extra_items``, for the benchmark): Double
  values set to the server's UTC time in seconds at every update.

It copies values from the sim ``rate_hz`` times a second; it does not advance
the sim (the simulator runner does, in real time) unless ``advance=True``.
While the sim has the ``plc_disconnect`` fault, values carry
BadCommunicationError, as a gateway does when the PLC behind it is gone.

Security modes for tests: ``security=("None", "Sign", "SignAndEncrypt")`` (all
Basic256Sha256); a server certificate is generated into ``pki_dir`` (a temp dir
by default) at start. ``users={"name": "password"}`` enables user logins;
``allow_anonymous=False`` then requires one.

Run alone: ``python -m appliance.simulator.opcua_server --port 4840`` (advances the sim).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from asyncua import Server, ua
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import NodeData
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from drivers.simulated import SimulatedMachine

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:werkvloer:sim"
MAX_BLOCK = 4096  # samples per Block update (2 s at 2 kHz): a slow tick must not build huge arrays

_TYPES: dict[str, ua.VariantType] = {
    "running": ua.VariantType.Boolean,
    "machine_state": ua.VariantType.Int32,
    "spindle_speed": ua.VariantType.Double,
    "motor_current": ua.VariantType.Double,
    "temperature": ua.VariantType.Double,
    "part_count": ua.VariantType.UInt32,
    "good_count": ua.VariantType.UInt32,
    "scrap_count": ua.VariantType.UInt32,
    "energy_kwh": ua.VariantType.Double,
    "power_kw": ua.VariantType.Double,
    "product_id": ua.VariantType.Int32,
    "door_open": ua.VariantType.Boolean,
}
SECURITY_MODES = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}


def browse_name(key: str) -> str:
    """``spindle_speed`` -> ``SpindleSpeed``."""
    return "".join(part.capitalize() for part in key.split("_"))


def node_id(key: str) -> str:
    """Node id string of a ``sim.values()`` key, e.g. ``ns=2;s=Cell.SpindleSpeed``."""
    return f"ns=2;s=Cell.{browse_name(key)}"


def _string_nid(name: str, ns: int) -> ua.NodeId:
    """String NodeId ``name`` in namespace ``ns``.

    asyncua annotates NodeId's fields with its marker subclasses (ua.String,
    ua.Int16) but takes plain str/int; the casts only tell mypy so.
    """
    return ua.NodeId(cast(ua.String, name), cast(ua.Int16, ns))


class _UserManager(UserManager):
    def __init__(self, users: Mapping[str, str], allow_anonymous: bool) -> None:
        self.users = dict(users)
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.User) if self.allow_anonymous else None
        if self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class OpcuaSimServer:
    def __init__(self, sim: SimulatedMachine, *, host: str = "127.0.0.1", port: int = 4840, rate_hz: float = 20.0,
                 security: Sequence[str] = ("None",), pki_dir: str | Path | None = None,
                 users: Mapping[str, str] | None = None, allow_anonymous: bool = True,
                 extra_items: int = 0, advance: bool = False) -> None:
        unknown = set(security) - set(SECURITY_MODES)
        if unknown or not security:
            raise ValueError(f"security must be some of {', '.join(SECURITY_MODES)}; got {list(security)}")
        if not 0 < rate_hz <= 1000:
            raise ValueError("rate_hz must be in (0, 1000]")
        self.sim = sim
        self.host = host
        self.port = port
        self.rate_hz = rate_hz
        self.security = tuple(security)
        self.pki_dir = Path(pki_dir) if pki_dir is not None else None
        self.users = dict(users or {})
        self.allow_anonymous = allow_anonymous
        self.extra_items = extra_items
        self.advance = advance
        self.url = f"opc.tcp://{host}:{port}/werkvloer/sim/"
        self.server_cert_path: Path | None = None
        # Test and bench verbs
        self.last_stop_write_ns: int | None = None  # time.monotonic_ns() of the last Stop write
        self.stop_writes = 0
        self.heartbeat_writes = 0
        self._server: Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._last: dict[str, Any] = {}
        self._vib_seq = 0

    @property
    def session_count(self) -> int:
        """Sessions the server currently holds (leak checks in tests)."""
        if self._server is None:
            return 0
        return len(self._server.iserver._external_sessions)  # noqa: SLF001 - no public counter in asyncua 2.1

    def freeze_publishing(self) -> int:
        """Test verb: silence every current subscription (no data, no keep-alive)
        while the connection, reads and new subscriptions keep working — the
        "subscription that silently stops" of issue 3. Call in the server's loop.
        Returns the number of subscriptions frozen."""
        if self._server is None:
            return 0
        frozen = 0
        for isub in self._server.iserver.subscription_service.subscriptions.values():
            task = isub._task  # noqa: SLF001 - asyncua has no "pause publishing" API
            if task is not None:
                task.cancel()
                isub._task = None  # noqa: SLF001
                frozen += 1
        return frozen

    async def __aenter__(self) -> OpcuaSimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        server = Server(user_manager=_UserManager(self.users, self.allow_anonymous))
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Werkvloer machine simulator")
        server.set_security_policy([SECURITY_MODES[s] for s in self.security])
        tokens: list[type] = [ua.AnonymousIdentityToken] if self.allow_anonymous else []
        if self.users:
            tokens.append(ua.UserNameIdentityToken)
        server.set_identity_tokens(tokens)
        if any(s != "None" for s in self.security):
            await self._load_certificate(server)
        idx = await server.register_namespace(NAMESPACE_URI)
        cell = await server.nodes.objects.add_object(_string_nid("Cell", idx), ua.QualifiedName("Cell", idx))
        for key, value in self.sim.values().items():
            nid = _string_nid(f"Cell.{browse_name(key)}", idx)
            await cell.add_variable(nid, ua.QualifiedName(browse_name(key), idx), value, _TYPES.get(key))
            self._nodes[key] = nid
        vib = await cell.add_object(_string_nid("Cell.Vibration", idx), ua.QualifiedName("Vibration", idx))
        self._nodes["vibration_block"] = _string_nid("Cell.Vibration.Block", idx)
        self._nodes["vibration_seq"] = _string_nid("Cell.Vibration.Seq", idx)
        block = await vib.add_variable(self._nodes["vibration_block"], ua.QualifiedName("Block", idx), [0.0],
                                       ua.VariantType.Float)
        await block.write_value_rank(1)  # a one-dimensional array (OPC 10000-3 §5.6.2)
        # asyncua annotates the argument as int; ArrayDimensions is an array of UInt32.
        await block.write_array_dimensions([0])  # type: ignore[arg-type]
        await vib.add_variable(self._nodes["vibration_seq"], ua.QualifiedName("Seq", idx), 0, ua.VariantType.UInt64)
        self._vib_seq = self.sim.vibration_seq
        stop = await cell.add_variable(_string_nid("Cell.Stop", idx), ua.QualifiedName("Stop", idx),
                                       self.sim.stop_active, ua.VariantType.Boolean)
        beat = await cell.add_variable(_string_nid("Cell.Heartbeat", idx), ua.QualifiedName("Heartbeat", idx),
                                       self.sim.heartbeat, ua.VariantType.Int32)
        for node in (stop, beat):
            await node.set_writable()
        server.set_attribute_value_setter(stop.nodeid, self._on_stop_write)
        server.set_attribute_value_setter(beat.nodeid, self._on_heartbeat_write)
        if self.extra_items:
            load = await cell.add_object(_string_nid("Cell.Load", idx), ua.QualifiedName("Load", idx))
            for i in range(self.extra_items):
                nid = _string_nid(f"Cell.Load.Item{i:04d}", idx)
                await load.add_variable(nid, ua.QualifiedName(f"Item{i:04d}", idx), 0.0, ua.VariantType.Double)
                self._nodes[f"load_{i}"] = nid
        await server.start()
        self._server = server
        self._task = asyncio.create_task(self._update_loop(), name="opcua-sim-update")
        log.info("OPC UA simulator listening on %s (security %s)", self.url, ", ".join(self.security))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
        self._last.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def _load_certificate(self, server: Server) -> None:
        if self.pki_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="werkvloer-opcua-sim-")
            self.pki_dir = Path(self._tmp.name)
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        key, cert = self.pki_dir / "sim-server.key.pem", self.pki_dir / "sim-server.der"
        await cert_gen.setup_self_signed_certificate(
            key, cert, server.get_application_uri(), socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], {"organizationName": "Werkvloer"})
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        self.server_cert_path = cert

    # Value setters run in the server's loop when a client writes (synchronously,
    # before the write is answered), so the recorded time is the arrival time.
    def _on_stop_write(self, node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
        self.last_stop_write_ns = time.monotonic_ns()
        node.attributes[attr].value = value
        self.stop_writes += 1
        active = bool(value.Value.Value) if value.Value is not None else False
        self.sim.apply_stop(active)
        log.info("OPC UA simulator: Stop written %s", active)

    def _on_heartbeat_write(self, node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
        node.attributes[attr].value = value
        self.heartbeat_writes += 1
        if value.Value is not None and isinstance(value.Value.Value, int):
            self.sim.heartbeat = value.Value.Value

    async def _update_loop(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic()
        last_t = next_t
        while True:
            now = time.monotonic()
            if self.advance:
                self.sim.advance(min(now - last_t, 1.0))
            last_t = now
            try:
                await self.update()
            except Exception:  # keep serving; one bad tick must not end the simulator
                log.exception("OPC UA simulator update failed")
            next_t += period
            now = time.monotonic()
            if next_t < now:
                next_t = now
            await asyncio.sleep(next_t - now)

    async def update(self) -> None:
        """Copy the sim's current values into the address space (changed values only)."""
        server = self._server
        if server is None:
            return
        # asyncua annotates timestamps with its ua.DateTime marker subclass; any datetime works.
        stamp = cast(ua.DateTime, datetime.now(UTC))
        good = self.sim.plc_connected
        status = ua.StatusCode() if good else ua.StatusCode(cast(ua.UInt32, ua.StatusCodes.BadCommunicationError))
        values: dict[str, Any] = dict(self.sim.values())
        seq = self.sim.vibration_seq
        if seq != self._vib_seq:
            first, block = self.sim.vibration_block(min(seq - self._vib_seq, MAX_BLOCK))
            self._vib_seq = seq
            values["vibration_seq"] = first
            values["vibration_block"] = block
        for key, value in values.items():
            if good and self._last.get(key, _MISSING) == value and key != "vibration_block":
                continue
            self._last[key] = value if good else _MISSING
            vtype = _TYPES.get(key) or (ua.VariantType.Float if key == "vibration_block"
                                        else ua.VariantType.UInt64 if key == "vibration_seq"
                                        else ua.VariantType.Double)
            dv = ua.DataValue(ua.Variant(value if good else None, vtype if good else ua.VariantType.Null),
                              StatusCode=status, SourceTimestamp=stamp, ServerTimestamp=stamp)
            await server.write_attribute_value(self._nodes[key], dv)
        if self.extra_items:
            await self._update_load_items(server, status, good)

    async def _update_load_items(self, server: Server, status: ua.StatusCode, good: bool) -> None:
        # Each item's value is the UTC time (s) at which it is written, equal to
        # its SourceTimestamp: the benchmark measures source -> box delay from it.
        for i in range(self.extra_items):
            now_ns = time.time_ns()
            stamp = cast(ua.DateTime, datetime.fromtimestamp(now_ns / 1e9, UTC))
            dv = ua.DataValue(ua.Variant(now_ns / 1e9 if good else None,
                                         ua.VariantType.Double if good else ua.VariantType.Null),
                              StatusCode=status, SourceTimestamp=stamp, ServerTimestamp=stamp)
            await server.write_attribute_value(self._nodes[f"load_{i}"], dv)
            if i % 50 == 49:
                # asyncua's server spends ~0.4 ms per monitored write (it deep-copies the value);
                # yield so 1,000 writes do not hold back its publish loop for 400 ms.
                await asyncio.sleep(0)


_MISSING = object()


if __name__ == "__main__":
    # The standalone server is composed (machine + server + real-time loop) in the appliance.
    raise SystemExit("run the simulator's OPC UA server with: python -m appliance.simulator.opcua_server")
