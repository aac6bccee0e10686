"""Helpers shared by the training recipes (no TensorFlow import here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from models.manifest import Manifest, parse_manifest


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    except ImportError:
        pass


def roc_auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    neg = np.asarray(neg, dtype=np.float64)
    pos = np.asarray(pos, dtype=np.float64)
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    allv = np.concatenate([neg, pos])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv), dtype=np.float64)
    sorted_v = allv[order]
    # Average ranks over ties.
    i = 0
    while i < len(sorted_v):
        j = i
        while j + 1 < len(sorted_v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    r_pos = ranks[len(neg):].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(neg) * len(pos)))


def debounced_alarms(scores: np.ndarray, threshold: float, *, n: int = 3, m: int = 5,
                     hysteresis: float = 0.1) -> int:
    """Alarm events the guard would raise on a score series (N-of-M, hysteresis)."""
    hist: list[bool] = []
    tripped = False
    events = 0
    for s in scores:
        hist.append(bool(s >= threshold))
        if len(hist) > m:
            hist.pop(0)
        if not tripped and sum(hist) >= n:
            tripped = True
            events += 1
        elif tripped and s < threshold * (1 - hysteresis) and not any(hist[-n:]):
            tripped = False
    return events


def convert_int8(model: Any, rep: np.ndarray) -> bytes:
    """A Keras model as a full-integer int8 TFLite model (int8 in, out and
    weights), quantized with ``rep``, one input per row (both recipes)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative() -> Any:
        for row in rep:
            yield [row[None].astype(np.float32)]

    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def write_model(out_dir: Path, tflite_bytes: bytes, manifest_fields: dict[str, Any]) -> Manifest:
    """Write model.tflite + manifest.json (sha256 filled in); returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.tflite").write_bytes(tflite_bytes)
    fields = dict(manifest_fields)
    fields["sha256"] = hashlib.sha256(tflite_bytes).hexdigest()
    fields.setdefault("created", dt.date.today().isoformat())
    manifest = parse_manifest(fields, source="generated manifest")
    (out_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def update_evaluation(out_dir: Path, manifest: Manifest, evaluation: dict[str, Any],
                      default_threshold: float | None = None) -> Manifest:
    data = manifest.model_dump(mode="json")
    data["evaluation"] = evaluation
    if default_threshold is not None:
        data["default_threshold"] = default_threshold
    m = parse_manifest(data, source="generated manifest")
    (out_dir / "manifest.json").write_text(m.to_json(), encoding="utf-8")
    return m


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
