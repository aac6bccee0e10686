"""What the guard reports: ``status()`` (IPC, UI, CLI, health) and the watchdog's progress. Mixed into ``Guard``.

``state``: stopped | tripped | degraded | ok. ``healthy`` is false while the
guard thread is not running, a stop is declared failed, or the guard is armed
with a stop output it cannot reach (issue 16). ``writer`` is the health of the
thread that stores trips and audit rows (``failing`` while its database write
fails; the stop itself does not wait on it, so ``healthy`` does not change).
"""

from __future__ import annotations

import threading
from typing import Any

from .bank import OutputBank
from .latch import Latch

SAFETY_NOTE = "Supplementary stop, not a safety function (not rated under ISO 13849 / IEC 62061)."


class GuardStatus:
    # Provided by the guard.
    cfg: Any
    _mode: str
    _latch: Latch
    _bank: OutputBank
    _bindings: list[Any]
    _rules: list[Any]
    _thread: threading.Thread | None
    _healthy: bool
    _last_good_utc_ns: int | None
    _heartbeat: Any
    _writer: Any  # store.GuardWriter (a DbWorker)
    _last_trip: dict[str, Any] | None
    _counters: dict[str, int]
    _progress_mono: float
    _progress_count: int
    scheduling: str | None

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
        return self._latch.tripped

    def status(self) -> dict[str, Any]:
        down, failed = self._bank.down, self._bank.failed
        # A model whose while_signal has had no good value for long cannot watch: degraded too.
        degraded = (any(b.state != "ok" or b.gate_watch.lost for b in self._bindings)
                    or bool(down) or bool(failed))
        alive = self._thread is not None and self._thread.is_alive()
        # Unhealthy while armed with an output it cannot reach, or a stop not confirmed (issue 16).
        outputs_ok = not failed and not (self._mode == "armed" and down)
        state = "stopped" if not alive else "tripped" if self._latch.tripped else "degraded" if degraded else "ok"
        return {
            "mode": self._mode,
            "tripped": self._latch.tripped,
            "cause": self._latch.cause,
            "since_utc_ns": self._latch.since_utc_ns,
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
            "writer": self._writer.health(),  # the trip/audit writer thread: ok | failing | stopped
            "last_trip": self._last_trip,
            "suppressed_trips": self._latch.suppressed,
            "samples": self._counters["samples"],
            "scheduling": self.scheduling,  # the guard thread's, from the kernel: "fifo 10" | "normal"
            "safety_note": SAFETY_NOTE,
        }
