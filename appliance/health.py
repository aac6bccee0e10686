"""Box health that raises box alerts: the data disk running low. (The clock
checks are in ``appliance.kpi.engine``; a source's health is its driver's
``SourceHealth``.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from .alerts import AlertSink


def check_disk(path: str | Path, *, sink: AlertSink, min_free_fraction: float = 0.05,
               min_free_bytes: int = 500 * 1024 * 1024) -> bool:
    """Raise a box alert when the data disk runs low; returns True when there is enough room."""
    usage = shutil.disk_usage(path)
    free_ok = usage.free >= min_free_bytes and usage.free >= min_free_fraction * usage.total
    if not free_ok:
        sink.submit(source="box", kind="disk_low", severity="critical",
                    title={"nl": f"Weinig schijfruimte: {usage.free / 2**20:.0f} MB vrij",
                           "en": f"Low disk space: {usage.free / 2**20:.0f} MB free"},
                    detail={"nl": f"{path}: nog {usage.free / 2**20:.0f} van {usage.total / 2**20:.0f} MB vrij. "
                                  "Verwijder oude exports, of bewaar de ruwe meetwaarden korter "
                                  "(storage.raw_retention_days).",
                            "en": f"{path}: {usage.free / 2**20:.0f} of {usage.total / 2**20:.0f} MB free. Remove "
                                  "old exports, or keep the raw values for fewer days (storage.raw_retention_days)."},
                    dedupe_key="box:disk_low",
                    evidence={"free_bytes": usage.free, "total_bytes": usage.total})
    return free_ok
