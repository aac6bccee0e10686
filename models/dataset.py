"""Labelled datasets for retraining: the windows (and camera snapshots) around
alerts, with the label maintenance gave them.

A dataset is a folder:

``dataset.json``
    ``{"format": "werkvloer-dataset", "format_version": 1, "created": ...,
    "model_id": ..., "kind": "anomaly"|"vision"|null, "signals": [...],
    "labels": {"normal": 12, "anomaly": 3}, "items": 15, "description": ...}``
``labels.csv``
    one row per item: ``id,label,signals,alert_id,ts_utc_ns,source,comment``
    (``signals`` = the signal names of the item, ``;``-separated)
``windows.npz``
    one array per item and signal, key ``<id>__<signal>`` (a vibration
    block float32, the motor-current samples float32, a camera frame uint8).

Labels are lower-case words. For anomaly models: ``normal`` (maintenance said
false alarm) and ``anomaly`` (true alarm); for vision models the class names
of the manifest (``good``, ``scratch``, ...). The training recipes read it
with ``--dataset DIR`` (see ``models/README.md``).

``export_dataset`` takes a plain list of (window, label) pairs, so any source
works (a CSV of your own, another box); ``appliance.models.dataset_export``
collects them from the box's alert tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from models.errors import ModelError

log = logging.getLogger(__name__)

FORMAT = "werkvloer-dataset"
FORMAT_VERSION = 1
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SIGNAL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CSV_FIELDS = ("id", "label", "signals", "alert_id", "ts_utc_ns", "source", "comment")



@dataclass(frozen=True)
class DatasetItem:
    window: Mapping[str, np.ndarray]
    label: str
    alert_id: int | None = None
    ts_utc_ns: int | None = None
    source: str = ""
    comment: str = ""


@dataclass
class Dataset:
    path: Path
    meta: dict[str, Any]
    records: list[DatasetItem] = field(default_factory=list)

    @property
    def items(self) -> list[tuple[dict[str, np.ndarray], str]]:
        """(window, label) pairs, the simple form the training recipes use."""
        return [(dict(r.window), r.label) for r in self.records]

    def labels(self) -> Counter:
        return Counter(r.label for r in self.records)


def export_dataset(out_dir: str | Path, items: Iterable[DatasetItem | tuple[Mapping[str, np.ndarray], str]], *,
                   model_id: str | None = None, kind: str | None = None, description: str = "") -> Path:
    """Write a dataset folder (created, or replaced if it holds a dataset already)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "dataset.json").is_file():
        raise ModelError(f"{out} exists and is not a dataset folder; choose an empty or new folder")
    records = [it if isinstance(it, DatasetItem) else DatasetItem(window=it[0], label=it[1]) for it in items]
    arrays: dict[str, np.ndarray] = {}
    rows = []
    signals: set[str] = set()
    for i, rec in enumerate(records):
        if not LABEL_PATTERN.match(rec.label or ""):
            raise ModelError(f"item {i}: label {rec.label!r} is not a lower-case word (e.g. normal, anomaly, scratch)")
        if not rec.window:
            raise ModelError(f"item {i}: the window holds no signals")
        item_id = f"w{i:06d}"
        for name, arr in rec.window.items():
            if not SIGNAL_PATTERN.match(name):
                raise ModelError(f"item {i}: signal name {name!r} is not a Werkvloer signal name")
            arrays[f"{item_id}__{name}"] = np.asarray(arr)
            signals.add(name)
        rows.append({"id": item_id, "label": rec.label, "signals": ";".join(rec.window), "alert_id": rec.alert_id or "",
                     "ts_utc_ns": rec.ts_utc_ns or "", "source": rec.source, "comment": rec.comment})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model_id": model_id, "kind": kind, "signals": sorted(signals),
            "labels": dict(sorted(Counter(r["label"] for r in rows).items())), "items": len(rows),
            "description": description}
    out.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a reader never sees half a dataset.
    with tempfile.NamedTemporaryFile(dir=out, suffix=".npz", delete=False) as f:
        # numpy's stub types every ** value as allow_pickle's bool; the keys are item ids.
        np.savez_compressed(f, **cast(dict[str, Any], arrays))
    os.replace(f.name, out / "windows.npz")
    tmp_csv = out / ".labels.csv.tmp"
    with open(tmp_csv, "w", newline="", encoding="utf-8") as csv_file:
        w = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp_csv, out / "labels.csv")
    tmp_json = out / ".dataset.json.tmp"
    tmp_json.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp_json, out / "dataset.json")
    return out


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset folder; ModelError says what is missing or wrong."""
    p = Path(path)
    try:
        meta = json.loads((p / "dataset.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{p} has no dataset.json; export a dataset with 'werkvloer model export-dataset'") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{p}/dataset.json is not readable JSON ({exc}); export the dataset again") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{p} is not a {FORMAT} v{FORMAT_VERSION} folder; export it again with this version")
    try:
        npz = np.load(p / "windows.npz", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}/windows.npz is missing or damaged ({exc}); export the dataset again") from None
    records = []
    try:
        with open(p / "labels.csv", newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                if not LABEL_PATTERN.match(row.get("label") or ""):
                    raise ModelError(f"{p}/labels.csv line {n}: label {row.get('label')!r} is not a lower-case word")
                names = [s for s in (row.get("signals") or "").split(";") if s]
                try:
                    window = {s: npz[f"{row['id']}__{s}"] for s in names}
                except KeyError as exc:
                    raise ModelError(f"{p}/labels.csv line {n}: no array {exc} in windows.npz; "
                                     "the files do not belong together, export again") from None
                records.append(DatasetItem(
                    window=window, label=row["label"],
                    alert_id=int(row["alert_id"]) if row.get("alert_id") else None,
                    ts_utc_ns=int(row["ts_utc_ns"]) if row.get("ts_utc_ns") else None,
                    source=row.get("source") or "", comment=row.get("comment") or ""))
    except FileNotFoundError:
        raise ModelError(f"{p} has no labels.csv; export the dataset again") from None
    finally:
        npz.close()
    return Dataset(path=p, meta=meta, records=records)
