"""Benchmark: model inference alone (issue 4: vibration p99 <= 0.1 ms, vision p99 <= 5 ms).

Adds ``report["guard"]["inference"]``::

    {"vibration": {"invoke": {p50_ms, p99_ms, max_ms, n}, "features": {...}, "score": {...}},
     "vision":    {"invoke": {...}, "features": {...}, "score": {...}},
     "runtime": "ai-edge-litert 2.x", "num_threads": 1, "goals": {...}}

``invoke`` = quantized input already set up: set_tensor + invoke + get_tensor
(what the issue calls inference alone); ``features`` = the shared feature code
(``models.features``) on one window; ``score`` = the whole ``score()`` call
the guard makes (features + quantize + invoke + dequantize + error).

Run alone: ``python -m bench.models`` (prints JSON).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable

import numpy as np

N_VIB = 10_000
N_VISION = 1_000


def _stats(samples_ns: list[int]) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "max_ms": round(float(a.max()), 4), "n": int(a.size)}


def _time(fn: Callable[[], object], n: int, warmup: int = 50) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter_ns
    gc_was = gc.isenabled()
    gc.disable()  # the guard thread does the same around inference (no GC pauses in the hot path)
    try:
        for _ in range(n):
            t0 = clock()
            fn()
            out.append(clock() - t0)
    finally:
        if gc_was:
            gc.enable()
    return _stats(out)


def run(report: dict, *, n_vib: int = N_VIB, n_vision: int = N_VISION, num_threads: int = 1) -> None:
    from appliance.models.registry import SHIPPED_DIR
    from models.runtime import load_model, runtime_name
    from models.training import data_parts, data_sim

    res: dict[str, object] = {"runtime": runtime_name(), "num_threads": num_threads,
                              "goals": {"vibration_invoke_p99_ms": 0.1, "vision_invoke_p99_ms": 5.0}}

    vib = load_model(SHIPPED_DIR / "vibration-anomaly", num_threads=num_threads)
    windows = [w.as_window() for w in data_sim.simulate(seed=31337, duration_s=20.0, mean_run_s=8.0, mean_stop_s=4.0)]
    feats = [vib.features(w) for w in windows]
    q_inputs = [vib.quantize(vib.model_input(f)) for f in feats]
    i = 0

    def vib_invoke():
        nonlocal i
        i += 1
        return vib.infer(q_inputs[i % len(q_inputs)])

    def vib_features():
        nonlocal i
        i += 1
        return vib.features(windows[i % len(windows)])

    def vib_score():
        nonlocal i
        i += 1
        return vib.score(windows[i % len(windows)])

    res["vibration"] = {"invoke": _time(vib_invoke, n_vib), "features": _time(vib_features, n_vib),
                        "score": _time(vib_score, n_vib)}

    vis = load_model(SHIPPED_DIR / "part-inspection", num_threads=num_threads)
    frames, _ = data_parts.generate(8, seed=99)
    v_inputs = [vis.quantize(vis.model_input(vis.features({"camera": f}))) for f in frames]

    def vis_invoke():
        nonlocal i
        i += 1
        return vis.infer(v_inputs[i % len(v_inputs)])

    def vis_features():
        nonlocal i
        i += 1
        return vis.features({"camera": frames[i % len(frames)]})

    def vis_score():
        nonlocal i
        i += 1
        return vis.score({"camera": frames[i % len(frames)]})

    res["vision"] = {"invoke": _time(vis_invoke, n_vision, warmup=10),
                     "features": _time(vis_features, n_vision, warmup=10),
                     "score": _time(vis_score, n_vision, warmup=10),
                     "frame": list(frames[0].shape)}
    report.setdefault("guard", {})["inference"] = res


if __name__ == "__main__":
    rep: dict = {}
    run(rep)
    json.dump(rep, sys.stdout, indent=2)
    print()
