"""werkvloer content check: exit codes through a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "content.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_check_all_shipped_packs_exits_zero() -> None:
    r = run("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(": ok") == 4 and "glossary.toml: ok" in r.stdout


def test_check_broken_pack_exits_non_zero_and_names_file_and_key(packs_copy: Path) -> None:
    step = packs_copy / "sheet-metal" / "steps" / "sm-prod-01.en.md"
    step.write_text(step.read_text(encoding="utf-8").replace("cost: low", "cost: priceless"), encoding="utf-8")
    r = run("check", str(packs_copy / "sheet-metal"))
    assert r.returncode == 1
    assert "sm-prod-01.en.md: cost:" in r.stdout


def test_check_one_good_pack(packs_copy: Path) -> None:
    assert run("check", str(packs_copy / "machine-building")).returncode == 0


def test_bad_usage_exits_two() -> None:
    assert run("frobnicate").returncode == 2


def test_list_prints_steps() -> None:
    r = run("list", "--lang", "en", "--blueprint", "sheet-metal")
    assert r.returncode == 0 and "Connect the first machine to the box" in r.stdout


def test_main_callable_in_process(capsys) -> None:
    from content.cli import main

    assert main(["check"]) == 0
    assert "machine-building: ok" in capsys.readouterr().out
