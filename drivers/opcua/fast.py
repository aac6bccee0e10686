"""The guard's own OPC UA reader: signals with ``mode = "poll"`` that a guard rule watches.

Issue 11. Read back to back (as fast as the server answers) on a session of
its own, in a thread of its own on a blocking socket (``wire.py``: no event
loop at all, so a read costs one round trip and asyncua's encoding);
the sample's time is taken when the read request is sent, and the samples go
to ``deliver`` in that thread, where the guard decides and writes its stop
outputs. The core's ``OpcuaSource`` no longer reads these signals (the
guard's publisher hands the same samples to the bus).

Loss: one ERROR, bad samples once, reconnect with the shared bounded backoff
(``drivers.backoff``), one INFO when it reads again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from asyncua import ua

from drivers.backoff import Backoff
from drivers.base import SourceHealth
from drivers.samples import Quality, Sample

from .config import OpcuaServer, OpcuaSignal
from .connection import Endpoint, open_wire, resolve_password
from .source import _convert

log = logging.getLogger(__name__)


def to_sample(sig: OpcuaSignal, dv: ua.DataValue | None, mono: int, utc: int) -> Sample:
    status = dv.StatusCode if dv is not None else None
    if status is not None and status.value != 0 and status.is_bad():
        return Sample(sig.name, None, Quality.BAD, mono, utc)
    quality = Quality.STALE if status is not None and status.value != 0 else Quality.GOOD
    raw = dv.Value.Value if dv is not None and dv.Value is not None else None
    value, _block, problem = _convert(sig, raw)
    return Sample(sig.name, value, Quality.BAD if problem else quality, mono, utc)


class FastOpcuaReader:
    def __init__(self, server: OpcuaServer, signals: Sequence[OpcuaSignal], *,
                 deliver: Callable[[list[Sample]], None], on_start: Callable[[], None] | None = None,
                 data_dir: str | None = None, secrets: Mapping[str, str] | None = None,
                 key_path: str | None = None) -> None:
        self.server = server
        self.device = server  # the name the fast path logs
        self.signals = list(signals)
        self.name = f"{server.name}-guard"
        self.health = SourceHealth(name=self.name, kind="opcua")
        password = resolve_password(key_path=key_path or f"sources.opcua[{server.name}]", username=server.username,
                                    password_secret=server.password_secret, secrets=secrets or {})
        self.endpoint = Endpoint(url=server.url, security_mode=server.security_mode,
                                 security_policy=server.security_policy, data_dir=data_dir,
                                 username=server.username, password=password, timeout_s=server.timeout_s,
                                 session_timeout_s=server.session_timeout_s)
        self.interval_ns = 0  # back to back
        self._deliver = deliver
        self._on_start = on_start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cycles = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"guard-fast-{self.server.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.health.state = "stopped"
        self.health.available = False

    def _main(self) -> None:
        if self._on_start is not None:
            self._on_start()
        backoff = Backoff(self.server.reconnect_min_s, self.server.reconnect_max_s)
        nodeids = [ua.NodeId.from_string(s.node_id) for s in self.signals]
        lost = False
        cert: bytes | None = None
        while not self._stop.is_set():
            wire = None
            try:
                wire = open_wire(self.endpoint, server_certificate=cert)
                cert = wire.server_certificate
                while not self._stop.is_set():
                    if wire.renew_due():
                        wire.renew()
                    mono = time.monotonic_ns()  # when the request is sent (issue 11)
                    values = wire.read(nodeids)
                    utc = time.time_ns()
                    if lost:
                        lost = False
                        log.info("OPC UA %s: the guard's fast reader reads again", self.server.name)
                    backoff.reset()
                    self.health.available, self.health.state, self.health.last_good_utc_ns = True, "ok", utc
                    self.cycles += 1
                    self._deliver([to_sample(s, dv, mono, utc) for s, dv in zip(self.signals, values, strict=True)])
            except Exception as exc:  # noqa: BLE001 (any loss: reconnect)
                self.health.available, self.health.state, self.health.last_error = False, "unavailable", str(exc)
                if not lost:
                    lost = True
                    log.error("OPC UA %s: the guard's fast reader lost the server (%s); reconnecting",
                              self.server.name, exc)
                    now, utc = time.monotonic_ns(), time.time_ns()
                    self._deliver([Sample(s.name, None, Quality.BAD, now, utc) for s in self.signals])
            finally:
                if wire is not None:
                    wire.close()
            self._stop.wait(backoff.failed())
