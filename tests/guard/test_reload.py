"""Model updates without a core restart: a running guard takes the registry's new
active/shadow versions (IPC ``models.reload`` or its own poll), keeps the old
model when a new one does not load, and comes back when a good one arrives."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from appliance.database import open_box_db
from appliance.guard import handlers
from appliance.models.registry import ModelRegistry
from tests.conftest import model_version

from .conftest import wait_for
from .test_models import VIB_DIR, Feeder, cfg, windows


@pytest.fixture(scope="module")
def vib_path() -> Path:
    # Committed to the repository: a missing file is a broken checkout, not a skip.
    assert (VIB_DIR / "model.tflite").exists(), f"{VIB_DIR}/model.tflite is missing from the checkout"
    return VIB_DIR


def model_info(g: Any) -> dict[str, Any]:
    return g.status()["models"][0]


def test_running_guard_takes_shadow_then_active_then_rollback(vib_path, tmp_path, make_guard, db_path) -> None:
    reg = ModelRegistry(open_box_db(db_path), data_dir=tmp_path / "data")
    base = reg.deployment("vibration-anomaly").active.version
    g = make_guard(cfg("shadow"), registry=reg, model_poll_s=0.05)
    assert model_info(g)["version"] == base and "shadow" not in model_info(g)
    f = Feeder(g)
    f.until(lambda: windows(g) >= 2)

    src = model_version(vib_path, tmp_path / "new", "7.1.0")
    reg.install(src / "model.tflite", src / "manifest.json")
    reg.activate("vibration-anomaly", "7.1.0", slot="shadow")
    # The IPC op the UI and the CLI call after a change (async handler, run as the core's IpcServer would).
    reply = asyncio.run(handlers(g)["models.reload"]({}))
    assert reply["ok"] and not reply["pending"]
    # (``changed`` may be False: the 50 ms poll can have applied it just before.)
    (entry,) = reply["models"]
    assert {k: entry[k] for k in ("binding", "active", "shadow", "error")} == {
        "binding": "spindle", "active": base, "shadow": "7.1.0", "error": None}
    assert model_info(g)["shadow"]["version"] == "7.1.0"
    f.until(lambda: (model_info(g)["shadow"]["windows"] or 0) >= 5, what="shadow scored beside the active one")
    sh = model_info(g)["shadow"]
    # Same weights: the two agree on every window and their scores correlate fully.
    assert sh["agreement"] == 1.0 and sh["correlation"] > 0.999

    reg.activate("vibration-anomaly", "7.1.0")  # promote: the shadow slot empties
    g.reload_models()
    info = model_info(g)
    assert info["version"] == "7.1.0" and "shadow" not in info and info["state"] == "ok"
    cmp = reg.latest_comparison("vibration-anomaly")  # the guard stored the pair's figures before the swap
    assert cmp["shadow_version"] == "7.1.0" and cmp["agreement_rate"] == 1.0 and cmp["n"] >= 5
    before = windows(g)
    f.until(lambda: windows(g) >= before + 2, what="the new active model scores")

    reg.rollback("vibration-anomaly")  # no reload asked: the guard's own poll notices
    wait_for(lambda: model_info(g)["version"] == base, what="rollback picked up by the poll")
    assert not g.tripped


def test_bad_new_version_keeps_the_old_model_and_alerts(vib_path, tmp_path, make_guard, sink, db_path) -> None:
    reg = ModelRegistry(open_box_db(db_path), data_dir=tmp_path / "data")
    base = reg.deployment("vibration-anomaly").active.version
    g = make_guard(cfg("shadow"), registry=reg, model_poll_s=60)
    f = Feeder(g)
    src = model_version(vib_path, tmp_path / "new", "8.0.0")
    mv = reg.install(src / "model.tflite", src / "manifest.json")
    reg.activate("vibration-anomaly", "8.0.0")
    blob = mv.path / "model.tflite"
    blob.write_bytes(blob.read_bytes()[:-16] + b"\0" * 16)  # changed on disk after activation

    reply = g.reload_models()
    assert not reply["ok"]
    (entry,) = reply["models"]
    assert entry["active"] == base and not entry["changed"] and entry["error"].startswith("active 8.0.0: ")
    info = model_info(g)
    assert info["version"] == base and info["state"] == "ok"
    got = [a for a in sink.drain() if a["kind"] == "guard.model"]
    assert len(got) == 1 and "8.0.0" in got[0]["title"]["en"] and f"keeps {base}" in got[0]["title"]["en"]
    f.until(lambda: windows(g) >= 2, what="the old model still scores")


def test_binding_without_a_model_starts_when_a_good_version_is_activated(vib_path, tmp_path, make_guard,
                                                                          db_path) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(vib_path, shipped / "vibration-anomaly")
    blob = shipped / "vibration-anomaly" / "model.tflite"
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])  # the shipped copy is broken
    reg = ModelRegistry(open_box_db(db_path), data_dir=tmp_path / "data", shipped_dir=shipped)
    g = make_guard(cfg("shadow"), registry=reg, model_poll_s=60)
    assert model_info(g)["state"] == "no_model"
    src = model_version(vib_path, tmp_path / "new", "9.0.0")
    reg.install(src / "model.tflite", src / "manifest.json")
    reg.activate("vibration-anomaly", "9.0.0")
    assert g.reload_models()["ok"]
    info = model_info(g)
    assert info["state"] == "ok" and info["version"] == "9.0.0"
    Feeder(g).until(lambda: windows(g) >= 2, what="the new binding scores")
