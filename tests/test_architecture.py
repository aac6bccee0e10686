"""The import contracts of ARCHITECTURE.md hold (import-linter, configured in
pyproject.toml): local_ui -> sync -> appliance -> drivers | models | content,
nothing imports upward, and no two sibling modules import each other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: install the dev extra (make venv, or pip install -e '.[test,dev]')"
    return found


def test_import_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_import_is_excepted_from_the_contracts() -> None:
    """An ``ignore_imports`` entry is a hole in a contract; fix the import instead (ARCHITECTURE.md)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} >= {"layers", "no-cycles"}
    assert {c["id"]: c.get("ignore_imports", []) for c in contracts if c.get("ignore_imports")} == {}
