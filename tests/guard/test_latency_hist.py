"""The guard's inference latency histogram (fixed buckets, in each binding's status): every scored
window is counted once, in the bucket of its latency (real LiteRT model, simulator data)."""

from __future__ import annotations

from typing import Any

from appliance.guard.bindings import LATENCY_BUCKETS_MS
from models.runtime import load_model

from .test_models import Feeder, cfg, vib_path, windows  # noqa: F401 - vib_path is a fixture


def test_every_inference_lands_in_one_latency_bucket(vib_path: Any, make_guard: Any) -> None:  # noqa: F811
    g = make_guard(cfg(mode="shadow"), loaded_models={"spindle": load_model(vib_path)})
    f = Feeder(g)
    f.until(lambda: windows(g) >= 10, what="10 windows scored")
    b = g.status()["models"][0]
    hist = b["latency_hist"]
    assert hist["edges_ms"] == list(LATENCY_BUCKETS_MS) and len(hist["counts"]) == len(LATENCY_BUCKETS_MS) + 1
    # Counted before the window count goes up: equal, or one ahead while an inference finishes.
    assert b["windows"] <= sum(hist["counts"]) <= b["windows"] + 1
    last = b["last_inference_ms"]
    i = next((k for k, e in enumerate(LATENCY_BUCKETS_MS) if last <= e), len(LATENCY_BUCKETS_MS))
    assert hist["counts"][i] >= 1, f"the last inference ({last} ms) is in no bucket: {hist}"
