"""The guard's own threads: one inference thread per model binding, and the guard thread.

- an **inference thread** copies the newest window, runs the model, decides
  (N-of-M + hysteresis) and, on a trip, fires the outputs itself: one thread
  hand-off between sample and stop. The shadow candidate is scored after the
  decision, so it never delays a stop.
- the **guard thread** evaluates timed rules at their deadline, fires the rule
  trips handed to it, watches the inference threads (``inference_timeout_ms``),
  toggles the heartbeat (so a heartbeat proves *this* thread runs) and counts
  ``Guard.progress`` for the daemon's systemd watchdog.

Mixed into ``Guard``.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import queue
import sys
import threading
import time
from typing import Any

from appliance.alerts.store import nl_number

from .bindings import Binding
from .decide import LimitRule, StallRule

log = logging.getLogger(__name__)


def _mono() -> int:
    return time.monotonic_ns()


class GuardThreads:
    # Provided by the guard.
    cfg: Any
    _bindings: list[Binding]
    _rules: list[LimitRule | StallRule]
    _rule_trips: queue.SimpleQueue[Any]
    _stopping: threading.Event
    _heartbeat: Any
    _hb_next_ns: int
    _hb_level: bool
    _mode: str
    _progress_count: int
    _progress_mono: float
    _last_good_utc_ns: int | None
    _healthy: bool
    _writer: Any
    _trip: Any
    _alert: Any
    _withdraw_permit: Any
    timer_slack_ns: int | None
    scheduling: str | None

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
            if not b.gate.admits(trigger_ns - b.span_ns):
                b.gated += 1  # standing still or spinning up: not what the model learnt (decide.RunGate)
                continue
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
            b.record_latency(done_ns - trigger_ns)
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
                           inference_ns=done_ns, detail=functools.partial(_model_detail, b.debounce.hits,
                                                                          b.cfg.trip_m, b.threshold),
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
                           "en": f"Model {b.cfg.model} for {b.name} failed: the guard runs rules only"},
                    detail={"nl": "De regels blijven bewaken; dit model niet meer, tot de box opnieuw start of er een "
                                  "nieuwe versie is geïnstalleerd. Meld het aan wie de modellen beheert.",
                            "en": "The rules keep watching; this model no longer does until the box restarts or a new "
                                  "version is installed. Tell whoever looks after the models.", "error": why})

    # ----- the guard thread -------------------------------------------------------
    def _guard_loop(self) -> None:
        realtime(self.cfg.rt_priority, "guard")
        self.timer_slack_ns = timer_slack_ns()
        self.scheduling = scheduling()
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
                                    detail={"nl": f"Het model gaf na {nl_number(self.cfg.inference_timeout_ms)} ms "
                                                  "nog geen antwoord. De regels blijven bewaken; het model doet weer mee "
                                                  "zodra het antwoordt.",
                                            "en": f"The model gave no answer within {self.cfg.inference_timeout_ms:g} ms. "
                                                  "The rules keep watching; the model takes part again as soon as it "
                                                  "answers."})
                    if b.gate.signal is not None:
                        self._check_gate(b, now)
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

    def _check_gate(self, b: Binding, now: int) -> None:
        """A gated model whose while_signal has had no good value for a while cannot watch: one alert."""
        change = b.gate_watch.check(b.gate, self._mode != "off", now)
        if change is None:
            return
        sig, model = b.gate.signal, b.cfg.model
        if change == "lost":
            log.warning("guard: %s (%s) has had no good value of %s for %g s; the model does not score",
                        b.name, model, sig, b.cfg.while_signal_timeout_s)
            self._alert(kind="guard.model", severity="warning", dedupe_key=f"guard.gate.{b.name}",
                        title={"nl": f"Model {model} voor {b.name} kan niet bewaken: signaal {sig} heeft geen "
                                     "geldige waarde",
                               "en": f"Model {model} for {b.name} cannot watch: signal {sig} has no good value"},
                        detail={"nl": f"Al {nl_number(b.cfg.while_signal_timeout_s)} s geen geldige waarde van {sig}. "
                                      f"Het model kijkt alleen als {sig} aan staat. Controleer het apparaat en de "
                                      f"koppeling van {sig}; de regels blijven bewaken.",
                                "en": f"No good value of {sig} for {b.cfg.while_signal_timeout_s:g} s. The model only "
                                      f"watches while {sig} is on. Check the device and the mapping of {sig}; the rules "
                                      "keep watching."})
        else:
            log.info("guard: %s has a good value of %s again; the model can score", b.name, sig)
            self._alert(kind="guard.model", severity="info", dedupe_key=f"guard.gate.{b.name}.back",
                        title={"nl": f"Model {model} voor {b.name} bewaakt weer: signaal {sig} is terug",
                               "en": f"Model {model} for {b.name} can watch again: signal {sig} is back"})

    def _rule_trip(self, rule: LimitRule | StallRule, sample_ns: int) -> None:
        r, value = rule.rule, rule.last_value

        def detail() -> dict[str, Any]:  # worded after the outputs fired (issue 11: nothing avoidable before the stop)
            return rule_detail(r.signal, r.kind, value, r.limit, r.for_ms, r.while_signal)

        self._trip(cause_kind="rule", cause=r.name, sample_ns=sample_ns, signal=r.signal,
                   score=value, threshold=r.limit, detail=detail)

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
                                   "en": f"Heartbeat output {hb.name} does not answer"},
                            detail={"nl": "De hartslag naar de PLC staat stil: de PLC kan denken dat de box weg is en "
                                          "de machine stilzetten. Controleer de kabel en de uitgang; de bewaking "
                                          "probeert het elke slag opnieuw.",
                                    "en": "The heartbeat to the PLC has stopped: the PLC may take the box as gone and "
                                          "stop the machine. Check the cable and the output; the guard tries again "
                                          "on every beat.", "error": str(exc)})
            hb.ok, hb.last_error = False, str(exc)


def _model_detail(hits: int, of: int, threshold: float) -> dict[str, Any]:
    return {"nl": f"{hits} van de laatste {of} vensters op of boven {nl_number(threshold)}",
            "en": f"{hits} of the last {of} windows at or above {threshold:g}"}


def rule_detail(signal: str, kind: str, value: Any, limit: float | None, for_ms: float,
                while_signal: str | None = None) -> dict[str, Any]:
    """A rule trip's detail in both languages, and as data (``rule``) for the UI's words with the
    signal's label and unit. The English text is the form the guard has always stored
    ("motor_current = 23.341 above 20 for 200 ms")."""
    v_nl = nl_number(value, "") if isinstance(value, float) else repr(value)
    if kind == "stalled":
        nl = f"{signal} onveranderd op {v_nl} gedurende {nl_number(for_ms)} ms" + (
            f" terwijl {while_signal} aan staat" if while_signal else "")
        en = f"{signal} unchanged at {value!r} for {for_ms:g} ms" + (f" while {while_signal}" if while_signal else "")
    else:
        nl = (f"{signal} = {v_nl} {'boven' if kind == 'above' else 'onder'} {nl_number(limit or 0)} "
              f"gedurende {nl_number(for_ms)} ms")
        en = f"{signal} = {value!r} {kind} {limit:g} for {for_ms:g} ms"
    rule = {"signal": signal, "kind": kind, "value": value, "limit": limit, "for_ms": for_ms,
            "while": while_signal}
    return {"nl": nl, "en": en, "rule": rule}


_RT_REFUSED: list[str] = []  # the first thread refused: logged once per process (the default asks everywhere)


PR_SET_TIMERSLACK, PR_GET_TIMERSLACK = 29, 30  # linux/prctl.h


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def tight_timers() -> int | None:
    """Wake the calling thread at its deadline: timer slack 1 ns instead of Linux's default 50 µs.

    With the default, every timed wait of a 1 ms poll (and of a timed rule's deadline) may end up
    to 50 µs late, by design of the kernel's timer coalescing; measured here, a 0.5 ms wait
    overslept by about 90 µs at the median with it and 40 µs without. A SCHED_FIFO thread has no
    slack anyway. Returns the thread's slack as the kernel now reports it (None off Linux).
    """
    prctl = _prctl()
    if prctl is None:
        return None
    prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    return timer_slack_ns()


def scheduling() -> str:
    """The calling thread's scheduling as the kernel reports it: ``"fifo <priority>"`` or ``"normal"``."""
    if not hasattr(os, "sched_getscheduler"):
        return "normal"
    if os.sched_getscheduler(0) == os.SCHED_FIFO:
        return f"fifo {os.sched_getparam(0).sched_priority}"
    return "normal"


def timer_slack_ns() -> int | None:
    """The calling thread's timer slack in ns, from the kernel (None off Linux)."""
    prctl = _prctl()
    if prctl is None:
        return None
    slack = int(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0))
    return slack if slack >= 0 else None


def realtime(priority: int, what: str) -> bool:
    """Put the calling thread under SCHED_FIFO ``priority`` (Linux, where permitted); True when it is.

    A woken guard thread then runs at its deadline even when the other threads of a
    loaded box keep both cores busy. Refused (no privilege): logged once, normal scheduling.
    Either way the thread's timers are tight (``tight_timers``).
    """
    tight_timers()
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0 = this thread (Linux)
        return True
    except (OSError, AttributeError) as exc:
        if not _RT_REFUSED:
            _RT_REFUSED.append(what)
            log.info("guard: real-time priority %d refused by the OS for the %s thread (%s); the guard's threads "
                     "run with normal scheduling (the image's unit permits it; guard.rt_priority = 0 asks for none)",
                     priority, what, exc)
        return False
