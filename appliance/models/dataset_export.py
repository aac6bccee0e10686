"""Export labelled guard alerts from the box database as a training data set
(the format of :mod:`models.dataset`). Reads the alert tables of
``appliance.alerts``, so it lives in the appliance, not in the model library."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from models.dataset import DatasetItem, export_dataset
from models.errors import ModelError
from models.manifest import SHIPPED_DIR, load_manifest

log = logging.getLogger(__name__)


def export_alerts(db: Any, out_dir: str | Path, *, model_id: str | None = None, since_ts: int | None = None,
                  registry: Any = None) -> Path:
    """Export labelled guard alerts with their evidence from the box database.

    Reads the tables of ``appliance.alerts`` (``alerts``, ``alert_evidence``):
    alerts labelled ``true`` or ``false`` by maintenance (``unsure`` is left
    out) that carry a signal window or a camera snapshot. The window is
    renamed from the box's signal names to the model's input names (the guard
    stores them in manifest order). Labels: anomaly models true -> ``anomaly``,
    false -> ``normal``; camera models false -> ``good``, true -> the class
    named by the first word of the comment (e.g. "scratch near bore"), else
    ``defect`` (evaluation only).
    """
    items = list(_alert_items(db, model_id=model_id, since_ts=since_ts, registry=registry))
    if not items:
        raise ModelError("no labelled alerts with evidence found; label alerts as true or false alarm in the "
                         "alert list first")
    kind = "vision" if all("camera" in it.window for it in items) else "anomaly"
    return export_dataset(out_dir, items, model_id=model_id, kind=kind,
                          description=f"guard alerts exported from the box database{f' for {model_id}' if model_id else ''}")


def _input_names(model: str | None, version: str | None, registry: Any) -> tuple[list[str] | None, list[str] | None]:
    """(manifest input names, class names) of the model an alert came from."""
    if not model:
        return None, None
    m = None
    try:
        if registry is not None and version:
            m = registry.get(model, version).manifest
        else:

            m = load_manifest(SHIPPED_DIR / model / "manifest.json")
    except ModelError:
        return None, None
    return m.inputs.names, m.output.classes


def _load_snapshot(path: str) -> np.ndarray | None:
    p = Path(path)
    if not p.is_file():
        return None
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    try:
        from PIL import Image
    except ImportError:
        raise ModelError(f"snapshot {p} needs Pillow to read; pip install pillow") from None
    with Image.open(p) as im:
        return np.asarray(im.convert("L"))


def _alert_items(db: Any, *, model_id: str | None, since_ts: int | None, registry: Any) -> Iterable[DatasetItem]:
    conn = getattr(db, "conn", db)
    try:
        alerts = conn.execute(
            "SELECT id, kind, label, comment, first_ts FROM alerts WHERE label IN ('true', 'false') "
            "AND source = 'guard' AND (? IS NULL OR first_ts >= ?) ORDER BY id", [since_ts, since_ts]).fetchall()
    except Exception as exc:  # sqlite3.OperationalError: no such table
        raise ModelError(f"the box database has no alert tables ({exc}); start the box once to create them") from None
    for alert_id, kind, label, comment, ts in alerts:
        rows = conn.execute("SELECT kind, name, data, json, path FROM alert_evidence WHERE alert_id = ? ORDER BY id",
                            [alert_id]).fetchall()
        values: dict[str, Any] = {}
        window: dict[str, np.ndarray] = {}
        snapshot = None
        for ev_kind, name, data, js, path in rows:
            if ev_kind == "window" and data is not None:
                window[name] = np.frombuffer(data, dtype="<f4").copy()
            elif ev_kind == "values" and js:
                values.update(json.loads(js))
            elif ev_kind == "snapshot" and path:
                snapshot = path
        model = values.get("model")
        if model_id is not None and model != model_id:
            continue
        names, classes = _input_names(model, values.get("version"), registry)
        if snapshot is not None:
            frame = _load_snapshot(snapshot)
            if frame is None:
                log.warning("alert %s: snapshot %s is gone; skipped", alert_id, snapshot)
                continue
            window = {(names[0] if names else "camera"): frame}
        elif not window:
            continue
        elif names and len(names) == len(window):
            window = dict(zip(names, window.values(), strict=True))
        if classes:
            first = (comment or "").strip().split(" ")[0].lower()
            lbl = "good" if label == "false" else (first if first in classes else "defect")
        else:
            lbl = "anomaly" if label == "true" else "normal"
        yield DatasetItem(window=window, label=lbl, alert_id=alert_id, ts_utc_ns=ts, source=f"alert:{kind}",
                          comment=(comment or "")[:200])
