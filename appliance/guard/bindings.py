"""Model bindings: one ``guard.models`` entry with its model(s), rings, debounce and shadow statistics.

A binding is used by its own inference thread (see ``engine.py``); the
publisher's thread only pushes into its rings. The shadow candidate is scored
on the same window *after* the active model decided, so it never delays a
stop and never trips anything; its agreement figures go to the
``guard_shadow_stats`` table and the registry (``reload.py``).
"""

from __future__ import annotations

import bisect
import logging
import math
import queue
import threading
import time
from typing import Any

import numpy as np

from appliance.errors import ModelError
from drivers.samples import Quality, Sample

from . import store
from .config import ModelBinding
from .decide import Debounce, GateWatch, RunGate
from .rings import BlockRing, ScalarRing

log = logging.getLogger(__name__)

# Inference latency histogram (sample that completed the hop -> score), fixed upper bucket edges in ms;
# one more bucket counts everything above the last edge. Read by the UI's model status page.
LATENCY_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


class Binding:
    """One ``guard.models`` entry: its model(s), rings, debounce and inference thread."""

    def __init__(self, cfg: ModelBinding, model: Any, shadow: Any, error: str | None, *,
                 fixed: bool = False) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.model = model
        self.shadow = shadow
        self.error = error
        self.fixed = fixed  # models given by the caller (bench, tests): the registry does not change them
        self.state = "ok" if model is not None else "no_model"
        # True = a hop is ready; "swap" = take the models in ``swap`` (between two inferences); None = stop.
        self.q: queue.SimpleQueue[bool | str | None] = queue.SimpleQueue()
        self.swap: tuple[Any, Any, bool] | None = None
        self.swapped = threading.Event()
        self.retired = False  # replaced by a new binding: its thread ends without deciding again
        self.pending = False
        self.trigger_ns = 0
        self.trigger_signal: str | None = None
        self.busy_since_ns = 0
        self.since_hop = 0
        self.windows = 0
        self.skipped = 0
        self.nan_scores = 0
        self.last_score: float | None = None
        self.last_inference_ns: int | None = None
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.reset_requested = False
        # Steady running only (guard.models[].while_signal, settle_s): see decide.RunGate.
        self.gate = RunGate(cfg.while_signal or None, int(cfg.settle_s * 1e9))  # "": score always
        self.gated = 0  # windows not scored: the machine stood still or was spinning up
        # No good gate value for while_signal_timeout_s: the model cannot watch (one alert; decide.GateWatch).
        self.gate_watch = GateWatch(int(cfg.while_signal_timeout_s * 1e9))
        self.thread: threading.Thread | None = None
        self.rings: dict[str, BlockRing | ScalarRing] = {}
        self.primary: BlockRing | None = None
        self.names: list[str] = []
        self.window_n = 0
        self.hop = 1
        self.span_ns = 0
        self.threshold = math.nan
        self.debounce: Debounce | None = None
        self.shadow_debounce: Debounce | None = None
        self.agree: dict[str, Any] = {}
        self.agree_flushed = 0
        self.agree_recorded = 0
        self.clear_agreement()
        if model is not None:
            self._setup()

    def _setup(self) -> None:
        m = self.model.manifest
        spec = m.inputs
        if len(self.cfg.inputs) != len(spec.signals):
            self._refuse(f"binds {len(self.cfg.inputs)} signals but model {m.name} takes "
                         f"{len(spec.signals)} ({', '.join(spec.names)}); fix guard.models[].inputs")
            return
        kinds = [s.kind for s in spec.signals]
        if kinds[0] != "block":
            # The camera path (part-inspection) is scored by the camera pipeline, not on the stop path.
            self._refuse(f"model {m.name} takes {kinds[0]} input first; the guard runs models over a block signal")
            return
        self.names = list(spec.names)
        self.window_n = spec.window
        self.hop = spec.hop
        rate = spec.sample_rate_hz or spec.signals[0].sample_rate_hz or 1.0
        self.span_ns = int(spec.window / rate * 1e9)
        # Room for the window plus several hops, so a starved reader is not lapped at once.
        self.primary = BlockRing(spec.window + 8 * max(spec.hop, 256), rate)
        self.rings[self.cfg.inputs[0]] = self.primary
        for sig in self.cfg.inputs[1:]:
            self.rings[sig] = ScalarRing()
        self.threshold = float(self.cfg.threshold if self.cfg.threshold is not None else m.default_threshold)
        self.debounce = Debounce(threshold=self.threshold, n=self.cfg.trip_n, m=self.cfg.trip_m,
                                 hysteresis=self.cfg.hysteresis)
        if self.shadow is not None:
            self.shadow_debounce = Debounce(threshold=float(self.shadow.manifest.default_threshold),
                                            n=self.cfg.trip_n, m=self.cfg.trip_m, hysteresis=self.cfg.hysteresis)

    def clear_agreement(self) -> None:
        """Start the shadow comparison afresh (a new active/shadow pair)."""
        self.agree = {"windows": 0, "both_hit": 0, "active_only": 0, "shadow_only": 0, "neither": 0,
                      "active_trips": 0, "shadow_trips": 0, "abs_diff_sum": 0.0,
                      # sums for the Pearson correlation of the two score series
                      "sa": 0.0, "ss": 0.0, "saa": 0.0, "sss": 0.0, "sas": 0.0}
        self.agree_flushed = 0
        self.agree_recorded = 0

    def use_models(self, model: Any, shadow: Any, shadow_changed: bool) -> None:
        """Swap in a new active model (None = keep) and/or shadow (inference thread only)."""
        if model is not None:
            self.model = model
            m = model.manifest
            self.threshold = float(self.cfg.threshold if self.cfg.threshold is not None else m.default_threshold)
            self.debounce = Debounce(threshold=self.threshold, n=self.cfg.trip_n, m=self.cfg.trip_m,
                                     hysteresis=self.cfg.hysteresis)
            self.state, self.error = "ok", None
        if shadow_changed:
            self.shadow = shadow
        if shadow_changed or model is not None:
            self.shadow_debounce = None if self.shadow is None else Debounce(
                threshold=float(self.shadow.manifest.default_threshold), n=self.cfg.trip_n, m=self.cfg.trip_m,
                hysteresis=self.cfg.hysteresis)
            self.clear_agreement()

    def correlation(self) -> float | None:
        a = self.agree
        n = a["windows"]
        if n < 2:
            return None
        va = n * a["saa"] - a["sa"] ** 2
        vs = n * a["sss"] - a["ss"] ** 2
        if va <= 0 or vs <= 0:
            return None
        return float((n * a["sas"] - a["sa"] * a["ss"]) / math.sqrt(va * vs))

    def _refuse(self, why: str) -> None:
        self.model = None
        self.shadow = None
        self.state = "no_model"
        self.error = why

    def snapshot(self) -> dict[str, np.ndarray] | None:
        assert self.primary is not None
        vib = self.primary.window(self.window_n)
        if vib is None:
            return None
        window = {self.names[0]: vib}
        t0 = self.trigger_ns - self.span_ns
        for name, sig in zip(self.names[1:], self.cfg.inputs[1:], strict=True):
            ring = self.rings[sig]
            assert isinstance(ring, ScalarRing)
            vals = ring.since(t0)
            if vals is None:
                return None
            window[name] = vals
        return window

    def record_latency(self, ns: int) -> None:
        """One inference's latency: the last one and its histogram bucket."""
        self.last_inference_ns = ns
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ns / 1e6)] += 1

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "model": self.cfg.model, "state": self.state, "error": self.error,
            "version": getattr(self.model, "version", None) if self.model is not None else None,
            "threshold": None if math.isnan(self.threshold) else self.threshold,
            "trip_n": self.cfg.trip_n, "trip_m": self.cfg.trip_m,
            "last_score": self.last_score, "alarm": bool(self.debounce and self.debounce.alarm),
            "windows": self.windows, "skipped_hops": self.skipped, "nan_scores": self.nan_scores,
            "gated_windows": self.gated,
            "gate": None if self.gate.signal is None else {
                "signal": self.gate.signal, "open": self.gate.open, "settle_s": self.cfg.settle_s,
                # True once the signal had no good value for while_signal_timeout_s (alerted): the model cannot watch
                "lost": self.gate_watch.lost, "no_good_value_s": self.gate_watch.missing_s(time.monotonic_ns())},
            "gaps": self.primary.gaps if self.primary else 0, "bad_blocks": self.primary.bad if self.primary else 0,
            "last_inference_ms": None if self.last_inference_ns is None else self.last_inference_ns / 1e6,
            "latency_hist": {"edges_ms": list(LATENCY_BUCKETS_MS), "counts": list(self.latency_counts)},
        }
        if self.shadow is not None:
            a = self.agree
            out["shadow"] = {"version": self.shadow.version, "windows": a["windows"],
                             "agreement": ((a["both_hit"] + a["neither"]) / a["windows"]) if a["windows"] else None,
                             "correlation": self.correlation(),
                             "active_trips": a["active_trips"], "shadow_trips": a["shadow_trips"]}
        return out

    def evidence(self, window: dict[str, np.ndarray], score: float) -> dict[str, Any]:
        """The window the model judged, under the box's signal names (kept with the alert for labelling)."""
        b = self
        names = dict(zip(b.names, b.cfg.inputs, strict=True))
        rate = b.primary.rate_hz if b.primary is not None else None
        return {"window": {names[k]: v for k, v in window.items()}, "rate_hz": {b.cfg.inputs[0]: rate},
                "window_start_ts": time.time_ns() - b.span_ns, "score": score, "threshold": b.threshold,
                "model": b.cfg.model, "version": b.model.version}

    def score_shadow(self, window: dict[str, np.ndarray], score: float) -> store.ShadowStatsRecord | None:
        """Score the shadow on the window the active model judged (after its decision: never delays a
        stop, never trips); a stats record to store every 200 windows."""
        b = self
        try:
            s = float(b.shadow.score(window))
        except Exception as exc:
            log.error("guard: shadow model %s %s failed (%s); dropping it", b.cfg.model, b.shadow.version, exc)
            b.shadow = None
            return None
        if math.isnan(s):
            return None
        assert b.shadow_debounce is not None and b.debounce is not None
        a = b.agree
        hit_a, hit_s = score >= b.threshold, s >= b.shadow_debounce.threshold
        a["windows"] += 1
        key = "both_hit" if hit_a and hit_s else "active_only" if hit_a else "shadow_only" if hit_s else "neither"
        a[key] += 1
        a["abs_diff_sum"] += abs(s - score)
        a["sa"] += score
        a["ss"] += s
        a["saa"] += score * score
        a["sss"] += s * s
        a["sas"] += score * s
        if b.debounce.alarm and b.debounce.hits >= b.cfg.trip_n and a.get("_alarm_seen") != 1:
            a["active_trips"] += 1
            a["_alarm_seen"] = 1
        elif not b.debounce.alarm:
            a["_alarm_seen"] = 0
        if b.shadow_debounce.update(s):
            a["shadow_trips"] += 1  # counted only: a shadow model never trips an output
        return self.shadow_record()

    def shadow_record(self, *, force: bool = False) -> store.ShadowStatsRecord | None:
        """The agreement figures so far, every 200 windows (or now: ``force``); None if nothing new."""
        b, a = self, self.agree
        if b.shadow is None or b.model is None or not a["windows"]:
            return None
        if not force and a["windows"] - b.agree_flushed < 200:
            return None
        b.agree_flushed = a["windows"]
        return (store.ShadowStatsRecord(
            binding=b.name, model=b.cfg.model, active_version=b.model.version, shadow_version=b.shadow.version,
            windows=a["windows"], both_hit=a["both_hit"], active_only=a["active_only"],
            shadow_only=a["shadow_only"], neither=a["neither"], active_trips=a["active_trips"],
            shadow_trips=a["shadow_trips"], mean_abs_diff=a["abs_diff_sum"] / a["windows"]))


def number(sample: Sample) -> float | None:
    """A usable scalar, or None for bad/stale quality, None, NaN, inf, text."""
    if sample.quality is not Quality.GOOD:
        return None
    v = sample.value
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        f = float(v)
        return f if math.isfinite(f) else None
    return None


def models_from_registry(registry: Any, cfg: ModelBinding) -> tuple[Any, Any]:
    """(active model, shadow candidate or None) of a binding, loaded and validated."""
    if registry is None:
        raise ModelError(f"no model registry: model {cfg.model} cannot be loaded; install it with "
                         "'werkvloer models install'")
    # appliance.models.registry.ModelRegistry.load validates (identifier, checksum, shapes, a test inference)
    # and raises ModelError; each LoadedModel is then used only by this binding's inference thread.
    active = registry.load(cfg.model, slot="active", num_threads=cfg.threads)
    try:
        shadow = registry.load(cfg.model, slot="shadow", num_threads=cfg.threads)
    except ModelError as exc:
        log.error("guard: shadow candidate of %s not loaded (%s); running the active model alone", cfg.model, exc)
        shadow = None
    return active, shadow
