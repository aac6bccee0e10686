"""Retraining loop: labelled windows -> dataset folder -> what the recipes read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from appliance.alerts import AlertStore
from appliance.cli import main as werkvloer
from appliance.database import open_box_db
from appliance.errors import ModelError
from appliance.models.dataset_export import export_alerts
from models.dataset import export_dataset, read_dataset
from models.training import data_parts, train_vibration


def test_round_trip_windows_and_snapshots(tmp_path, normal_windows, fault_windows):
    frame = data_parts.draw_part(np.random.default_rng(0), "scratch")
    items = [(w.as_window(), "normal") for w in normal_windows[:5]]
    items += [(w.as_window(), "anomaly") for w in fault_windows["imbalance"][:3]]
    items += [({"camera": frame}, "scratch")]
    out = export_dataset(tmp_path / "ds", items, model_id="vibration-anomaly", kind="anomaly")
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "labels.csv", "windows.npz"]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["labels"] == {"anomaly": 3, "normal": 5, "scratch": 1} and meta["items"] == 9
    ds = read_dataset(out)
    assert [lbl for _, lbl in ds.items] == [lbl for _, lbl in items]
    for (w_in, _), (w_out, _) in zip(items, ds.items, strict=True):
        assert w_in.keys() == w_out.keys()
        for k in w_in:
            np.testing.assert_array_equal(w_in[k], w_out[k])
            assert w_in[k].dtype == w_out[k].dtype
    # the training recipe turns the read windows into exactly the features of the originals
    vib = [w for w, _ in ds.items if "vibration" in w]
    np.testing.assert_array_equal(train_vibration.featurise(vib),
                                  train_vibration.featurise([w for w, _ in items if "vibration" in w]))


def test_bad_labels_and_folders(tmp_path):
    with pytest.raises(ModelError, match="not a lower-case word"):
        export_dataset(tmp_path / "a", [({"vibration": np.zeros(4)}, "True Alarm")])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_text("x")
    with pytest.raises(ModelError, match="not a dataset folder"):
        export_dataset(tmp_path / "busy", [({"vibration": np.zeros(4)}, "normal")])
    with pytest.raises(ModelError, match="no dataset.json"):
        read_dataset(tmp_path / "busy")
    out = export_dataset(tmp_path / "b", [({"vibration": np.zeros(4)}, "normal")])
    (out / "windows.npz").write_bytes(b"broken")
    with pytest.raises(ModelError, match="windows.npz is missing or damaged"):
        read_dataset(out)


def test_export_from_labelled_guard_alerts(tmp_path, normal_windows, fault_windows):
    data_dir = tmp_path / "data"
    db = open_box_db(data_dir / "werkvloer.db")
    store = AlertStore(db)

    def trip(w, key):
        # what the guard stores: the window under the box's signal names, manifest order
        return store.raise_alert(source="guard", kind="guard.trip", severity="warning", title="trip",
                                 dedupe_key=key, evidence={
                                     "window": {"spindle_vib": w.vibration, "spindle_current": w.motor_current},
                                     "rate_hz": {"spindle_vib": 2000.0}, "window_start_ts": 1,
                                     "score": 30.0, "threshold": 23.0, "model": "vibration-anomaly",
                                     "version": "1.0.0"})

    a_true = trip(fault_windows["jam"][0], "k1")
    a_false = trip(normal_windows[0], "k2")
    a_unsure = trip(normal_windows[1], "k3")
    trip(normal_windows[2], "k4")  # never labelled
    store.label(a_true, "true", role="maintenance", comment="spindle blocked")
    store.label(a_false, "false", role="maintenance")
    store.label(a_unsure, "unsure", role="maintenance")
    snap = tmp_path / "part.npy"
    np.save(snap, data_parts.draw_part(np.random.default_rng(1), "burr"))
    a_cam = store.raise_alert(source="guard", kind="guard.trip", severity="warning", title="cam", dedupe_key="c",
                              evidence={"snapshot": str(snap), "model": "part-inspection", "version": "1.0.0"})
    store.label(a_cam, "true", role="maintenance", comment="Burr at 3 o'clock")

    out = export_alerts(db, tmp_path / "ds", model_id="vibration-anomaly")
    ds = read_dataset(out)
    assert [(r.alert_id, r.label) for r in ds.records] == [(a_true, "anomaly"), (a_false, "normal")]
    w = ds.records[0].window
    assert list(w) == ["vibration", "motor_current"]  # renamed to the model's inputs
    np.testing.assert_array_equal(w["vibration"], fault_windows["jam"][0].vibration)

    cam = read_dataset(export_alerts(db, tmp_path / "cam", model_id="part-inspection"))
    assert [(r.label, r.window["camera"].shape) for r in cam.records] == [("burr", (128, 128))]
    db.close()

    assert werkvloer(["model", "export-dataset", str(tmp_path / "cli"), "--model", "vibration-anomaly",
                     "--data-dir", str(data_dir)]) == 0
    assert read_dataset(tmp_path / "cli").labels() == {"anomaly": 1, "normal": 1}


def test_export_without_labelled_alerts(tmp_path):
    db = open_box_db(tmp_path / "werkvloer.db")
    with pytest.raises(ModelError, match="label alerts as true or false alarm"):
        export_alerts(db, tmp_path / "ds")
    db.close()
