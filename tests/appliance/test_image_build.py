"""The systemd units of the image pass `systemd-analyze verify` without a word."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNITS = sorted((ROOT / "image-build" / "systemd").glob("*.service"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies_cleanly(unit: Path, tmp_path: Path) -> None:
    # Point ExecStart at binaries that exist here; verify checks they are executable.
    werkvloer = Path(sys.executable).with_name("werkvloer")
    text = unit.read_text().replace("/opt/werkvloer/venv/bin/werkvloer", str(werkvloer))
    text = text.replace("/usr/bin/cage", shutil.which("true") or "/bin/true")
    text = text.replace("/usr/bin/chromium", shutil.which("true") or "/bin/true")
    copy = tmp_path / unit.name
    copy.write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True)
    # systemd-analyze only warns on unknown keys: any stderr output is a failure.
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_core_unit_is_notify_with_watchdog() -> None:
    text = (ROOT / "image-build" / "systemd" / "werkvloer-core.service").read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text and "Restart=always" in text
