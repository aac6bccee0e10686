"""Registry on a real SQLite file: install, shadow, activate, rollback, audit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from appliance.cli import main as werkvloer
from appliance.database import open_box_db
from appliance.errors import ModelError, PermissionDenied
from appliance.models.registry import ModelRegistry, compare_scores
from tests.conftest import model_version

from .conftest import VIB_DIR


@pytest.fixture()
def box(tmp_path: Path):
    data_dir = tmp_path / "data"
    db = open_box_db(data_dir / "werkvloer.db")
    yield ModelRegistry(db, data_dir=data_dir), db, data_dir
    db.close()


def new_version(tmp_path: Path, version: str, src: Path = VIB_DIR) -> Path:
    """A copy of a shipped model with another version number (same weights)."""
    return model_version(src, tmp_path / f"new-{version}", version)


def audit_rows(db):
    return db.execute("SELECT role, action, target FROM audit ORDER BY id").fetchall()


def test_shipped_models_are_the_baseline(box):
    reg, _, _ = box
    deps = reg.deployments()
    assert set(deps) >= {"vibration-anomaly", "part-inspection"}
    dep = deps["vibration-anomaly"]
    assert dep.active.source == "shipped" and dep.shadow is None and dep.candidates == ()
    model = reg.load("vibration-anomaly")
    assert model.manifest.version == dep.active.version
    assert reg.load("vibration-anomaly", slot="shadow") is None
    # The vibration model false-alarms at spin-up: its manifest says so, and the guard gates it.
    assert reg.scores_only_while_running("vibration-anomaly") is True
    assert reg.scores_only_while_running("part-inspection") is False
    assert reg.scores_only_while_running("no-such-model") is False


def test_install_shadow_promote_rollback(box, tmp_path):
    reg, db, data_dir = box
    base = reg.deployment("vibration-anomaly").active.version
    rev0 = reg.revision()
    src = new_version(tmp_path, "9.0.0")
    mv = reg.install(src / "model.tflite", src / "manifest.json")
    assert mv.source == "installed" and mv.path == data_dir / "models" / "vibration-anomaly" / "9.0.0"
    assert (mv.path / "model.tflite").read_bytes() == (src / "model.tflite").read_bytes()
    assert (mv.path / "MODEL_CARD.md").is_file()
    dep = reg.deployment("vibration-anomaly")
    assert dep.active.version == base and [c.version for c in dep.candidates] == ["9.0.0"]
    assert reg.revision() != rev0

    reg.activate("vibration-anomaly", "9.0.0", slot="shadow")
    dep = reg.deployment("vibration-anomaly")
    assert dep.active.version == base and dep.shadow.version == "9.0.0" and dep.candidates == ()
    shadow = reg.load("vibration-anomaly", slot="shadow")
    assert shadow.version == "9.0.0"

    reg.activate("vibration-anomaly", "9.0.0")  # promote
    dep = reg.deployment("vibration-anomaly")
    assert dep.active.version == "9.0.0" and dep.shadow is None

    now = reg.rollback("vibration-anomaly")
    assert now.version == base and now.source == "shipped"
    assert reg.deployment("vibration-anomaly").active.version == base
    with pytest.raises(ModelError, match="nothing to roll back .* shipped baseline"):
        reg.rollback("vibration-anomaly")

    assert audit_rows(db) == [
        ("maintenance", "model.install", "vibration-anomaly@9.0.0"),
        ("maintenance", "model.shadow", "vibration-anomaly@9.0.0"),
        ("maintenance", "model.active", "vibration-anomaly@9.0.0"),
        ("maintenance", "model.rollback_active", "vibration-anomaly@9.0.0"),
    ]


def test_rollback_walks_back_through_versions_and_shadow(box, tmp_path):
    reg, db, _ = box
    for v in ("2.0.0", "3.0.0"):
        src = new_version(tmp_path, v)
        reg.install(src / "model.tflite", src / "manifest.json")
    reg.activate("vibration-anomaly", "2.0.0")
    reg.activate("vibration-anomaly", "3.0.0")
    assert reg.rollback("vibration-anomaly").version == "2.0.0"
    reg.activate("vibration-anomaly", "3.0.0", slot="shadow")
    assert reg.rollback("vibration-anomaly", slot="shadow") is None
    assert reg.deployment("vibration-anomaly").active.version == "2.0.0"


def test_registry_state_survives_reopen(box, tmp_path):
    reg, db, data_dir = box
    src = new_version(tmp_path, "2.0.0")
    reg.install(src / "model.tflite", src / "manifest.json")
    reg.activate("vibration-anomaly", "2.0.0", slot="shadow")
    db2 = open_box_db(data_dir / "werkvloer.db")
    try:
        dep = ModelRegistry(db2, data_dir=data_dir).deployment("vibration-anomaly")
        assert dep.shadow.version == "2.0.0"
    finally:
        db2.close()


def test_invalid_install_registers_nothing(box, tmp_path):
    reg, db, data_dir = box
    src = new_version(tmp_path, "4.0.0")
    raw = json.loads((src / "manifest.json").read_text())
    raw["sha256"] = "f" * 64
    (src / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="SHA-256"):
        reg.install(src / "model.tflite", src / "manifest.json")
    assert [v.version for v in reg.versions("vibration-anomaly") if v.source == "installed"] == []
    assert not (data_dir / "models" / "vibration-anomaly" / "4.0.0").exists()
    assert audit_rows(db) == []


def test_same_version_other_content_is_refused(box, tmp_path):
    reg, _, _ = box
    src = new_version(tmp_path, "5.0.0")
    reg.install(src / "model.tflite", src / "manifest.json")
    assert reg.install(src / "model.tflite", src / "manifest.json").version == "5.0.0"  # same again: no-op
    # Same version number, other bytes (trailing padding keeps it a valid model).
    other = new_version(tmp_path / "b", "5.0.0")
    data = (other / "model.tflite").read_bytes() + bytes(16)
    (other / "model.tflite").write_bytes(data)
    raw = json.loads((other / "manifest.json").read_text())
    raw["sha256"] = hashlib.sha256(data).hexdigest()
    (other / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="already on this box with other content"):
        reg.install(other / "model.tflite", other / "manifest.json")


def test_roles_and_slot_rules(box, tmp_path):
    reg, _, _ = box
    src = new_version(tmp_path, "6.0.0")
    with pytest.raises(PermissionDenied, match="maintenance"):
        reg.install(src / "model.tflite", src / "manifest.json", by_role="operator")
    reg.install(src / "model.tflite", src / "manifest.json")
    with pytest.raises(PermissionDenied):
        reg.activate("vibration-anomaly", "6.0.0", by_role="operator")
    with pytest.raises(ModelError, match="no version 7.0.0"):
        reg.activate("vibration-anomaly", "7.0.0")
    base = reg.deployment("vibration-anomaly").active.version
    reg.activate("vibration-anomaly", base)
    with pytest.raises(ModelError, match="already active"):
        reg.activate("vibration-anomaly", base, slot="shadow")


def test_activate_rechecks_files(box, tmp_path):
    reg, _, _ = box
    src = new_version(tmp_path, "8.0.0")
    mv = reg.install(src / "model.tflite", src / "manifest.json")
    (mv.path / "model.tflite").write_bytes(b"\x00\x00\x00\x00XXXX")
    with pytest.raises(ModelError, match="TFL3"):
        reg.activate("vibration-anomaly", "8.0.0")
    assert reg.deployment("vibration-anomaly").active.source == "shipped"


def test_compare_scores_and_record(box, tmp_path):
    reg, _, _ = box
    a = np.array([0.1, 0.2, 5.0, 6.0, np.nan, 0.3])
    s = np.array([0.2, 0.1, 4.0, 0.5, 1.0, 0.2])
    c = compare_scores(a, s, active_threshold=1.0, shadow_threshold=1.0)
    assert c.n == 5
    assert c.agreement_rate == pytest.approx(4 / 5)
    assert 0 < c.correlation < 1
    assert c.active_alarm_rate == pytest.approx(2 / 5) and c.shadow_alarm_rate == pytest.approx(1 / 5)
    same = compare_scores(a, a, active_threshold=1.0, shadow_threshold=1.0)
    assert same.agreement_rate == 1.0 and same.correlation == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one pair per window"):
        compare_scores([1.0], [1.0, 2.0], active_threshold=1, shadow_threshold=1)
    reg.record_comparison("vibration-anomaly", c, active_version="1.0.0", shadow_version="2.0.0")
    got = reg.latest_comparison("vibration-anomaly")
    assert got["agreement_rate"] == pytest.approx(0.8) and got["shadow_version"] == "2.0.0"


def test_cli_round_trip(tmp_path, capsys):
    data_dir = tmp_path / "data"
    src = new_version(tmp_path, "2.1.0")
    dd = ["--data-dir", str(data_dir)]
    assert werkvloer(["model", "validate", str(VIB_DIR)]) == 0
    assert "OK" in capsys.readouterr().out
    assert werkvloer(["model", "install", str(src / "model.tflite"), str(src / "manifest.json"), *dd]) == 0
    assert werkvloer(["model", "activate", "vibration-anomaly", "2.1.0", "--shadow", *dd]) == 0
    capsys.readouterr()
    assert werkvloer(["model", "list", *dd]) == 0
    out = capsys.readouterr().out
    assert "2.1.0" in out and "shadow" in out and "part-inspection" in out
    (tmp_path / "box.toml").write_text(f'[box]\ndata_dir = "{data_dir}"\n')  # the box config finds the same data
    assert werkvloer(["model", "list", "--config", str(tmp_path / "box.toml")]) == 0
    assert capsys.readouterr().out == out
    assert werkvloer(["model", "rollback", "vibration-anomaly", "--shadow", *dd]) == 0
    assert "now none" in capsys.readouterr().out
    assert werkvloer(["model", "rollback", "vibration-anomaly", *dd]) == 1
    assert "nothing to roll back" in capsys.readouterr().err
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage!")
    assert werkvloer(["model", "validate", str(bad), str(VIB_DIR / "manifest.json")]) == 1
    assert "TFL3" in capsys.readouterr().err
    db = open_box_db(data_dir / "werkvloer.db")
    try:
        actions = [r[0] for r in db.execute("SELECT action FROM audit ORDER BY id")]
    finally:
        db.close()
    assert actions == ["model.install", "model.shadow", "model.rollback_shadow"]
