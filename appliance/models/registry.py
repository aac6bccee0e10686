"""Model registry: which model versions the box has, which one the guard runs.

- Shipped models (``models/shipped/<id>/``) are the baseline: with no choice
  made by maintenance, the newest shipped version of a model is active.
- ``install`` validates a new ``.tflite`` + manifest (identifier, checksum,
  shapes, test inference), copies it to ``<data_dir>/models/<id>/<version>/``
  and registers it as a candidate.
- Maintenance puts a version in a slot: ``shadow`` (runs beside the active
  one, never stops the machine; the guard compares the two scores, see
  :func:`compare_scores`) or ``active``. ``rollback`` undoes the last change
  of a slot. Every change is audited (``appliance.storage.audit``).

The guard asks :meth:`ModelRegistry.deployment` for the active and shadow
versions (and polls :meth:`revision` to notice changes), then loads each with
:func:`models.runtime.load_model` in its own thread.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import sqlite_utils

from models.errors import ModelError
from models.manifest import SHIPPED_DIR, Manifest, parse_manifest
from models.runtime import (
    MANIFEST_FILE,
    MODEL_FILE,
    LoadedModel,
    load_model,
    model_paths,
    validate_model,
)

from ..roles import check_role, roles_for
from ..storage import audit, write_tx

log = logging.getLogger(__name__)

Slot = Literal["active", "shadow"]
SLOTS: tuple[str, ...] = ("active", "shadow")
# Roles that may install, activate and roll back models (DESIGN.md: maintenance; admin may do everything).
MODEL_ROLES: tuple[str, ...] = roles_for("models")  # who may change models


@dataclass(frozen=True)
class ModelVersion:
    model_id: str
    version: str
    kind: str
    source: str  # shipped | installed
    path: Path  # folder holding model.tflite + manifest.json
    sha256: str
    installed_ts: int
    manifest: Manifest

    @property
    def key(self) -> str:
        return f"{self.model_id}@{self.version}"


@dataclass(frozen=True)
class Deployment:
    model_id: str
    active: ModelVersion | None
    shadow: ModelVersion | None
    candidates: tuple[ModelVersion, ...]  # installed, in no slot


@dataclass(frozen=True)
class ShadowComparison:
    n: int
    agreement_rate: float  # share of windows where both are on the same side of their threshold
    correlation: float  # Pearson correlation of the two score series (NaN if constant)
    mean_abs_diff: float
    active_alarm_rate: float
    shadow_alarm_rate: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def compare_scores(active: Sequence[float] | np.ndarray, shadow: Sequence[float] | np.ndarray, *,
                   active_threshold: float, shadow_threshold: float) -> ShadowComparison:
    """Agreement and correlation of score pairs (one pair per window; NaN pairs skipped)."""
    a = np.asarray(active, dtype=np.float64)
    s = np.asarray(shadow, dtype=np.float64)
    if a.shape != s.shape:
        raise ValueError(f"score series differ in length ({a.shape} vs {s.shape}); pass one pair per window")
    ok = np.isfinite(a) & np.isfinite(s)
    a, s = a[ok], s[ok]
    n = int(a.size)
    if n == 0:
        nan = float("nan")
        return ShadowComparison(0, nan, nan, nan, nan, nan)
    a_alarm, s_alarm = a >= active_threshold, s >= shadow_threshold
    corr = float("nan")
    if n > 1 and a.std() > 0 and s.std() > 0:
        corr = float(np.corrcoef(a, s)[0, 1])
    return ShadowComparison(n=n, agreement_rate=float((a_alarm == s_alarm).mean()), correlation=corr,
                            mean_abs_diff=float(np.abs(a - s).mean()),
                            active_alarm_rate=float(a_alarm.mean()), shadow_alarm_rate=float(s_alarm.mean()))


def _version_key(v: str) -> tuple:
    core = v.split("-")[0].split("+")[0]
    return tuple(int(x) for x in core.split(".")) + ((1,) if "-" not in v else (0,), v)


class ModelRegistry:
    """Registry over the box database. Cheap to create; one per process/thread."""

    def __init__(self, db: sqlite_utils.Database, *, data_dir: str | Path,
                 shipped_dir: str | Path | None = SHIPPED_DIR) -> None:
        self.db = db
        self.models_dir = Path(data_dir) / "models"
        self.shipped_dir = Path(shipped_dir) if shipped_dir else None
        self.sync_shipped()

    # ----- shipped baseline ---------------------------------------------
    def sync_shipped(self) -> None:
        """Register every shipped model folder (manifest only; validated when loaded)."""
        if not self.shipped_dir or not self.shipped_dir.is_dir():
            return
        for folder in sorted(p for p in self.shipped_dir.iterdir() if (p / MANIFEST_FILE).is_file()):
            try:
                raw = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
                m = parse_manifest(raw, source=str(folder / MANIFEST_FILE))
            except (ModelError, ValueError, OSError) as exc:
                log.error("shipped model %s is unusable: %s", folder, exc)
                continue
            with write_tx(self.db):
                self.db.execute(
                    "INSERT INTO model_versions(model_id, version, kind, source, path, sha256, manifest, installed_ts, installed_by) "
                    "VALUES (?, ?, ?, 'shipped', ?, ?, ?, ?, NULL) "
                    "ON CONFLICT(model_id, version) DO UPDATE SET path=excluded.path, sha256=excluded.sha256, "
                    "manifest=excluded.manifest WHERE model_versions.source = 'shipped'",
                    [m.name, m.version, m.kind, str(folder), m.sha256, m.to_json(), time.time_ns()])

    # ----- queries ------------------------------------------------------
    def _row_to_version(self, row: tuple) -> ModelVersion:
        model_id, version, kind, source, path, sha, manifest, ts = row
        return ModelVersion(model_id=model_id, version=version, kind=kind, source=source, path=Path(path),
                            sha256=sha, installed_ts=ts,
                            manifest=parse_manifest(json.loads(manifest), source=f"registry {model_id}@{version}"))

    _COLS = "model_id, version, kind, source, path, sha256, manifest, installed_ts"

    def versions(self, model_id: str | None = None) -> list[ModelVersion]:
        if model_id is None:
            rows = self.db.execute(f"SELECT {self._COLS} FROM model_versions").fetchall()
        else:
            rows = self.db.execute(f"SELECT {self._COLS} FROM model_versions WHERE model_id = ?", [model_id]).fetchall()
        out = [self._row_to_version(r) for r in rows]
        return sorted(out, key=lambda v: (v.model_id, _version_key(v.version)))

    def model_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT model_id FROM model_versions ORDER BY model_id")]

    def get(self, model_id: str, version: str) -> ModelVersion:
        row = self.db.execute(f"SELECT {self._COLS} FROM model_versions WHERE model_id = ? AND version = ?",
                              [model_id, version]).fetchone()
        if row is None:
            known = ", ".join(v.version for v in self.versions(model_id)) or "none"
            raise ModelError(f"model {model_id} has no version {version} (installed: {known}); "
                             "install it first with 'werkvloer model install'")
        return self._row_to_version(row)

    def baseline(self, model_id: str) -> ModelVersion | None:
        shipped = [v for v in self.versions(model_id) if v.source == "shipped"]
        return shipped[-1] if shipped else None

    def _slot_version(self, model_id: str, slot: str) -> tuple[bool, str | None]:
        row = self.db.execute("SELECT version FROM model_slots WHERE model_id = ? AND slot = ?",
                              [model_id, slot]).fetchone()
        return (row is not None, row[0] if row else None)

    def deployment(self, model_id: str) -> Deployment:
        has_active, active_v = self._slot_version(model_id, "active")
        active = self.get(model_id, active_v) if has_active and active_v else self.baseline(model_id)
        _, shadow_v = self._slot_version(model_id, "shadow")
        shadow = self.get(model_id, shadow_v) if shadow_v else None
        in_slot = {v.version for v in (active, shadow) if v}
        candidates = tuple(v for v in self.versions(model_id) if v.source == "installed" and v.version not in in_slot)
        return Deployment(model_id=model_id, active=active, shadow=shadow, candidates=candidates)

    def scores_only_while_running(self, model_id: str) -> bool:
        """The active version's manifest says it scores only a machine at work (false for an unknown id)."""
        try:
            active = self.deployment(model_id).active
        except Exception:
            return False
        return bool(active is not None and active.manifest.scores_only_while_running)

    def deployments(self) -> dict[str, Deployment]:
        return {m: self.deployment(m) for m in self.model_ids()}

    def revision(self) -> int:
        """Changes whenever a version is installed or a slot changes (poll it to reload)."""
        row = self.db.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM model_slot_history), "
            "(SELECT COUNT(*) FROM model_versions)").fetchone()
        return int(row[0]) * 100_000 + int(row[1])

    def load(self, model_id: str, *, slot: Slot = "active", num_threads: int = 1) -> LoadedModel | None:
        """Validate and load the version in ``slot`` (None if the slot is empty)."""
        dep = self.deployment(model_id)
        mv = dep.active if slot == "active" else dep.shadow
        if mv is None:
            if slot == "active":
                raise ModelError(f"no model {model_id!r} on this box; install one with 'werkvloer model install'")
            return None
        return load_model(mv.path, num_threads=num_threads)

    # ----- changes ------------------------------------------------------
    @staticmethod
    def _check_role(by_role: str) -> None:
        check_role(by_role, MODEL_ROLES)

    def install(self, tflite: str | Path, manifest: str | Path, *, by_role: str = "maintenance") -> ModelVersion:
        """Validate a model and register it as a candidate (in no slot yet)."""
        self._check_role(by_role)
        m = validate_model(tflite, manifest)
        try:
            existing = self.get(m.name, m.version)
        except ModelError:
            existing = None
        if existing is not None:
            if existing.sha256 == m.sha256:
                return existing
            raise ModelError(f"{m.name} version {m.version} is already on this box with other content; "
                             "give the new model another version number in its manifest")
        dest = self.models_dir / m.name / m.version
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{m.version}-", dir=dest.parent))
        try:
            shutil.copyfile(tflite, tmp / MODEL_FILE)
            shutil.copyfile(manifest, tmp / MANIFEST_FILE)
            card = Path(tflite).with_name("MODEL_CARD.md")
            if card.is_file():
                shutil.copyfile(card, tmp / "MODEL_CARD.md")
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            # The copy is what the guard will load: check it, not the source.
            validate_model(tmp / MODEL_FILE, tmp / MANIFEST_FILE)
            if dest.exists():
                shutil.rmtree(dest)  # a leftover of an interrupted install, not registered
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        now = time.time_ns()
        with write_tx(self.db):
            self.db.execute(
                "INSERT INTO model_versions(model_id, version, kind, source, path, sha256, manifest, installed_ts, installed_by) "
                "VALUES (?, ?, ?, 'installed', ?, ?, ?, ?, ?)",
                [m.name, m.version, m.kind, str(dest), m.sha256, m.to_json(), now, by_role])
        audit(self.db, role=by_role, action="model.install", target=f"{m.name}@{m.version}",
              detail=f"sha256 {m.sha256}")
        log.info("installed model %s %s as candidate", m.name, m.version)
        return self.get(m.name, m.version)

    def _set_slot(self, model_id: str, slot: str, version: str | None, *, action: str, by_role: str) -> None:
        now = time.time_ns()
        with write_tx(self.db):
            if version is None:
                self.db.execute("DELETE FROM model_slots WHERE model_id = ? AND slot = ?", [model_id, slot])
            else:
                self.db.execute(
                    "INSERT INTO model_slots(model_id, slot, version, since_ts, by_role) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(model_id, slot) DO UPDATE SET version=excluded.version, since_ts=excluded.since_ts, "
                    "by_role=excluded.by_role", [model_id, slot, version, now, by_role])
            self.db.execute("INSERT INTO model_slot_history(ts, model_id, slot, action, version, by_role) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [now, model_id, slot, action, version, by_role])

    def activate(self, model_id: str, version: str, *, slot: Slot = "active", by_role: str = "maintenance") -> ModelVersion:
        """Put ``version`` in ``slot``. Promoting the shadow version to active empties the shadow slot."""
        self._check_role(by_role)
        if slot not in SLOTS:
            raise ModelError(f"slot must be 'active' or 'shadow', not {slot!r}")
        mv = self.get(model_id, version)
        # Re-validate the files now: they may have changed on disk since install.
        tfl, man = model_paths(mv.path)
        validate_model(tfl, man)
        dep = self.deployment(model_id)
        if slot == "shadow" and dep.active and dep.active.version == version:
            raise ModelError(f"{model_id} {version} is already active; a shadow must be another version")
        self._set_slot(model_id, slot, version, action="activate", by_role=by_role)
        detail = None
        if slot == "active" and dep.shadow and dep.shadow.version == version:
            self._set_slot(model_id, "shadow", None, action="clear", by_role=by_role)
            detail = "promoted from shadow"
        audit(self.db, role=by_role, action=f"model.{slot}", target=f"{model_id}@{version}", detail=detail)
        log.info("model %s %s is now %s", model_id, version, slot)
        return mv

    def clear_shadow(self, model_id: str, *, by_role: str = "maintenance") -> None:
        self._check_role(by_role)
        _, current = self._slot_version(model_id, "shadow")
        if current is None:
            return
        self._set_slot(model_id, "shadow", None, action="clear", by_role=by_role)
        audit(self.db, role=by_role, action="model.shadow_clear", target=f"{model_id}@{current}")

    def _stack(self, model_id: str, slot: str) -> list[str | None]:
        stack: list[str | None] = []
        for action, version in self.db.execute(
                "SELECT action, version FROM model_slot_history WHERE model_id = ? AND slot = ? ORDER BY id",
                [model_id, slot]):
            if action == "rollback":
                if stack:
                    stack.pop()
            else:
                stack.append(version)
        return stack

    def can_rollback(self, model_id: str, *, slot: Slot = "active") -> bool:
        """True when ``rollback`` has a change of ``slot`` to undo."""
        return bool(self._stack(model_id, slot))

    def rollback(self, model_id: str, *, slot: Slot = "active", by_role: str = "maintenance") -> ModelVersion | None:
        """Undo the last change of ``slot``; returns the version now in it.

        Active falls back to the version before, down to the shipped baseline;
        shadow falls back to the one before or to empty.
        """
        self._check_role(by_role)
        stack = self._stack(model_id, slot)
        if not stack:
            raise ModelError(f"nothing to roll back for {model_id} ({slot}): it still runs "
                             f"{'the shipped baseline' if slot == 'active' else 'no shadow'}")
        was = stack.pop()
        now_v = stack[-1] if stack else None
        with write_tx(self.db):
            self.db.execute("INSERT INTO model_slot_history(ts, model_id, slot, action, version, by_role) "
                            "VALUES (?, ?, ?, 'rollback', ?, ?)", [time.time_ns(), model_id, slot, was, by_role])
            if now_v is None:
                self.db.execute("DELETE FROM model_slots WHERE model_id = ? AND slot = ?", [model_id, slot])
            else:
                self.db.execute("UPDATE model_slots SET version = ?, since_ts = ?, by_role = ? "
                                "WHERE model_id = ? AND slot = ?", [now_v, time.time_ns(), by_role, model_id, slot])
        dep = self.deployment(model_id)
        current = dep.active if slot == "active" else dep.shadow
        audit(self.db, role=by_role, action=f"model.rollback_{slot}", target=f"{model_id}@{was}",
              detail=f"now {current.version if current else 'none'}")
        log.info("model %s %s rolled back from %s to %s", model_id, slot, was, current.version if current else None)
        return current

    def record_comparison(self, model_id: str, comparison: ShadowComparison, *,
                          active_version: str | None, shadow_version: str) -> None:
        """Store the guard's shadow comparison figures (shown on the model page)."""
        with write_tx(self.db):
            self.db.execute(
                "INSERT INTO model_shadow_stats(ts, model_id, active_version, shadow_version, n, agreement_rate, "
                "correlation, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [time.time_ns(), model_id, active_version, shadow_version, comparison.n,
                 _none_if_nan(comparison.agreement_rate), _none_if_nan(comparison.correlation),
                 json.dumps(comparison.as_dict())])

    def latest_comparison(self, model_id: str) -> dict | None:
        row = self.db.execute("SELECT ts, active_version, shadow_version, detail FROM model_shadow_stats "
                              "WHERE model_id = ? ORDER BY id DESC LIMIT 1", [model_id]).fetchone()
        if row is None:
            return None
        return {"ts": row[0], "active_version": row[1], "shadow_version": row[2], **json.loads(row[3])}


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x


def iter_slots(dep: Deployment) -> Iterable[tuple[str, ModelVersion]]:
    if dep.active:
        yield "active", dep.active
    if dep.shadow:
        yield "shadow", dep.shadow
