"""The shipped models do their job on fresh simulator data (seeds not used in training)."""

from __future__ import annotations

import numpy as np

from models.training import common, data_parts


def test_vibration_separates_faults_from_normal(vib_model, normal_windows, fault_windows):
    thr = vib_model.default_threshold
    normal = np.array([vib_model.score(w.as_window()) for w in normal_windows])
    assert np.isfinite(normal).all()
    # Normal operation (incl. starts and stops) stays below the threshold.
    assert (normal < thr).mean() >= 0.98
    all_faults = []
    for fault, windows in fault_windows.items():
        s = np.array([vib_model.score(w.as_window()) for w in windows])
        all_faults.append(s)
        assert common.roc_auc(normal, s) > 0.9, fault
    faulted = np.concatenate(all_faults)
    assert (faulted >= thr).mean() >= 0.6
    assert common.roc_auc(normal, faulted) > 0.97


def test_vibration_gross_faults_trip(vib_model, fault_windows):
    thr = vib_model.default_threshold
    for fault in ("jam", "imbalance"):
        s = np.array([vib_model.score(w.as_window()) for w in fault_windows[fault]])
        assert (s >= thr).mean() >= 0.9, fault


def test_vision_tells_good_from_defective(vision_model):
    frames, labels = data_parts.generate(25, seed=4242)  # not a training seed
    classes = vision_model.manifest.output.classes
    assert classes == list(data_parts.CLASSES)
    probs = np.array([list(vision_model.classify(f).values()) for f in frames])
    pred = probs.argmax(axis=1)
    assert (pred == labels).mean() >= 0.75  # four classes: chance is 0.25
    scores = np.array([vision_model.score({"camera": f}) for f in frames])
    defect = labels != classes.index("good")
    flagged = scores >= vision_model.default_threshold
    assert (flagged == defect).mean() >= 0.85  # a constant answer gets 0.75


def test_vision_accepts_other_frame_sizes(vision_model):
    rng = np.random.default_rng(1)
    frame = data_parts.draw_part(rng, "good", size=240)
    rgb = np.repeat(frame[..., None], 3, axis=2)
    p = vision_model.classify(rgb)
    assert set(p) == set(data_parts.CLASSES)
    assert abs(sum(p.values()) - 1.0) < 1e-3
