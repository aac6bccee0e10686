"""A trip: latch -> outputs -> record -> alert. Mixed into ``Guard``.

``_trip`` runs in the thread that decided (a fast-path reader, an inference
thread, the guard thread): the latch says what the mode allows, the bank fires
every stop output fastest first, and only then are the record queued for
SQLite, the trip listener called and the alerts submitted (none of these can
delay a stop). ``_alert`` is the guard's one way to the alert sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import store
from .bank import OutputBank
from .latch import Latch, trip_title

log = logging.getLogger(__name__)

SOURCE = "guard"  # the alerts' source


Detail = str | Mapping[str, Any]


def _output_said(r: store.OutputResult) -> dict[str, str]:
    """What one stop output did, in both languages (literal templates: the UI's text scan knows them)."""
    if r.ok:
        return {"nl": f"{r.name} bevestigd", "en": f"{r.name} confirmed"}
    return {"nl": f"{r.name} niet bevestigd", "en": f"{r.name} not confirmed"}


def with_outputs(detail: Detail | None, results: list[store.OutputResult]) -> dict[str, Any]:
    """An armed trip's alert detail: the cause (text or ``{"nl", "en", ...}``) and what each stop
    output did, in both languages; the outputs' own error texts apart in ``"error"``."""
    cause = {"nl": detail, "en": detail} if isinstance(detail, str) else dict(detail or {})
    said = [_output_said(r) for r in results]
    done = {lang: "; ".join(w[lang] for w in said) or {"nl": "geen", "en": "none"}[lang] for lang in ("nl", "en")}
    outputs = {"nl": f"Stopuitgangen: {done['nl']}.", "en": f"Outputs: {done['en']}."}
    out = {**cause, "outputs": outputs}
    for lang in ("nl", "en"):
        out[lang] = f"{cause[lang]}. {outputs[lang]}" if cause.get(lang) else outputs[lang]
    errors = "; ".join(f"{r.name}: {r.error}" for r in results if not r.ok and r.error)
    if errors:
        out["error"] = f"{cause['error']}; {errors}" if cause.get("error") else errors
    return out


class TripHandling:
    # Provided by the guard.
    _mode: str
    _trip_lock: threading.RLock
    _latch: Latch
    _bank: OutputBank
    _writer: store.GuardWriter
    _last_trip: dict[str, Any] | None
    _trip_listener: Callable[[dict[str, Any]], None] | None
    _alerts: Any

    def _trip(self, *, cause_kind: str, cause: str, sample_ns: int, signal: str | None = None,
              model: str | None = None, version: str | None = None, score: float | None = None,
              threshold: float | None = None, inference_ns: int | None = None,
              detail: Detail | Callable[[], Detail] | None = None, evidence: dict[str, Any] | None = None) -> None:
        """``detail``: text, ``{"nl", "en", ...}`` or a function giving one: it is called only
        after the outputs fired (the record keeps the English text, the alert both languages)."""
        mode = self._mode
        if mode == "off":
            return
        results: list[store.OutputResult] = []
        with self._trip_lock:
            mode = self._mode
            decided = time.monotonic_ns()
            action = self._latch.on_trip(mode, {"kind": cause_kind, "name": cause, "ts": time.time_ns(),
                                                "signal": signal})
            if action == "fire":
                results = self._bank.fire_all()
            elif action != "record":
                return  # off, or latched already (the outputs are in stop)
            if callable(detail):
                detail = detail()
            record_detail = detail.get("en") if isinstance(detail, Mapping) else detail
            # Queued under the lock (after the outputs fired), so a reset's record always follows its trip's.
            record = store.TripRecord(
                ts=time.time_ns(), mode=mode, cause_kind=cause_kind, cause=cause, sample_mono_ns=sample_ns,
                decided_mono_ns=decided, signal=signal, model=model, model_version=version, score=score,
                threshold=threshold, inference_done_mono_ns=inference_ns, detail=record_detail, outputs=results)
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
        what = {"en": f"model {model} ({cause})" if cause_kind == "model" else f"rule {cause}",
                "nl": f"model {model} ({cause})" if cause_kind == "model" else f"regel {cause}"}
        if mode == "armed":
            detail = with_outputs(detail, results)
        self._alert(kind="guard.trip", severity="critical" if mode == "armed" else "warning",
                    dedupe_key=f"guard.{'trip' if mode == 'armed' else 'shadow'}.{cause}",
                    title=trip_title(mode, what, results), detail=detail, ts_ns=record.ts, evidence=evidence)
        for r in results:
            if not r.ok:
                self._alert(kind="guard.output", severity="critical", dedupe_key=f"guard.output.{r.name}.fire",
                            title={"nl": f"Stopuitgang {r.name} bevestigde de stop niet meteen; opnieuw geprobeerd",
                                   "en": f"Stop output {r.name} did not confirm the stop at once; retrying"},
                            detail={"nl": "De bewaking blijft de stop sturen tot de uitgang hem bevestigt. "
                                          "Kijk of de machine echt stilstaat; zet hem anders met de hand stil.",
                                    "en": "The guard keeps sending the stop until the output confirms it. "
                                          "Check that the machine really stopped; if not, stop it by hand.",
                                    "error": r.error}, ts_ns=record.ts)

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
