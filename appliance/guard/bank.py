"""The output bank: the guard's stop outputs, fastest first, never silently lost.

Issue 11 ("a stop is never silently lost") and issue 16, point 1 ("every stop
output reconnects in the background forever"). Each stop output gets one
*slot* and one thread of its own (``guard-out-<name>``). The slot thread, never
the stop path:

- opens the connection, and reopens it after a loss, forever, with bounded
  exponential backoff and jitter (``guard.reconnect_max_ms``); start-up never
  waits for an output;
- keeps it alive with a cheap read every ``guard.keepalive_ms`` (a PLC that
  closes idle connections, or died quietly, is noticed before a stop is
  needed: an alert, and the guard is unhealthy while armed);
- writes the wanted level (stop or release) again until the device confirms
  it. A stop not confirmed within ``guard.confirm_ms`` is *declared failed*:
  a critical alert, and the guard is unhealthy; the slot keeps retrying for as
  long as the stop is latched (a late stop beats none).

The stop path (:meth:`OutputBank.fire_all`, in the tripping thread) writes
each output in turn, fastest kind first, on the connection the slot opened.
An output that is not connected, or whose keep-alive read holds it for longer
than its ``timeout_ms``, is not waited for: it is handed to its slot thread at
once, so one bad output never delays the others.

Ordering: every write (stop path or slot thread) holds the slot's ``io`` lock
and reads the wanted level inside it, so the last write a device sees is
always the newest wanted level (a retried release can never overtake a stop).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from drivers.backoff import Backoff

from . import store

log = logging.getLogger(__name__)

KIND_ORDER = {"gpio": 0, "modbus": 1, "opcua": 2}  # fastest first: a slow output delays only those after it
BACKOFF_START_S = 0.05

Alert = Callable[..., None]


def _mono() -> int:
    return time.monotonic_ns()


class Slot:
    """One stop output: its connection state, the wanted level and whether the device confirmed it."""

    def __init__(self, obj: Any, kind: str, timeout_ms: float) -> None:
        self.obj = obj
        self.name = str(obj.name)
        self.kind = kind
        self.timeout_s = timeout_ms / 1000
        self.io = threading.Lock()  # held for each device round trip (write, keep-alive)
        self.meta = threading.Lock()  # held for the bookkeeping below, never during I/O
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.up = False  # connected and answering
        self.state = "connecting"  # connecting | ok | down
        self.want: str | None = None  # "stop" | "release" | None (nothing written yet)
        self.gen = 0  # bumped by every new wanted level
        self.confirmed = True
        self.want_since_ns = 0
        self.attempts = 0  # failed writes of the current wanted level
        self.declared_failed = False
        self.deferred = False  # the stop path could not confirm it: the slot thread did or does
        self.fired = 0
        self.last_error: str | None = None
        self.confirmed_ms: float | None = None  # last stop: wanted -> confirmed (ms)
        self.quiet_reconnects = 0  # after a single missed keep-alive (no alert)

    def set_want(self, want: str) -> None:
        with self.meta:
            self.gen += 1
            self.want = want
            self.confirmed = False
            self.want_since_ns = _mono()
            self.attempts = 0
            self.declared_failed = False
            self.deferred = False
            if want == "stop":
                self.confirmed_ms = None

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "ok": self.up, "state": self.state,
                "want": self.want, "confirmed": self.confirmed, "failed": self.declared_failed,
                "attempts": self.attempts, "last_error": self.last_error, "fired": self.fired,
                "confirmed_ms": self.confirmed_ms, "quiet_reconnects": self.quiet_reconnects}


class OutputBank:
    """The stop outputs of one guard. ``alert(**kw)`` submits an alert (never blocks)."""

    def __init__(self, outputs: Sequence[tuple[Any, str, float]], *, alert: Alert, keepalive_ms: float = 250,
                 reconnect_max_ms: float = 2000, confirm_ms: float = 1000) -> None:
        slots = [Slot(obj, kind, timeout_ms) for obj, kind, timeout_ms in outputs]
        self.slots = sorted(slots, key=lambda s: KIND_ORDER.get(s.kind, 9))
        self._alert = alert
        self.keepalive_s = keepalive_ms / 1000
        self.reconnect_max_s = reconnect_max_ms / 1000
        self.confirm_ns = int(confirm_ms * 1_000_000)
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        # Called (in a slot thread) when a stop was confirmed late or declared failed.
        self.on_change: Callable[[], None] | None = None

    # ----- lifecycle ------------------------------------------------------------------
    def start(self, *, latched: bool) -> None:
        """Start one thread per output; returns at once (start-up never waits for a device)."""
        for s in self.slots:
            s.set_want("stop" if latched else "release")
            s.thread = threading.Thread(target=self._run, args=(s,), name=f"guard-out-{s.name}", daemon=True)
            s.thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for s in self.slots:
            s.wake.set()
        for s in self.slots:
            if s.thread is not None:
                s.thread.join(5)
        for s in self.slots:
            try:
                s.obj.close()
            except Exception:
                log.debug("guard: closing output %s failed", s.name, exc_info=True)

    # ----- health -----------------------------------------------------------------------
    @property
    def down(self) -> list[Slot]:
        return [s for s in self.slots if not s.up]

    @property
    def failed(self) -> list[Slot]:
        return [s for s in self.slots if s.declared_failed]

    def wait_up(self, timeout: float) -> bool:
        """Wait until every output is connected and has confirmed its level (tests, bench, CLI)."""
        with self._changed:
            return self._changed.wait_for(lambda: all(s.up and s.confirmed for s in self.slots), timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def status(self) -> list[dict[str, Any]]:
        return [s.info() for s in self.slots]

    # ----- the stop path ----------------------------------------------------------------
    def fire_all(self) -> list[store.OutputResult]:
        """Stop: every output in order; returns what each did now (a miss is retried by its slot)."""
        return [self._now(s, "stop") for s in self.slots]

    def release_all(self) -> list[store.OutputResult]:
        return [self._now(s, "release") for s in self.slots]

    def _now(self, s: Slot, want: str) -> store.OutputResult:
        s.set_want(want)
        if not s.up:
            s.deferred = True
            s.wake.set()
            return store.OutputResult(s.name, s.kind, _mono(), False,
                                      f"not connected ({s.last_error or 'connecting'}); retrying in the background")
        if not s.io.acquire(timeout=s.timeout_s):
            s.deferred = True
            s.wake.set()  # a keep-alive read hangs on it: its slot writes as soon as the read ends
            return store.OutputResult(s.name, s.kind, _mono(), False, "busy with a keep-alive read; retrying")
        try:
            err = self._write(s)
        finally:
            s.io.release()
        done = _mono()
        if err is not None:
            s.deferred = True
            s.wake.set()
        return store.OutputResult(s.name, s.kind, done, err is None, err)

    def _write(self, s: Slot) -> str | None:
        """Write the newest wanted level (caller holds ``s.io``); None = confirmed, else the error."""
        with s.meta:
            gen, want = s.gen, s.want
        if want is None:
            return None
        try:
            s.obj.fire() if want == "stop" else s.obj.release()
        except Exception as exc:  # one output must not keep the others from firing
            with s.meta:
                if s.gen == gen:
                    s.attempts += 1
            s.last_error = str(exc)
            if not s.obj.connected:
                s.up = False  # its slot thread reconnects (and alerts), never the stop path
            return str(exc)
        with s.meta:
            if s.gen == gen:
                s.confirmed = True
                s.declared_failed = False  # late, but stopped (its alert stays in the list)
                if want == "stop":
                    s.fired += 1
                    s.confirmed_ms = (_mono() - s.want_since_ns) / 1e6
        return None

    # ----- the slot thread ----------------------------------------------------------------
    def _run(self, s: Slot) -> None:
        backoff = Backoff(BACKOFF_START_S, self.reconnect_max_s)  # drivers/backoff.py, shared with the sources
        try:
            while not self._stopping.is_set():
                if not s.up:
                    try:
                        s.obj.open()
                        if not s.obj.connected:
                            raise ConnectionError("not connected after open()")
                    except Exception as exc:
                        self._mark_down(s, str(exc))
                        self._check_deadline(s)
                        # A trip wakes it: one more attempt at once, then the backoff goes on.
                        s.wake.wait(backoff.failed())
                        s.wake.clear()
                        continue
                    if not self._proven(s):
                        # Connected, but the device does not answer in time (yet): not up, and one
                        # alert for the outage (a PLC that accepts TCP while it is still starting).
                        self._mark_down(s, s.last_error or "no answer")
                        self._check_deadline(s)
                        s.wake.wait(backoff.failed())
                        s.wake.clear()
                        continue
                    self._mark_up(s)
                    backoff.reset()
                if not s.confirmed:
                    self._retry(s)
                    if not s.confirmed:
                        self._check_deadline(s)
                        delay = min(backoff.failed(), self.keepalive_s)
                        if s.up:
                            s.wake.wait(delay)
                            s.wake.clear()
                    else:
                        backoff.reset()
                    continue
                if s.wake.wait(self.keepalive_s):
                    s.wake.clear()
                    continue
                if not self._answers(s):
                    self._keepalive_missed(s)
        except BaseException:
            log.exception("guard: the thread of stop output %s crashed", s.name)
            s.up = False
            s.state = "down"
            s.last_error = "output thread crashed"
            raise

    def _retry(self, s: Slot) -> None:
        with s.io:
            was_stop, deferred = s.want == "stop", s.deferred
            err = self._write(s)
        if err is not None:
            if not s.obj.connected:
                self._mark_down(s, err)
            return
        self._notify()
        if was_stop and deferred:
            ms = s.confirmed_ms or 0.0
            log.info("guard: stop output %s confirmed the stop after %.1f ms", s.name, ms)
            self._alert(kind="guard.output", severity="info", dedupe_key=f"guard.output.{s.name}.confirmed",
                        title={"nl": f"Stopuitgang {s.name} bevestigde de stop na {ms:.0f} ms",
                               "en": f"Stop output {s.name} confirmed the stop after {ms:.0f} ms"})
        if self.on_change is not None:
            self.on_change()

    def _check_deadline(self, s: Slot) -> None:
        with s.meta:
            late = (s.want == "stop" and not s.confirmed and not s.declared_failed
                    and _mono() - s.want_since_ns > self.confirm_ns)
            if late:
                s.declared_failed = True
        if not late:
            return
        log.error("guard: stop output %s did not confirm the stop within %.0f ms (%s); still retrying",
                  s.name, self.confirm_ns / 1e6, s.last_error)
        self._alert(kind="guard.output", severity="critical", dedupe_key=f"guard.output.{s.name}.failed",
                    title={"nl": f"Stopuitgang {s.name} bevestigde de stop niet: de machine draait misschien nog",
                           "en": f"Stop output {s.name} did not confirm the stop: the machine may still run"},
                    detail={"nl": "Geen bevestiging; de bewaking probeert het opnieuw tot het lukt. Zet de machine "
                                  "zo nodig met de hand stil en controleer de kabel en de PLC.",
                            "en": "No confirmation; the guard keeps retrying until it answers. Stop the machine by "
                                  "hand if needed and check the cable and the PLC.", "error": s.last_error})
        if self.on_change is not None:
            self.on_change()

    def _proven(self, s: Slot) -> bool:
        """An answered round trip on a fresh connection before the output counts as up: the pending
        write itself (a refusal proves the link too), else one keep-alive read. A TCP connect alone
        proves nothing: a PLC still starting accepts and does not answer (seen: three "cannot be
        reached" and three "reachable again" alerts in the first 150 ms of every demo)."""
        if not s.confirmed:
            self._retry(s)
            return bool(s.obj.connected)
        return self._answers(s)

    def _answers(self, s: Slot) -> bool:
        """One keep-alive read; False (and the reason in ``last_error``) when it is not answered."""
        with s.io:
            try:
                s.obj.check()
            except Exception as exc:
                s.last_error = f"keep-alive: {exc}"
                return False
        return True

    def _keepalive_missed(self, s: Slot) -> None:
        """One keep-alive without an answer in time (a busy PLC, a loaded box) is not yet an
        unreachable output: reconnect at once, quietly. The reconnect's own proof (``_proven``: the
        second read in a row) or a failed connect is the alert (before, every slow answer was a
        critical alert and a "back" alert)."""
        s.quiet_reconnects += 1
        s.up = False  # the output dropped its connection; the loop reopens it without waiting
        log.debug("guard: stop output %s: %s; reconnecting", s.name, s.last_error)

    def _mark_down(self, s: Slot, why: str) -> None:
        s.last_error = why
        was = s.state
        s.up = False
        s.state = "down"
        if was == "down":
            return
        log.error("guard: stop output %s cannot be reached: %s; reconnecting in the background", s.name, why)
        self._alert(kind="guard.output", severity="critical", dedupe_key=f"guard.output.{s.name}",
                    title={"nl": f"Stopuitgang {s.name} is niet bereikbaar", "en": f"Stop output {s.name} cannot be reached"},
                    detail={"nl": "De bewaking maakt zelf opnieuw verbinding. Tot dat lukt, kan ze de machine via "
                                  "deze uitgang niet stoppen en meldt ze zich als niet gezond. Controleer de kabel, "
                                  "de voeding en het adres.",
                            "en": "The guard reconnects by itself. Until it does, it cannot stop the machine through "
                                  "this output and reports itself as not healthy. Check the cable, the power and the "
                                  "address.", "error": why})

    def _mark_up(self, s: Slot) -> None:
        was = s.state
        s.up = True
        s.state = "ok"
        s.last_error = None
        self._notify()
        if was == "down":
            log.info("guard: stop output %s reachable again", s.name)
            self._alert(kind="guard.output", severity="info", dedupe_key=f"guard.output.{s.name}.back",
                        title={"nl": f"Stopuitgang {s.name} is weer bereikbaar",
                               "en": f"Stop output {s.name} can be reached again"})

    # ----- run permit -------------------------------------------------------------------------
    def withdraw_permit(self, why: str) -> None:
        """De-energise every run-permit relay now (a crashed or stopping guard)."""
        for s in self.slots:
            if getattr(s.obj, "run_permit", False):
                with s.io:
                    try:
                        s.obj.fire()
                    except Exception as exc:
                        log.error("guard: could not withdraw the run permit on %s (%s): %s", s.name, why, exc)
