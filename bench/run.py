"""``make bench``: run every area's benchmark and write bench/latest.json + bench/latest.md.

Each area is a module ``bench.<area>`` with ``run(report: dict)``. Select some
with ``WERKVLOER_BENCH=core,guard``. An area that fails is reported as such;
the others still run.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from .stats import machine

AREAS = ["core", "modbus", "opcua", "models", "guard", "kpi", "ui", "sync"]
HERE = Path(__file__).resolve().parent


def _md(report: dict) -> str:
    lines = ["# Werkvloer benchmarks", "", f"Run {report['run_at']} on:", ""]
    for k, v in report["machine"].items():
        lines.append(f"- {k}: {v}")
    lines.append("")

    def walk(prefix: str, node: object) -> None:
        if isinstance(node, dict):
            leaf = {k: v for k, v in node.items() if not isinstance(v, dict)}
            if leaf:
                lines.append(f"| {prefix} | " + ", ".join(f"{k} = {v}" for k, v in leaf.items()) + " |")
            for k, v in node.items():
                if isinstance(v, dict):
                    walk(f"{prefix}.{k}" if prefix else k, v)

    lines += ["| measurement | values |", "|---|---|"]
    for area, node in report["results"].items():
        walk(area, node)
    return "\n".join(lines) + "\n"


def main() -> int:
    chosen = [a for a in os.environ.get("WERKVLOER_BENCH", ",".join(AREAS)).split(",") if a]
    out = HERE / "latest.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    results: dict = dict(previous.get("results", {})) if set(chosen) != set(AREAS) else {}
    for area in chosen:
        try:
            mod = importlib.import_module(f"bench.{area}")
        except ModuleNotFoundError as exc:
            print(f"bench {area}: not available ({exc})", file=sys.stderr)
            continue
        t0 = time.monotonic()
        print(f"bench {area} ...", flush=True)
        part: dict = {}
        try:
            mod.run(part)
        except Exception:
            part["error"] = traceback.format_exc(limit=3)
            print(part["error"], file=sys.stderr)
        part["bench_seconds"] = round(time.monotonic() - t0, 1)
        results[area] = part
        print(json.dumps(part, indent=1, default=str), flush=True)
    report = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "results": results}
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (HERE / "latest.md").write_text(_md(report))
    print(f"wrote {out} and {HERE / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
