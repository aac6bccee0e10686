"""One feature module for training and runtime: both paths give identical input."""

from __future__ import annotations

import numpy as np
import pytest

from models import features
from models.training import data_parts, data_sim, train_vibration, train_vision


def test_shipped_manifest_uses_the_training_parameters(vib_model, vision_model):
    pre = vib_model.manifest.preprocessing
    assert pre.params.model_dump() == data_sim.VIB_PARAMS
    assert vib_model.manifest.inputs.hop == data_sim.HOP
    assert pre.feature_names == features.vibration_feature_names(
        n_bands=pre.params.n_bands, f_low_hz=pre.params.f_low_hz, f_high_hz=pre.params.f_high_hz)
    assert vision_model.manifest.preprocessing.params.size == train_vision.SIZE


def test_vibration_features_identical_in_training_and_runtime(vib_model, normal_windows, fault_windows):
    windows = [w.as_window() for w in normal_windows[::40]] + [w.as_window() for w in fault_windows["jam"][:3]]
    train = train_vibration.featurise(windows)
    runtime = np.stack([vib_model.features(w) for w in windows])
    np.testing.assert_array_equal(train, runtime)
    # and the normalised input is the same float vector
    pre = vib_model.manifest.preprocessing
    np.testing.assert_array_equal(features.normalise(train, pre.mean, pre.std),
                                  np.stack([vib_model.model_input(f) for f in runtime]))


def test_image_features_identical_in_training_and_runtime(vision_model):
    frames, _ = data_parts.generate(3, seed=5)
    train = train_vision.to_inputs(frames)[..., 0]
    runtime = np.stack([vision_model.model_input(vision_model.features({"camera": f})) for f in frames])
    np.testing.assert_array_equal(train, runtime)
    # int8 = uint8 - 128 with the shipped quantization
    q = vision_model.quantize(runtime[0])
    np.testing.assert_array_equal(q.reshape(96, 96).astype(np.int16),
                                  vision_model.features({"camera": frames[0]}).astype(np.int16) - 128)


def test_vibration_features_respond_to_physics():
    params = data_sim.VIB_PARAMS
    t = np.arange(1024) / params["sample_rate_hz"]
    quiet = (0.05 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    loud = 3 * quiet
    fq = features.vibration_features(quiet, [10.0], **params)
    fl = features.vibration_features(loud, [12.0], **params)
    names = features.vibration_feature_names(n_bands=16, f_low_hz=10.0, f_high_hz=1000.0)
    band = next(i for i, n in enumerate(names) if n == "band_42_56hz")
    assert fl[band] - fq[band] == pytest.approx(np.log10(9), abs=1e-3)  # 3x amplitude = 9x energy
    assert fl[-1] == 12.0 and fq[-1] == 10.0
    assert fq[names.index("crest_factor")] == pytest.approx(np.sqrt(2), rel=0.02)


def test_image_resize_box_filter():
    img = np.zeros((192, 192), np.uint8)
    img[:, 96:] = 200
    out = features.image_features(img, size=96)
    assert out.shape == (96, 96) and out.dtype == np.uint8
    assert (out[:, :48] == 0).all() and (out[:, 48:] == 200).all()
    small = features.image_features(np.full((20, 30), 77, np.uint8), size=96)
    assert (small == 77).all()
    with pytest.raises(features.FeatureInputError, match="2-D grayscale"):
        features.image_features(np.zeros((2, 2, 2, 2), np.uint8), size=96)
