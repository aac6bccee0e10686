"""Small helpers shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence

import numpy as np


def summary_ms(ns: Sequence[int] | np.ndarray) -> dict[str, float]:
    """p50/p99/max (and count) of durations given in ns, reported in ms."""
    a = np.asarray(ns, dtype=np.float64) / 1e6
    if a.size == 0:
        return {"count": 0}
    return {"count": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 4),
            "p99_ms": round(float(np.percentile(a, 99)), 4), "max_ms": round(float(a.max()), 4)}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    except OSError:
        kernel = platform.release()
    return {"arch": platform.machine(), "cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
            "python": platform.python_version(), "os": platform.platform(), "kernel": kernel}
