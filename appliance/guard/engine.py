"""The guard: models and rules watching the machine, stop outputs within milliseconds.

Threads (DESIGN.md, "fast path"; issue 4):

- the **publisher's thread** (a driver's event loop, a GPIO callback thread)
  calls :meth:`Guard.on_sample`. It only copies the sample into preallocated
  numpy ring buffers, updates the rule states (a few comparisons under a
  per-rule lock held for microseconds) and, when a model's hop is complete,
  wakes that model's inference thread with a ``SimpleQueue.put`` (C, never
  blocks). It never runs a model and never touches an output: a model that
  hangs, or an output that waits for its timeout, must not stall a driver's
  event loop.
- one **inference thread per model binding** copies the newest window, runs
  the model, decides (N-of-M + hysteresis) and, on a trip, fires the outputs
  itself: one thread hand-off between sample and stop, not two. The shadow
  candidate is scored on the same window *after* the decision, so it never
  delays a stop, and it never trips anything.
- the **guard thread** evaluates the timed rules ("above for T ms" when
  values arrive only on change, "stalled for T s"), fires rule trips, watches
  the inference threads (``inference_timeout_ms``: a hung model is marked,
  alerted, and the guard carries on with rules), toggles the heartbeat (so a
  heartbeat proves *this* thread runs) and counts :meth:`Guard.progress` for
  the daemon's systemd watchdog.
- a **writer thread** (:class:`~appliance.guard.store.GuardWriter`) stores
  trips, audits and the mode; nothing on the fast path waits on SQLite.

Why not evaluate models inline in ``on_sample``: it would save the one
hand-off (~10-100 µs) but put LiteRT and the outputs' network round trips on
the driver's event loop, and a hung model would take every source down with
it. Rules are evaluated inline (bookkeeping only); their trips are fired by
the guard thread for the same reason.

A supplementary stop, not a safety function (not rated under ISO 13849 /
IEC 62061).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ModelError, PermissionDenied
from drivers.samples import Quality, Sample

from . import store
from .bank import OutputBank
from .bindings import Binding, models_from_registry, number
from .config import GuardConfig, ModelBinding
from .decide import LimitRule, StallRule, make_rule
from .reload import ModelReload
from .rings import ScalarRing

log = logging.getLogger(__name__)

ROLES = ("operator", "maintenance", "coordinator", "admin")
# ``werkvloer guard ...`` run by root or the service user on the box: maintenance without a PIN
# (shell access already is that trust), audited under its own name (issue 11).
CLI_ROLE = "cli"
ARM_ROLES = ("maintenance", "admin", CLI_ROLE)
RESET_ROLES = (*ROLES, CLI_ROLE)  # the operator resets a stop at the machine (DESIGN.md, who uses it)
# How often the model watcher thread looks for registry changes (install, activate, rollback); the
# IPC op ``models.reload`` asks at once. Comparison figures go to the registry at most this often:
MODEL_POLL_S = 10.0
RELOAD_WAIT_S = 1.5  # models.reload waits this long for the result, then answers "pending"
SOURCE = "guard"
_WAKE: tuple[()] = ()  # on the rule-trip queue: a rule has a new deadline, recompute the wait


def _mono() -> int:
    return time.monotonic_ns()


class _Output:
    __slots__ = ("obj", "name", "kind", "ok", "last_error", "fired")

    def __init__(self, obj: Any, kind: str) -> None:
        self.obj = obj
        self.name = str(obj.name)
        self.kind = kind
        self.ok: bool | None = None  # None = not used yet
        self.last_error: str | None = None
        self.fired = 0


# ----- the guard ------------------------------------------------------------------------

class Guard(ModelReload):
    """Models and rules on the fast path; stop outputs; latch; modes.

    ``outputs`` are the objects :func:`appliance.guard.build_outputs` made
    (stop outputs and the heartbeat); the guard opens them in :meth:`start`
    (before the first sample can trip) and closes them in :meth:`stop`.
    ``registry`` supplies the active and shadow model of each binding;
    ``loaded_models`` (binding name -> model object with ``manifest``,
    ``version`` and ``score``) bypasses it, for the bench and for tests.
    ``alert_sink``: an :class:`appliance.alerts.AlertSink` (``submit`` never blocks).
    ``trip_listener(last_trip)`` is called in the tripping thread after the
    outputs fired (the bench waits on it; it must not block).
    """

    def __init__(self, config: GuardConfig, *, registry: Any = None, outputs: Sequence[Any] = (),
                 alert_sink: Any = None, db_path: str | Path,
                 loaded_models: Mapping[str, Any] | None = None,
                 shadow_models: Mapping[str, Any] | None = None,
                 gpio_factory: Any = None,
                 trip_listener: Callable[[dict[str, Any]], None] | None = None,
                 model_poll_s: float = MODEL_POLL_S) -> None:
        self.cfg = config
        self._model_poll_s = model_poll_s
        self._trip_listener = trip_listener
        self.db_path = Path(db_path)
        self._registry = registry
        self._alerts = alert_sink
        self._gpio_factory = gpio_factory
        by_name = {o.name: o for o in config.outputs}
        hb_name = config.heartbeat.output if config.heartbeat else None
        self._heartbeat: _Output | None = None
        stops: list[tuple[Any, str, float]] = []
        for obj in outputs:
            ocfg = by_name.get(obj.name)
            kind = ocfg.kind if ocfg is not None else getattr(obj, "kind", "gpio")
            if obj.name == hb_name:
                self._heartbeat = _Output(obj, kind)
            else:
                stops.append((obj, kind, ocfg.timeout_ms if ocfg is not None else 50.0))
        self._bank = OutputBank(stops, alert=self._alert, keepalive_ms=config.keepalive_ms,
                                reconnect_max_ms=config.reconnect_max_ms, confirm_ms=config.confirm_ms)
        self._writer = store.GuardWriter(self.db_path)
        from .store import open_db

        db = open_db(self.db_path)
        try:
            self._mode = store.stored_mode(db, default=config.mode)
            persisted = store.status(db)
        finally:
            db.conn.close()
        # A restart does not release a latched stop: the reset stays a human decision.
        self._tripped = bool(persisted["tripped"])
        self._cause: dict[str, Any] | None = persisted["cause"]
        self._since_utc_ns: int | None = persisted["cause"]["ts"] if persisted["cause"] else None
        self._trip_lock = threading.RLock()
        self._bindings = [self._make_binding(b, loaded_models, shadow_models) for b in config.models]
        self._rules = [make_rule(r) for r in config.rules]
        self._rule_trips: queue.SimpleQueue[tuple[Any, int] | tuple[()] | None] = queue.SimpleQueue()
        self._claimed: frozenset[str] = frozenset()
        self._tls = threading.local()  # .inline = True in the guard's fast-path reader threads
        self._routes: dict[str, tuple[Callable[[Sample], None], ...]] = {}
        self._build_routes()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._progress_mono = time.monotonic()
        self._progress_count = 0
        self._healthy = False
        self._last_good_utc_ns: int | None = None
        self._last_trip: dict[str, Any] | None = None
        self._suppressed = 0
        self._counters = {"samples": 0, "bad_samples": 0, "unrouted": 0}
        self._old_switch: float | None = None
        self._reset_button: Any = None
        self._hb_level = False
        self._hb_next_ns = 0
        self._started = False
        # Model updates (registry changes): one watcher thread, never on the fast path.
        self._models_thread: threading.Thread | None = None
        self._reload_cv = threading.Condition()
        self._reload_asked = 0
        self._reload_done = 0
        self._reload_result: dict[str, Any] = {}
        self._revision = self._registry_revision()

    # ----- construction -------------------------------------------------------
    def _make_binding(self, cfg: ModelBinding, loaded: Mapping[str, Any] | None,
                      shadows: Mapping[str, Any] | None) -> Binding:
        model = shadow = None
        error = None
        fixed = loaded is not None and cfg.name in loaded
        if loaded is not None and cfg.name in loaded:
            model = loaded[cfg.name]
            shadow = (shadows or {}).get(cfg.name)
        else:
            try:
                model, shadow = models_from_registry(self._registry, cfg)
            except ModelError as exc:
                error = str(exc)
            except Exception as exc:  # a registry bug must not keep the rules from running
                log.exception("guard: loading model %s for %s failed", cfg.model, cfg.name)
                error = f"{type(exc).__name__}: {exc}"
        b = Binding(cfg, model, shadow, error, fixed=fixed)
        if b.model is None:
            log.error("guard: model binding %s runs without its model (%s); rules still run", cfg.name, b.error)
        return b

    def _build_routes(self) -> None:
        routes: dict[str, list[Callable[[Sample], None]]] = {}
        for b in self._bindings:
            if b.model is None:
                continue
            primary_sig = b.cfg.inputs[0]
            routes.setdefault(primary_sig, []).append(self._primary_handler(b))
            for sig in b.cfg.inputs[1:]:
                routes.setdefault(sig, []).append(self._scalar_handler(b.rings[sig]))  # type: ignore[arg-type]
        for r in self._rules:
            routes.setdefault(r.rule.signal, []).append(self._rule_handler(r))
            if r.rule.while_signal:
                routes.setdefault(r.rule.while_signal, []).append(self._gate_handler(r))
        self._routes = {k: tuple(v) for k, v in routes.items()}

    def _primary_handler(self, b: Binding) -> Callable[[Sample], None]:
        ring = b.primary
        assert ring is not None
        window_n, hop, q = b.window_n, b.hop, b.q

        def handle(sample: Sample) -> None:
            block = sample.block
            if sample.quality is not Quality.GOOD or block is None:
                ring.bad += 1
                ring.clear()  # a bad block is a hole in the signal: start the window again
                ring.next_seq = None
                return
            n = ring.push(block if block.dtype == np.float32 else np.asarray(block, np.float32), sample.seq)
            if n == 0:
                return
            b.since_hop += n
            if b.since_hop >= hop and ring.total >= window_n:
                b.since_hop = 0
                b.trigger_ns = sample.mono_ns
                b.trigger_signal = sample.signal
                if b.state != "ok":
                    return
                if b.pending:
                    b.skipped += 1  # the model is slower than the hop: score the newest window only
                    return
                b.pending = True
                q.put(True)

        return handle

    @staticmethod
    def _scalar_handler(ring: ScalarRing) -> Callable[[Sample], None]:
        def handle(sample: Sample) -> None:
            v = number(sample)
            if v is None:
                ring.bad += 1
                return
            ring.push(v, sample.mono_ns)

        return handle

    def _rule_handler(self, rule: LimitRule | StallRule) -> Callable[[Sample], None]:
        trips, tls, timed = self._rule_trips, self._tls, rule.hold_ns > 0

        def handle(sample: Sample) -> None:
            v = number(sample)
            if v is None:
                return  # NaN, None, bad or stale: neither proof of a fault nor of its end
            before = rule.deadline_ns() if timed else None
            if rule.on_value(v, sample.mono_ns):
                if getattr(tls, "inline", False):
                    # The guard's own reader thread (fast path): decide and write the outputs here.
                    self._rule_trip(rule, sample.mono_ns)
                else:
                    trips.put((rule, sample.mono_ns))  # a driver's event loop: the guard thread fires
            elif timed and rule.deadline_ns() != before:
                # A new "for_ms" deadline: wake the guard thread so that it waits for exactly that
                # moment, not for the end of its tick (issue 11: timed rules fire on time).
                trips.put(_WAKE)

        return handle

    @staticmethod
    def _gate_handler(rule: LimitRule | StallRule) -> Callable[[Sample], None]:
        def handle(sample: Sample) -> None:
            if sample.quality is Quality.GOOD:
                rule.on_gate(sample.value, sample.mono_ns)

        return handle

    # ----- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Open the outputs, set them to the latched or released state, start the threads."""
        if self._started:
            return
        self._started = True
        if self.cfg.switch_interval_us:
            self._old_switch = sys.getswitchinterval()
            # A woken guard thread waits for the GIL until the running thread's
            # switch interval ends (5 ms by default); see README, "Latency".
            sys.setswitchinterval(self.cfg.switch_interval_us / 1e6)
        self._writer.start()
        with self._trip_lock:
            if self._tripped:
                log.warning("guard: restarting with a latched stop (%s); outputs stay in stop until reset",
                            self._cause)
            # Each output connects in its own thread and is put in stop (latched) or released as soon
            # as it answers: start-up does not wait for a device (issue 16, point 1).
            self._bank.start(latched=self._tripped)
        hb = self._heartbeat
        if hb is not None and hb.kind == "gpio":  # a Modbus heartbeat connects on its first toggle
            try:
                hb.obj.open()
                hb.ok = True
            except Exception as exc:
                hb.ok, hb.last_error = False, str(exc)
                log.error("guard: heartbeat %s cannot be opened: %s", hb.name, exc)
        for b in self._bindings:
            if b.model is not None:
                b.thread = threading.Thread(target=self._inference_loop, args=(b,), name=f"guard-model-{b.name}",
                                            daemon=True)
                b.thread.start()
            elif b.error:
                self._alert(kind="guard.model", severity="warning", dedupe_key=f"guard.model.{b.name}",
                            title={"nl": f"Model {b.cfg.model} voor {b.name} niet geladen: de bewaking werkt alleen met regels",
                                   "en": f"Model {b.cfg.model} for {b.name} not loaded: the guard runs rules only"},
                            detail=b.error)
        if self.cfg.reset_pin is not None:
            self._open_reset_button()
        self._healthy = True
        self._thread = threading.Thread(target=self._guard_loop, name="guard", daemon=True)
        self._thread.start()
        if self._registry is not None and any(not b.fixed for b in self._bindings):
            self._models_thread = threading.Thread(target=self._models_loop, name="guard-models", daemon=True)
            self._models_thread.start()
        log.info("guard started: mode %s, %d model(s), %d rule(s), %d stop output(s)%s",
                 self._mode, sum(b.model is not None for b in self._bindings), len(self._rules),
                 len(self._bank.slots), ", run permit" if self.cfg.run_permit else "")

    def stop(self) -> None:
        """Stop the threads; in run-permit mode withdraw the permit first; close outputs."""
        if not self._started:
            return
        self._stopping.set()
        self._rule_trips.put(None)
        with self._reload_cv:
            self._reload_cv.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        if self._models_thread is not None:
            self._models_thread.join(5)
            self._models_thread = None
        for b in self._bindings:
            b.q.put(None)
        for b in self._bindings:
            if b.thread is not None:
                b.thread.join(max(1.0, self.cfg.inference_timeout_ms / 1000))
            self._flush_shadow(b)
        self._healthy = False
        if self.cfg.run_permit:
            self._withdraw_permit("guard stopping")
        if self._reset_button is not None:
            self._reset_button.close()
            self._reset_button = None
        self._bank.stop()
        if self._heartbeat is not None:
            try:
                self._heartbeat.obj.close()
            except Exception:
                log.debug("guard: closing heartbeat %s failed", self._heartbeat.name, exc_info=True)
        self._writer.stop()
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
            self._old_switch = None
        self._started = False
        log.info("guard stopped")

    def __enter__(self) -> Guard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_outputs(self, timeout: float = 10.0) -> bool:
        """Wait until every stop output is connected and in its wanted level (tests, bench, CLI)."""
        return self._bank.wait_up(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until trips, audits and mode changes queued so far are stored."""
        return self._writer.flush(timeout)

    # ----- the fast path --------------------------------------------------------
    def fast_thread(self) -> None:
        """Mark the calling thread as one of the guard's own readers: a rule that trips on a
        sample it hands to :meth:`on_sample` is decided and written out in that thread."""
        self._tls.inline = True

    def claim(self, signals: set[str]) -> None:
        """Signals the guard reads itself (fast path): their copies on the bus are ignored."""
        self._claimed = frozenset(signals)

    def on_sample(self, sample: Sample) -> None:
        """Bus fast subscriber: O(1) (a block copy), never blocks, never raises."""
        if sample.signal in self._claimed:
            return  # read by the guard's own reader, which handed it to on_fast_sample already
        self.on_fast_sample(sample)

    def on_fast_sample(self, sample: Sample) -> None:
        """A sample from the guard's own reader (in a :meth:`fast_thread`): a rule trips in that thread."""
        routes = self._routes.get(sample.signal)
        if routes is None or self._mode == "off":
            return
        self._counters["samples"] += 1
        for handle in routes:
            handle(sample)

    def _inference_loop(self, b: Binding) -> None:
        model, shadow = b.model, b.shadow
        while True:
            item = b.q.get()
            if item is None:
                return
            if item == "swap":
                # Between two inferences: nothing of the old model is running now.
                swap, b.swap = b.swap, None
                if swap is not None:
                    self._flush_shadow(b)  # the old pair's figures under the old versions
                    b.use_models(*swap)
                    model, shadow = b.model, b.shadow
                b.swapped.set()
                continue
            b.pending = False
            if b.reset_requested:
                b.reset_requested = False
                assert b.debounce is not None
                b.debounce.reset()
            trigger_ns, signal = b.trigger_ns, b.trigger_signal
            window = b.snapshot()
            if window is None:
                continue
            b.busy_since_ns = _mono()
            try:
                score = float(model.score(window))
            except Exception as exc:
                b.busy_since_ns = 0
                self._model_failed(b, f"inference failed: {type(exc).__name__}: {exc}")
                continue
            done_ns = _mono()
            b.busy_since_ns = 0
            b.last_inference_ns = done_ns - trigger_ns
            if b.state == "hung":
                log.info("guard: model %s answers again after a hang; back in service", b.name)
                b.state = "ok"
                self._alert(kind="guard.model", severity="info", dedupe_key=f"guard.model.{b.name}.recovered",
                            title={"nl": f"Model {b.cfg.model} voor {b.name} antwoordt weer",
                                   "en": f"Model {b.cfg.model} for {b.name} answers again"})
            if self._stopping.is_set() or b.retired:
                return
            b.windows += 1
            b.last_score = score
            if math.isnan(score):
                b.nan_scores += 1  # bad values in the window: neither a hit nor a miss
                continue
            assert b.debounce is not None
            if b.debounce.update(score):
                self._trip(cause_kind="model", cause=b.name, sample_ns=trigger_ns, signal=signal,
                           model=b.cfg.model, version=model.version, score=score, threshold=b.threshold,
                           inference_ns=done_ns, detail=f"{b.debounce.hits} of the last {b.cfg.trip_m} windows "
                                                         f"at or above {b.threshold:g}",
                           evidence=b.evidence(window, score))
            if shadow is not None and b.shadow is not None:
                rec = b.score_shadow(window, score)
                if rec is not None:
                    self._writer.put(rec)

    def _flush_shadow(self, b: Binding) -> None:
        rec = b.shadow_record(force=True)
        if rec is not None:
            self._writer.put(rec)

    def _model_failed(self, b: Binding, why: str) -> None:
        b.state = "failed"
        b.error = why
        log.error("guard: model %s for %s: %s; the guard runs rules only for it", b.cfg.model, b.name, why)
        self._alert(kind="guard.model", severity="warning", dedupe_key=f"guard.model.{b.name}",
                    title={"nl": f"Model {b.cfg.model} voor {b.name} faalt: de bewaking werkt alleen met regels",
                           "en": f"Model {b.cfg.model} for {b.name} failed: the guard runs rules only"}, detail=why)

    # ----- the guard thread -------------------------------------------------------
    def _guard_loop(self) -> None:
        realtime(self.cfg.rt_priority, "guard")
        tick_ns = self.cfg.tick_ms * 1_000_000
        timeout_ns = int(self.cfg.inference_timeout_ms * 1_000_000)
        try:
            while not self._stopping.is_set():
                now = _mono()
                wait_ns = tick_ns
                for r in self._rules:
                    d = r.deadline_ns()
                    if d is not None:
                        wait_ns = min(wait_ns, max(0, d - now))
                if self._heartbeat is not None:
                    wait_ns = min(wait_ns, max(0, self._hb_next_ns - now))
                try:
                    item = self._rule_trips.get(timeout=wait_ns / 1e9)
                except queue.Empty:
                    item = None
                now = _mono()
                while item is not None:
                    if len(item) == 2:  # not _WAKE
                        rule, sample_ns = item  # type: ignore[misc]
                        self._rule_trip(rule, sample_ns)
                    try:
                        item = self._rule_trips.get_nowait()
                    except queue.Empty:
                        item = None
                if self._mode != "off":
                    for r in self._rules:
                        if r.check(now):
                            self._rule_trip(r, now)
                for b in self._bindings:
                    busy = b.busy_since_ns
                    if busy and b.state == "ok" and now - busy > timeout_ns:
                        b.state = "hung"
                        b.error = f"inference took longer than {self.cfg.inference_timeout_ms:g} ms"
                        log.error("guard: model %s for %s hangs (%s); the guard runs rules only for it",
                                  b.cfg.model, b.name, b.error)
                        self._alert(kind="guard.model", severity="warning", dedupe_key=f"guard.model.{b.name}",
                                    title={"nl": f"Model {b.cfg.model} voor {b.name} hangt: de bewaking werkt alleen met regels",
                                           "en": f"Model {b.cfg.model} for {b.name} hangs: the guard runs rules only"},
                                    detail=b.error)
                if self._heartbeat is not None and now >= self._hb_next_ns:
                    self._toggle_heartbeat()
                    self._hb_next_ns = now + self.cfg.heartbeat.period_ms * 1_000_000  # type: ignore[union-attr]
                self._progress_count += 1
                self._progress_mono = time.monotonic()
                self._last_good_utc_ns = time.time_ns()
        except BaseException:
            log.exception("guard thread crashed")
            raise
        finally:
            if not self._stopping.is_set():
                # A crashed guard must not leave the machine running on a permit it cannot withdraw.
                self._healthy = False
                if self.cfg.run_permit:
                    self._withdraw_permit("guard thread crashed")

    def _rule_trip(self, rule: LimitRule | StallRule, sample_ns: int) -> None:
        r = rule.rule
        if r.kind == "stalled":
            detail = f"{r.signal} unchanged at {rule.last_value!r} for {r.for_ms:g} ms" + (
                f" while {r.while_signal}" if r.while_signal else "")
        else:
            detail = f"{r.signal} = {rule.last_value!r} {r.kind} {r.limit:g} for {r.for_ms:g} ms"
        self._trip(cause_kind="rule", cause=r.name, sample_ns=sample_ns, signal=r.signal,
                   score=rule.last_value, threshold=r.limit, detail=detail)

    def _toggle_heartbeat(self) -> None:
        hb = self._heartbeat
        assert hb is not None
        try:
            obj = hb.obj
            if hasattr(obj, "toggle"):
                obj.toggle()
            elif hasattr(obj, "toggle_heartbeat"):
                obj.toggle_heartbeat()
            else:
                self._hb_level = not self._hb_level
                obj.fire() if self._hb_level else obj.release()
            if hb.ok is False:
                log.info("guard: heartbeat %s works again", hb.name)
            hb.ok, hb.last_error = True, None
        except Exception as exc:
            if hb.ok is not False:
                log.error("guard: heartbeat %s failed: %s", hb.name, exc)
                self._alert(kind="guard.output", severity="warning", dedupe_key=f"guard.heartbeat.{hb.name}",
                            title={"nl": f"Hartslaguitgang {hb.name} antwoordt niet",
                                   "en": f"Heartbeat output {hb.name} does not answer"}, detail=str(exc))
            hb.ok, hb.last_error = False, str(exc)

    # ----- trips, outputs ----------------------------------------------------------
    def _trip(self, *, cause_kind: str, cause: str, sample_ns: int, signal: str | None = None,
              model: str | None = None, version: str | None = None, score: float | None = None,
              threshold: float | None = None, inference_ns: int | None = None, detail: str | None = None,
              evidence: dict[str, Any] | None = None) -> None:
        mode = self._mode
        if mode == "off":
            return
        results: list[store.OutputResult] = []
        with self._trip_lock:
            mode = self._mode
            decided = _mono()
            if mode == "armed":
                if self._tripped:
                    self._suppressed += 1  # already latched: the outputs are in stop
                    return
                self._tripped = True
                results = self._bank.fire_all()
                self._cause = {"kind": cause_kind, "name": cause, "ts": time.time_ns(), "signal": signal}
                self._since_utc_ns = self._cause["ts"]
            elif mode != "shadow":
                return
            # Queued under the lock (after the outputs fired), so a reset's record always follows its trip's.
            record = store.TripRecord(
                ts=time.time_ns(), mode=mode, cause_kind=cause_kind, cause=cause, sample_mono_ns=sample_ns,
                decided_mono_ns=decided, signal=signal, model=model, model_version=version, score=score,
                threshold=threshold, inference_done_mono_ns=inference_ns, detail=detail, outputs=results)
            self._writer.put(record)
        self._last_trip = {
            "mode": mode, "cause_kind": cause_kind, "cause": cause, "utc_ns": record.ts,
            "inference_ms": None if inference_ns is None else (inference_ns - sample_ns) / 1e6,
            "decision_ms": (decided - sample_ns) / 1e6,
            "outputs": [{"name": r.name, "kind": r.kind, "ok": r.ok,
                         "latency_ms": (r.done_mono_ns - sample_ns) / 1e6, "error": r.error} for r in results]}
        if self._trip_listener is not None:
            # After the outputs fired: a listener (bench, live view) never delays a stop.
            try:
                self._trip_listener(self._last_trip)
            except Exception:
                log.exception("guard: trip listener failed")
        what = f"model {model} ({cause})" if cause_kind == "model" else f"rule {cause}"
        what_nl = f"model {model} ({cause})" if cause_kind == "model" else f"regel {cause}"
        if mode == "armed":
            # Which outputs confirmed the stop and which did not (issue 16, point 1): an alert that
            # says "stopped" while nothing reached the machine is a stop silently lost.
            fired = [r.name for r in results if r.ok]
            missed = [r for r in results if not r.ok]
            if fired and not missed:
                en, nl = f"Guard stopped the machine: {what}", f"Bewaking stopte de machine: {what_nl}"
            elif fired:
                names = ", ".join(r.name for r in missed)
                en = f"Guard stopped the machine: {what} (fired: {', '.join(fired)}; not confirmed yet: {names})"
                nl = (f"Bewaking stopte de machine: {what_nl} (gestuurd: {', '.join(fired)}; "
                      f"nog niet bevestigd: {names})")
            else:
                names = ", ".join(r.name for r in missed) or "none configured"
                en = f"Guard tripped on {what} but no stop output confirmed the stop yet ({names})"
                nl = f"Bewaking sloeg aan op {what_nl} maar nog geen stopuitgang bevestigde de stop ({names})"
            outs = "; ".join(f"{r.name}: {'confirmed' if r.ok else r.error}" for r in results)
            self._alert(kind="guard.trip", severity="critical", dedupe_key=f"guard.trip.{cause}",
                        title={"nl": nl, "en": en},
                        detail=f"{detail}. Outputs: {outs or 'none'}" if detail else f"Outputs: {outs or 'none'}",
                        ts_ns=record.ts, evidence=evidence)
        else:
            self._alert(kind="guard.trip", severity="warning", dedupe_key=f"guard.shadow.{cause}",
                        title={"nl": f"Bewaking (schaduw) zou de machine gestopt hebben: {what_nl}",
                               "en": f"Guard (shadow mode) would have stopped the machine: {what}"}, detail=detail,
                        ts_ns=record.ts, evidence=evidence)
        for r in results:
            if not r.ok:
                self._alert(kind="guard.output", severity="critical", dedupe_key=f"guard.output.{r.name}.fire",
                            title={"nl": f"Stopuitgang {r.name} bevestigde de stop niet meteen; opnieuw geprobeerd",
                                   "en": f"Stop output {r.name} did not confirm the stop at once; retrying"},
                            detail=r.error, ts_ns=record.ts)

    def _withdraw_permit(self, why: str) -> None:
        with self._trip_lock:
            self._bank.withdraw_permit(why)

    def _alert(self, **kwargs: Any) -> None:
        if self._alerts is None:
            return
        try:
            self._alerts.submit(source=SOURCE, **kwargs)
        except Exception:
            log.exception("guard: the alert sink refused an alert")

    # ----- commands (IPC, reset button) ----------------------------------------------
    def set_mode(self, mode: str, role: str) -> dict[str, Any]:
        """off | shadow | armed. Maintenance or admin only; audited; persisted."""
        if role not in ARM_ROLES:
            raise PermissionDenied(f"role {role!r} may not change the guard mode; log in as maintenance or admin")
        if mode not in store.MODES:
            raise ValueError(f"guard mode {mode!r} unknown; use one of {', '.join(store.MODES)}")
        old = self._mode
        with self._trip_lock:
            self._mode = mode
        if mode != old:
            log.info("guard mode %s -> %s (role %s)", old, mode, role)
        self._writer.put(store.SettingRecord(store.MODE_KEY, mode))
        self._writer.put(store.AuditRecord(ts=time.time_ns(), role=role, action="guard.set_mode", target="guard",
                                           detail=f"{old} -> {mode}"))
        return self.status()

    def reset(self, role: str, *, source: str = "ui") -> dict[str, Any]:
        """Release a latched stop (any role: the operator resets at the machine). Audited."""
        if role not in RESET_ROLES:
            raise PermissionDenied(f"role {role!r} unknown; one of {', '.join(RESET_ROLES)}")
        now = _mono()
        with self._trip_lock:
            was = self._tripped
            errors = [f"{r.name}: {r.error}" for r in self._bank.release_all() if not r.ok]
            self._tripped = False
            self._cause = None
            self._since_utc_ns = None
            for b in self._bindings:
                b.reset_requested = True
            for r in self._rules:
                r.reset(now)
        ts = time.time_ns()
        if was:
            self._writer.put(store.ResetRecord(ts=ts, role=role, source=source))
            log.info("guard reset by %s (%s)", role, source)
        self._writer.put(store.AuditRecord(ts=ts, role=role, action="guard.reset", target="guard",
                                           detail=f"source {source}; was {'tripped' if was else 'not tripped'}"
                                                  + (f"; release failed: {'; '.join(errors)}" if errors else "")))
        return self.status()

    def _open_reset_button(self) -> None:
        try:
            from gpiozero import Button

            kwargs = {"pin_factory": self._gpio_factory} if self._gpio_factory is not None else {}
            self._reset_button = Button(self.cfg.reset_pin, pull_up=True, bounce_time=None, **kwargs)
            self._reset_button.when_pressed = lambda: self.reset("operator", source="button")
        except Exception as exc:
            log.error("guard: reset button on GPIO%s cannot be used: %s", self.cfg.reset_pin, exc)
            self._alert(kind="guard.output", severity="warning", dedupe_key="guard.reset_button",
                        title={"nl": f"Resetknop op GPIO{self.cfg.reset_pin} is niet te gebruiken",
                               "en": f"Reset button on GPIO{self.cfg.reset_pin} cannot be used"}, detail=str(exc))

    # ----- status ---------------------------------------------------------------------
    def progress(self) -> float:
        """``time.monotonic()`` of the guard thread's last loop (the daemon's watchdog check)."""
        return self._progress_mono

    @property
    def progress_count(self) -> int:
        return self._progress_count

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def tripped(self) -> bool:
        return self._tripped

    def status(self) -> dict[str, Any]:
        down, failed = self._bank.down, self._bank.failed
        degraded = any(b.state != "ok" for b in self._bindings) or bool(down) or bool(failed)
        alive = self._thread is not None and self._thread.is_alive()
        # Unhealthy while armed with an output it cannot reach, or a stop not confirmed (issue 16).
        outputs_ok = not failed and not (self._mode == "armed" and down)
        state = "stopped" if not alive else "tripped" if self._tripped else "degraded" if degraded else "ok"
        return {
            "mode": self._mode,
            "tripped": self._tripped,
            "cause": self._cause,
            "since_utc_ns": self._since_utc_ns,
            "state": state,
            "healthy": self._healthy and alive and outputs_ok,
            "last_good_utc_ns": self._last_good_utc_ns,
            "run_permit": self.cfg.run_permit,
            "models": [b.info() for b in self._bindings],
            "rules": [{"name": r.name, "kind": r.rule.kind, "signal": r.rule.signal, "active": r.active}
                      for r in self._rules],
            "outputs": self._bank.status(),
            "heartbeat": None if self._heartbeat is None else {
                "name": self._heartbeat.name, "ok": self._heartbeat.ok, "last_error": self._heartbeat.last_error},
            "last_trip": self._last_trip,
            "suppressed_trips": self._suppressed,
            "samples": self._counters["samples"],
            "safety_note": "Supplementary stop, not a safety function (not rated under ISO 13849 / IEC 62061).",
        }


# ----- helpers ------------------------------------------------------------------------

_RT_REFUSED: set[str] = set()


def realtime(priority: int, what: str) -> bool:
    """Put the calling thread under SCHED_FIFO ``priority`` (Linux, where permitted); True when it is.

    A woken guard thread then runs at its deadline even when the other threads of a
    loaded box keep both cores busy. Refused (no privilege): logged once, normal scheduling.
    """
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0 = this thread (Linux)
        return True
    except (OSError, AttributeError) as exc:
        if what not in _RT_REFUSED:
            _RT_REFUSED.add(what)
            log.info("guard: real-time priority %d for %s refused (%s); running with normal scheduling",
                     priority, what, exc)
        return False
