"""Runtime and validation: shipped models load; bad files give a clear ModelError."""

from __future__ import annotations

import hashlib
import json
import math
import threading

import numpy as np
import pytest

from appliance.errors import ModelError
from models.manifest import load_manifest
from models.runtime import LoadedModel, load_model, runtime_name, validate_model

from .conftest import VIB_DIR, VISION_DIR


@pytest.mark.parametrize("folder", [VIB_DIR, VISION_DIR], ids=["vibration", "vision"])
def test_shipped_models_validate_and_are_small(folder):
    m = validate_model(folder / "model.tflite", folder / "manifest.json")
    assert m.name == folder.name
    assert (folder / "model.tflite").stat().st_size < 200_000
    assert (folder / "MODEL_CARD.md").read_text().startswith(f"# Model card: {m.name}")
    assert m.sha256 == hashlib.sha256((folder / "model.tflite").read_bytes()).hexdigest()
    assert m.evaluation  # figures from training are in the manifest


def test_runtime_is_litert_not_tensorflow():
    assert runtime_name().startswith(("ai-edge-litert", "tflite-runtime"))
    import sys

    load_model(VIB_DIR)
    assert "tensorflow" not in sys.modules


def test_infer_is_raw_int8(vib_model):
    n = vib_model.manifest.input_tensor.shape[1]
    out = vib_model.infer(np.zeros((1, n), dtype=np.int8))
    assert out.dtype == np.int8 and list(out.shape) == vib_model.manifest.output_tensor.shape
    with pytest.raises(ModelError, match="takes int8 input"):
        vib_model.infer(np.zeros((1, n), dtype=np.float32))


def test_score_checks_window(vib_model):
    ok = {"vibration": np.zeros(1024, np.float32), "motor_current": np.array([2.0], np.float32)}
    assert math.isfinite(vib_model.score(ok))
    with pytest.raises(ModelError, match="needs 1024"):
        vib_model.score({"vibration": np.zeros(1000, np.float32), "motor_current": np.array([2.0])})
    with pytest.raises(ModelError, match="lacks signal"):
        vib_model.score({"vibration": np.zeros(1024, np.float32)})
    bad = dict(ok, vibration=np.full(1024, np.nan, np.float32))
    assert math.isnan(vib_model.score(bad))


def test_model_is_confined_to_one_thread():
    model = load_model(VIB_DIR)
    window = {"vibration": np.zeros(1024, np.float32), "motor_current": np.array([2.0], np.float32)}
    model.score(window)
    errors = []

    def other():
        try:
            model.score(window)
        except ModelError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "one LoadedModel per thread" in str(errors[0])


def test_bad_identifier(model_copy):
    d = model_copy()
    data = bytearray((d / "model.tflite").read_bytes())
    data[4:8] = b"XXXX"
    (d / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="no 'TFL3' identifier"):
        load_model(d)


def test_truncated_file(model_copy):
    d = model_copy()
    data = (d / "model.tflite").read_bytes()
    (d / "model.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt or truncated: copy it again"):
        load_model(d)


def test_tiny_file(model_copy):
    d = model_copy()
    (d / "model.tflite").write_bytes(b"TF")
    with pytest.raises(ModelError, match="TFL3"):
        load_model(d)


def test_checksum_mismatch(model_copy):
    d = model_copy()
    raw = json.loads((d / "manifest.json").read_text())
    raw["sha256"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="SHA-256 .* the manifest says 000000000000"):
        load_model(d)


def test_flipped_weight_byte_fails_checksum(model_copy):
    d = model_copy()
    data = bytearray((d / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256|corrupt"):
        load_model(d)


def test_wrong_shape_in_manifest(model_copy):
    d = model_copy()
    raw = json.loads((d / "manifest.json").read_text())
    raw["input_tensor"]["shape"] = [1, 32]
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match=r"input tensor is int8\[1, 20\], the manifest says int8\[1, 32\]"):
        load_model(d)


def test_wrong_dtype_in_manifest(model_copy):
    d = model_copy(VISION_DIR)
    raw = json.loads((d / "manifest.json").read_text())
    raw["output_tensor"]["dtype"] = "float32"
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="output tensor is int8"):
        load_model(d)


def test_manifest_of_the_other_model(model_copy):
    d = model_copy()
    (d / "manifest.json").write_text((VISION_DIR / "manifest.json").read_text())
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(d)


def test_manifest_unknown_key_and_missing_file(model_copy, tmp_path):
    d = model_copy()
    raw = json.loads((d / "manifest.json").read_text())
    raw["colour"] = "blue"
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="colour: Extra inputs are not permitted"):
        load_manifest(d / "manifest.json")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not readable JSON"):
        load_model(d)
    (d / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest .* not found"):
        load_model(d)
    with pytest.raises(ModelError, match="not found"):
        validate_model(tmp_path / "nope.tflite", VIB_DIR / "manifest.json")


def test_manifest_normalisation_lengths_checked(model_copy):
    d = model_copy()
    raw = json.loads((d / "manifest.json").read_text())
    raw["preprocessing"]["std"] = raw["preprocessing"]["std"][:-1]
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="preprocessing.*std must have 20 entries"):
        load_manifest(d / "manifest.json")


def test_loaded_model_from_file_path(vib_model):
    m = LoadedModel(VIB_DIR / "model.tflite", vib_model.manifest, num_threads=2)
    assert m.input_names == ["vibration", "motor_current"]
    assert m.default_threshold == vib_model.manifest.default_threshold
