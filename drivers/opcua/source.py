"""OPC UA source: data-change subscriptions and polled reads onto the bus.

One supervisor task per server (Home Assistant's coordinator pattern):

    connect -> subscribe every signal -> watch -> (loss or stall) -> close -> back off -> connect ...

Every reconnect opens a fresh session and recreates every subscription and
monitored item, so nothing depends on the server still holding state after a
restart. The old session is closed with CloseSession (bounded by the request
timeout) so a server that is still alive frees it at once; one that is gone
expires it after ``session_timeout_s``.

Stall detection (issue 3: "subscriptions that silently stop"): the server must
send a publish response at least every MaxKeepAliveCount publishing intervals
even when nothing changes (OPC 10000-4 §5.13.1). We request a keep-alive count
of a third of ``stall_intervals``; when no data and no keep-alive arrived for
``stall_intervals`` (revised) publishing intervals, the session is torn down and
rebuilt. asyncua's own supervisor additionally probes ServerStatus once a second
and marks the client disconnected when the transport is gone or frozen.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import Subscription

from drivers.backoff import Backoff
from drivers.base import SourceHealth
from drivers.complaints import Complaints
from drivers.convert import convert
from drivers.errors import DeviceUnavailable
from drivers.samples import Quality, Sample, SampleSink

from .config import OpcuaServer, OpcuaSignal
from .connection import (
    Endpoint,
    check_security,
    close_quietly,
    connect,
    resolve_password,
    transport_answers,
)

log = logging.getLogger(__name__)

_MAX_ITEMS_PER_REQUEST = 500  # keeps CreateMonitoredItems requests well under typical PLC limits
_SEQ_HANDLE_OFFSET = 1_000_000
_PROBE_S = 0.25  # TCP probe period while the server's port refuses (see _wait_to_retry)


class OpcuaSource:
    """``async with OpcuaSource(cfg, bus, data_dir=..., secrets=...):`` reads one OPC UA server.

    ``secrets`` maps secret names to values (the password named by
    ``password_secret``); ``data_dir`` holds ``pki/`` with the client
    certificate (needed for Sign/SignAndEncrypt).
    """

    kind = "opcua"

    def __init__(self, server_cfg: OpcuaServer, bus: SampleSink, *, data_dir: str | os.PathLike[str] | None = None,
                 secrets: Mapping[str, str] | None = None, key_path: str | None = None,
                 record_publish_delays: bool = False) -> None:
        self.cfg = server_cfg
        self.bus = bus
        self.name = server_cfg.name
        self.health = SourceHealth(name=server_cfg.name, kind=self.kind)
        key_path = key_path or f"sources.opcua[{server_cfg.name}]"
        password = resolve_password(key_path=key_path, username=server_cfg.username,
                                    password_secret=server_cfg.password_secret, secrets=secrets or {})
        self.endpoint = Endpoint(
            url=server_cfg.url, security_mode=server_cfg.security_mode,
            security_policy=server_cfg.security_policy, data_dir=data_dir,
            username=server_cfg.username, password=password, timeout_s=server_cfg.timeout_s,
            session_timeout_s=server_cfg.session_timeout_s)
        check_security(self.endpoint, key_path=key_path)
        self._subscribed = [s for s in server_cfg.signals if s.mode == "subscribe"]
        self._polled = [s for s in server_cfg.signals if s.mode == "poll"]
        # client handle (1-based index) -> signal; handles stay the same across reconnects
        self._by_handle: dict[int, OpcuaSignal] = {i + 1: s for i, s in enumerate(self._subscribed)}
        # A block signal's sequence-number node is monitored under its handle + _SEQ_HANDLE_OFFSET.
        self._seq_handles = {h + _SEQ_HANDLE_OFFSET for h, s in self._by_handle.items() if s.seq_node_id}
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._client: Client | None = None
        self._broken = False  # an ERROR was logged and no recovery yet
        self._complaints = Complaints(log, f"OPC UA {server_cfg.name}")
        self.sessions_opened = 0
        self.stalls_detected = 0
        self.stall_timeout_s: float | None = None  # of the current subscription
        self.revised_publishing_interval_ms: float | None = None
        self._connected = asyncio.Event()
        # Diagnostics (bench): receive UTC - the server's PublishTime of the message, per sample.
        self.publish_delays: collections.deque[int] | None = (
            collections.deque(maxlen=1_000_000) if record_publish_delays else None)

    # ----- lifecycle -----------------------------------------------------
    async def __aenter__(self) -> OpcuaSource:
        self._task = asyncio.create_task(self._supervise(), name=f"opcua:{self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=2 * self.cfg.timeout_s + 1)
            if not task.done():
                log.error("OPC UA %s: reader did not stop within %.0f s", self.name, 2 * self.cfg.timeout_s + 1)
        closing = self._closing
        if closing is not None and not closing.done():
            # The session's CloseSession may still be in flight (shielded from the cancel).
            await asyncio.wait({closing}, timeout=self.cfg.timeout_s + 1)
        self.health.state = "stopped"
        self.health.available = False

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a session with every subscription is up (tests, CLI)."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # ----- supervisor ----------------------------------------------------
    async def _supervise(self) -> None:
        backoff = Backoff(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s)
        while True:
            try:
                client = await connect(self.endpoint)
            except Exception as exc:  # DeviceUnavailable with a hint; anything else must not end the loop
                self._lost(str(exc) if isinstance(exc, DeviceUnavailable) else f"{type(exc).__name__}: {exc}")
                await self._wait_to_retry(backoff)
                continue
            self.sessions_opened += 1
            self._client = client
            was_up = False
            try:
                reason = await self._run_session(client)
            except Exception as exc:  # any failure of the session means: rebuild it
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._client = None
                was_up = self._connected.is_set()
                self._connected.clear()
                # Shielded: leaving the `async with` must still close the session (__aexit__ waits for it).
                self._closing = asyncio.ensure_future(close_quietly(client, timeout_s=self.cfg.timeout_s))
                await asyncio.shield(self._closing)
            self._lost(reason)
            if was_up:  # the session worked: the first retry is quick
                backoff.reset()
            await self._wait_to_retry(backoff)

    async def _wait_to_retry(self, backoff: Backoff) -> None:
        """Wait out the backoff, but try at once when the server's port starts answering.

        Issue 16: with only a doubling delay a restarted PLC waited up to
        ``reconnect_max_s`` (30 s) for the next try. While the port refuses,
        it is probed with a bare TCP connect every ``_PROBE_S``; the moment it
        accepts again (the edge, not every answer: a server that is up but
        refuses the session keeps backing off) the backoff is reset and the
        session is opened. Cheap for the PLC: a refused connect costs it nothing.
        """
        delay = backoff.failed()
        deadline = time.monotonic() + delay
        refused = False
        while (left := deadline - time.monotonic()) > 0:
            step = min(_PROBE_S, left)
            t0 = time.monotonic()
            answers = await transport_answers(self.endpoint.url, timeout_s=step)
            if answers:
                if refused:
                    log.debug("OPC UA %s: %s answers again; reconnecting now", self.name, self.cfg.url)
                    backoff.reset()
                    return
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                return
            refused = True
            await asyncio.sleep(max(0.0, step - (time.monotonic() - t0)))

    async def _run_session(self, client: Client) -> str:
        """Subscribe and watch; returns why the session must be rebuilt."""
        tasks: list[asyncio.Task[Any]] = []
        sub: _Subscription | None = None
        try:
            if self._subscribed:
                sub = await self._subscribe(client)
                tasks.append(asyncio.create_task(self._consume(sub), name=f"opcua:{self.name}:notify"))
            if self._polled:
                tasks.append(asyncio.create_task(self._poll(client), name=f"opcua:{self.name}:poll"))
            self._recovered()
            self._connected.set()
            return await self._watch(client, sub, tasks)
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                # Bounded: a child that swallowed its cancellation must not keep the
                # session (or the box's shutdown) hanging.
                _done, pending = await asyncio.wait(tasks, timeout=self.cfg.timeout_s)
                if pending:
                    log.warning("OPC UA %s: %d task(s) did not stop when cancelled", self.name, len(pending))

    async def _watch(self, client: Client, sub: Subscription | None, tasks: list[asyncio.Task[Any]]) -> str:
        stall_s = self.stall_timeout_s or math.inf
        check_s = min(0.25, stall_s / 4)
        created = time.monotonic()
        while True:
            await asyncio.sleep(check_s)
            if client.uaclient.state is not UaClientState.CONNECTED:
                return f"connection lost ({client.uaclient.state.value})"
            for t in tasks:
                if t.done():
                    exc = t.exception()
                    return f"{t.get_name()} ended: {type(exc).__name__}: {exc}" if exc else f"{t.get_name()} ended"
            if sub is not None:
                last = sub.last_publish_at or created
                silent = time.monotonic() - last
                if silent > stall_s:
                    self.stalls_detected += 1
                    return (f"subscription stalled: no data and no keep-alive for {silent:.1f} s "
                            f"(limit {stall_s:.1f} s)")

    async def _subscribe(self, client: Client) -> _Subscription:
        cfg = self.cfg
        requested = cfg.publishing_interval_ms  # 0 = the fastest the server grants
        keepalive = max(1, cfg.stall_intervals // 3)
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = requested
        params.RequestedMaxKeepAliveCount = keepalive
        # The server keeps an orphaned subscription for LifetimeCount intervals;
        # tie it to the session timeout (>= 3x keep-alive, OPC 10000-4 §5.13.2).
        params.RequestedLifetimeCount = _lifetime_count(cfg.session_timeout_s, requested, keepalive)
        params.MaxNotificationsPerPublish = 0  # no limit
        params.PublishingEnabled = True
        params.Priority = 0
        # Iterator mode (no per-notification task); queue sized for bursts after a slow loop turn.
        sub = _Subscription(client.uaclient.session, params, None, queue_maxsize=1)
        result = await sub.init()
        interval = float(result.RevisedPublishingInterval or requested)  # 0 stays 0 only if asked
        revised_keepalive = int(result.RevisedMaxKeepAliveCount or keepalive)
        if interval > 0 and interval * revised_keepalive < cfg.stall_min_s * 1000 / 3:
            # A fast interval (e.g. the server's minimum for a request of 0): keep-alives
            # every few ms would only load the link; a third of stall_min_s is enough.
            revised_keepalive = await self._slow_keepalive(sub, interval, revised_keepalive)
        self.revised_publishing_interval_ms = interval
        if interval > 0:
            self.stall_timeout_s = max(cfg.stall_intervals * interval / 1000, cfg.stall_min_s,
                                       1.5 * revised_keepalive * interval / 1000)
        else:
            # Revised to 0 (asyncua's server does this for a request of 0): every change
            # is published at once and no cyclic keep-alive is sent, so silence is not a
            # stall; a dead or frozen server is still found by asyncua's ServerStatus probe.
            self.stall_timeout_s = None
        if interval != requested or requested == 0:
            log.info("OPC UA %s: publishing interval: asked %s, the server granted %.1f ms%s", self.name,
                     "fastest (0 ms)" if requested == 0 else f"{requested:g} ms", interval,
                     "; every change is published at once" if interval <= 0 else "")
        items = [(h, sig, sig.node_id) for h, sig in self._by_handle.items()]
        items += [(h + _SEQ_HANDLE_OFFSET, sig, sig.seq_node_id) for h, sig in self._by_handle.items()
                  if sig.seq_node_id]
        for start in range(0, len(items), _MAX_ITEMS_PER_REQUEST):
            chunk = items[start:start + _MAX_ITEMS_PER_REQUEST]
            results = await sub.create_monitored_items([self._item_request(h, s, n) for h, s, n in chunk])
            for (_h, sig, nid), res in zip(chunk, results, strict=True):
                if isinstance(res, ua.StatusCode):
                    self._problem(sig, f"cannot monitor node {nid}: {res.name}; check the node id "
                                       "with `werkvloer opcua browse`", level=logging.ERROR)
                    self.bus.publish(Sample(sig.name, None, Quality.BAD))
        return sub

    async def _slow_keepalive(self, sub: _Subscription, interval: float, keepalive: int) -> int:
        """ModifySubscription to a keep-alive of about stall_min_s / 3; the revised count."""
        cfg = self.cfg
        wanted = max(keepalive, math.ceil(cfg.stall_min_s * 1000 / 3 / interval))
        params = ua.ModifySubscriptionParameters()
        params.SubscriptionId = sub.subscription_id
        params.RequestedPublishingInterval = interval
        params.RequestedMaxKeepAliveCount = wanted
        params.RequestedLifetimeCount = _lifetime_count(cfg.session_timeout_s, interval, wanted)
        params.MaxNotificationsPerPublish = 0
        params.Priority = 0
        try:
            async with asyncio.timeout(cfg.timeout_s):
                res = await sub.update(params)
        except (ua.UaStatusCodeError, TimeoutError) as exc:
            log.debug("OPC UA %s: ModifySubscription refused (%s); keeping keep-alive count %d",
                      self.name, exc, keepalive)
            return keepalive
        return int(res.RevisedMaxKeepAliveCount or keepalive)

    @staticmethod
    def _item_request(handle: int, sig: OpcuaSignal, node_id: str) -> ua.MonitoredItemCreateRequest:
        rv = ua.ReadValueId()
        rv.NodeId = ua.NodeId.from_string(node_id)
        rv.AttributeId = ua.AttributeIds.Value
        mp = ua.MonitoringParameters()
        mp.ClientHandle = handle
        mp.SamplingInterval = sig.sampling_interval_ms
        mp.QueueSize = sig.queue_size
        mp.DiscardOldest = True
        req = ua.MonitoredItemCreateRequest()
        req.ItemToMonitor = rv
        req.MonitoringMode = ua.MonitoringMode.Reporting
        req.RequestedParameters = mp
        return req

    async def _consume(self, sub: _Subscription) -> None:
        while True:
            self._on_message(await sub.messages.get())

    def _on_message(self, msg: ua.NotificationMessage) -> None:
        """All data changes of one notification message, in order."""
        publish = self.bus.publish
        by_handle = self._by_handle
        delays = self.publish_delays
        publish_ns = int(msg.PublishTime.timestamp() * 1e9) if delays is not None and msg.PublishTime else 0
        for notif in msg.NotificationData:
            if not isinstance(notif, ua.DataChangeNotification):
                continue  # status changes end in a lost connection, which _watch sees
            items = notif.MonitoredItems
            seqs: dict[int, list[int | None]] = {}
            if self._seq_handles:
                # A block and its sequence number change together, so they travel in the
                # same message; the k-th block of a signal pairs with its k-th number.
                for item in items:
                    if item.ClientHandle in self._seq_handles:
                        seqs.setdefault(item.ClientHandle, []).append(_seq_value(item.Value))
            for item in items:
                sig = by_handle.get(item.ClientHandle)
                if sig is None:
                    continue
                seq = None
                if seqs:
                    pending = seqs.get(item.ClientHandle + _SEQ_HANDLE_OFFSET)
                    seq = pending.pop(0) if pending else None
                sample = self._to_sample(sig, item.Value, seq)
                publish(sample)
                if publish_ns:
                    delays.append(sample.utc_ns - publish_ns)  # type: ignore[union-attr]

    async def _poll(self, client: Client) -> None:
        period = self.cfg.poll_interval_ms / 1000
        nodeids = [ua.NodeId.from_string(s.node_id) for s in self._polled]
        next_t = time.monotonic()
        while True:
            async with asyncio.timeout(self.cfg.timeout_s):  # not wait_for: see connection.py
                values = await client.uaclient.read_attributes(nodeids, ua.AttributeIds.Value)
            for sig, dv in zip(self._polled, values, strict=True):
                self.bus.publish(self._to_sample(sig, dv))
            next_t += period
            now = time.monotonic()
            if next_t < now:  # fell behind (slow server): skip the missed reads, do not burst
                next_t = now + period
            await asyncio.sleep(next_t - now)

    # ----- values --------------------------------------------------------
    def _to_sample(self, sig: OpcuaSignal, dv: ua.DataValue | None, seq: int | None = None) -> Sample:
        mono, utc = time.monotonic_ns(), time.time_ns()
        status = dv.StatusCode if dv is not None else None
        quality = Quality.GOOD
        if status is not None and status.value != 0:
            if status.is_bad():
                self._problem(sig, f"server reports {status.name}")
                return Sample(sig.name, None, Quality.BAD, mono, utc)
            if status.is_uncertain():
                # Uncertain (e.g. last usable value, sensor not accurate): not fresh
                # and not trustworthy, but not an error either.
                quality = Quality.STALE
        raw = dv.Value.Value if dv is not None and dv.Value is not None else None
        value, block, problem = _convert(sig, raw)
        if problem:
            self._problem(sig, problem)
            quality = Quality.BAD
        elif quality is Quality.GOOD:
            self._complaints.good(sig.name)
            self.health.last_good_utc_ns = utc
        return Sample(sig.name, value, quality, mono, utc, block=block, seq=seq if block is not None else None)

    def _problem(self, sig: OpcuaSignal, problem: str, level: int = logging.WARNING) -> None:
        self._complaints.bad(sig.name, problem, level)

    # ----- health ----------------------------------------------------------
    def _lost(self, reason: str) -> None:
        was_available = self.health.available
        self.health.available = False
        self.health.state = "unavailable"
        self.health.last_error = reason
        if not self._broken:
            self._broken = True
            log.error("OPC UA %s (%s) unavailable: %s; reconnecting", self.name, self.cfg.url, reason)
        else:
            log.debug("OPC UA %s still unavailable: %s", self.name, reason)
        if was_available:
            mono, utc = time.monotonic_ns(), time.time_ns()
            for sig in self.cfg.signals:
                self.bus.publish(Sample(sig.name, None, Quality.STALE, mono, utc))

    def _recovered(self) -> None:
        self.health.available = True
        self.health.state = "ok"
        self.health.last_error = None
        if self._broken:
            self._broken = False
            log.info("OPC UA %s (%s) available again (session %d)", self.name, self.cfg.url, self.sessions_opened)
        else:
            log.info("OPC UA %s connected to %s", self.name, self.cfg.url)


class _Subscription(Subscription):
    """Hands whole notification messages to the source instead of one event per item.

    One queue entry per message (not per monitored item) keeps 10,000
    notifications/s cheap, and lets a block pair with its sequence number from
    the same message. ``last_publish_at`` is kept as asyncua does (keep-alives
    included): the stall watchdog reads it.
    """

    MAX_MESSAGES = 1000  # ~100 s at 100 ms; beyond that the oldest are dropped and counted

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: asyncio.Queue[ua.NotificationMessage] = asyncio.Queue(maxsize=self.MAX_MESSAGES)
        self.dropped_messages = 0

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        msg = publish_result.NotificationMessage
        if not msg.NotificationData:
            return  # a keep-alive
        self.last_sequence_number = int(msg.SequenceNumber)
        if self.messages.full():
            self.messages.get_nowait()
            self.dropped_messages += 1
        self.messages.put_nowait(msg)


def _lifetime_count(session_timeout_s: float, interval_ms: float, keepalive: int) -> int:
    """Publishing intervals the server keeps an orphaned subscription: about the session timeout."""
    return max(3 * keepalive, math.ceil(session_timeout_s * 1000 / max(interval_ms, 10.0)))


def _seq_value(dv: ua.DataValue | None) -> int | None:
    if dv is None or dv.Value is None or (dv.StatusCode is not None and not dv.StatusCode.is_good()):
        return None
    v = dv.Value.Value
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _convert(sig: OpcuaSignal, raw: Any) -> tuple[Any, Any, str | None]:
    """(value, block, problem) of a raw OPC UA value; problem makes the sample BAD."""
    if raw is None:
        return None, None, "no value (null)"
    if isinstance(raw, bool):
        return raw, None, None
    if isinstance(raw, int | float):
        value, problem = convert(sig, raw)
        return value, None, problem
    if isinstance(raw, str):
        return raw, None, None
    if isinstance(raw, list | tuple):
        try:
            block = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError):
            return str(raw)[:200], None, None
        if sig.scale != 1.0 or sig.offset != 0.0:
            block = block * np.float32(sig.scale) + np.float32(sig.offset)
        if block.ndim != 1 or not np.isfinite(block).all():
            return None, None, "array has NaN/inf or is not one-dimensional"
        rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if block.size else 0.0
        return rms, block, None
    if isinstance(raw, ua.LocalizedText):
        return raw.Text, None, None
    if hasattr(raw, "isoformat"):
        return raw.isoformat(), None, None
    return str(raw)[:200], None, None
