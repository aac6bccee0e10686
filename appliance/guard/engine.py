"""The guard's facade: models and rules watching the machine, stop outputs within milliseconds.

Read it one part at a time (issue 11):

| part | module |
|---|---|
| ring buffers (numpy, preallocated, lock-free reader) | ``rings.py`` |
| model bindings, shadow statistics, evidence | ``bindings.py`` |
| the decisions: N-of-M debounce, limit and stall rules | ``decide.py`` |
| the latch (what a trip does per mode), trip alert titles | ``latch.py`` |
| sample routing on the publisher's thread / the guard's readers | ``routes.py`` |
| inference threads and the guard thread (timed rules, watchdog, heartbeat) | ``threads.py`` |
| output bank: order, retry, keep-alive, reconnect, run permit | ``bank.py`` |
| model updates without a restart | ``reload.py`` |
| the guard's own readers (Modbus TCP, GPIO edges) | ``fastpath.py`` |
| a trip: latch -> outputs -> record -> alert | ``trips.py`` |
| mode, reset (audited, roles), the reset button | ``commands.py`` |
| ``status()``, health, the watchdog's progress | ``status.py`` |
| trips, audits, mode -> SQLite (writer thread) | ``store.py`` |

This module wires them: construction, start/stop, flush. Nothing on the fast path
waits on SQLite, the event loop or the web server.

A supplementary stop, not a safety function (not rated under ISO 13849 /
IEC 62061).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.errors import ModelError
from drivers.samples import Sample

from . import store
from .bank import OutputBank
from .bindings import Binding, models_from_registry
from .commands import GuardCommands
from .config import GuardConfig, ModelBinding
from .decide import make_rule
from .latch import Latch
from .reload import ModelReload
from .routes import SampleRoutes
from .status import GuardStatus
from .threads import GuardThreads
from .trips import TripHandling

log = logging.getLogger(__name__)

# How often the model watcher thread looks for registry changes (install, activate, rollback); the
# IPC op ``models.reload`` asks at once. Comparison figures go to the registry at most this often:
MODEL_POLL_S = 10.0
RELOAD_WAIT_S = 1.5  # models.reload waits this long for the result, then answers "pending"


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

class Guard(TripHandling, GuardCommands, GuardStatus, SampleRoutes, GuardThreads, ModelReload):
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
        self._latch = Latch.restore(persisted["cause"], bool(persisted["tripped"]))
        self._trip_lock = threading.RLock()
        self._bindings = [self._make_binding(b, loaded_models, shadow_models) for b in config.models]
        self._rules = [make_rule(r) for r in config.rules]
        self._rule_trips: queue.SimpleQueue[tuple[Any, int] | tuple[()] | None] = queue.SimpleQueue()
        self._claimed: frozenset[str] = frozenset()
        self._tls = threading.local()  # .inline = True in the guard's fast-path reader threads
        self._routes: dict[str, tuple[Callable[[Sample], None], ...]] = {}
        self._build_routes()
        self._thread: threading.Thread | None = None
        self.timer_slack_ns: int | None = None  # the guard thread's, once it runs
        self.scheduling: str | None = None  # the guard thread's ("fifo 10" | "normal"), once it runs
        self._stopping = threading.Event()
        self._progress_mono = time.monotonic()
        self._progress_count = 0
        self._healthy = False
        self._last_good_utc_ns: int | None = None
        self._last_trip: dict[str, Any] | None = None
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
            if self._latch.tripped:
                log.warning("guard: restarting with a latched stop (%s); outputs stay in stop until reset",
                            self._latch.cause)
            # Each output connects in its own thread and is put in stop (latched) or released as soon
            # as it answers: start-up does not wait for a device (issue 16, point 1).
            self._bank.start(latched=self._latch.tripped)
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
                            detail={"nl": "Zonder dit model bewaken alleen de regels. Controleer het modelbestand en "
                                          "installeer het opnieuw via Instellingen → Modellen.",
                                    "en": "Without this model only the rules watch. Check the model file and install "
                                          "it again under Settings → Models.", "error": b.error})
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
