"""Check the box's systemd units on any machine: ``systemd-analyze verify``
must say nothing, and ``systemd-analyze security --offline=true`` must rate
each service at or below its limit (issue 12).

``python unitcheck.py UNIT...``; the tests import ``verify`` and ``exposure``.
Executables that exist only on the box (the venv, cage, the kiosk script) are
pointed at ``/bin/true`` in a temporary copy, so the check runs anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Highest exposure score allowed per unit; the kiosk and the provisioning run
# keep what Chromium and root file hand-over need (reasons in each unit).
LIMITS = {
    "werkvloer-core.service": 3.0,
    "werkvloer-ui.service": 3.0,
    "werkvloer-kiosk.service": 3.0,
    "werkvloer-firstboot.service": 2.0,
    "werkvloer-persistent.service": 2.0,
}
DEFAULT_LIMIT = 3.0  # any other werkvloer service (the sync, ...)


def limit_for(name: str) -> float | None:
    if name in LIMITS:
        return LIMITS[name]
    return DEFAULT_LIMIT if name.startswith("werkvloer-") and name.endswith(".service") else None
BOX_ONLY = re.compile(r"^(Exec\w+=[-@:+!]*)/(?:opt/werkvloer|usr/lib/werkvloer|usr/bin)/\S+", re.M)


def _standin(unit: Path, into: Path) -> Path:
    true = shutil.which("true") or "/bin/true"
    text = BOX_ONLY.sub(lambda m: m.group(1) + true, unit.read_text())
    copy = into / unit.name
    copy.write_text(text)
    return copy


def verify(unit: Path, *, beside: list[Path] = ()) -> str:  # type: ignore[assignment]
    """What ``systemd-analyze verify`` says about the unit ('' = clean).
    It only warns on unknown keys, so any output counts as a failure.
    ``beside``: the other units of the image, which this one may require."""
    with tempfile.TemporaryDirectory() as tmp:
        for other in beside:
            _standin(other, Path(tmp))
        copy = _standin(unit, Path(tmp))
        # A trailing ':' keeps systemd's own unit path after ours.
        env = {**os.environ, "SYSTEMD_UNIT_PATH": tmp + ":"}
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)],
                             capture_output=True, text=True, cwd=tmp, env=env)
    said = (out.stdout + out.stderr).strip()
    return said or ("" if out.returncode == 0 else f"exit status {out.returncode}")


def exposure(unit: Path) -> float:
    """The overall exposure score (0 = locked down, 10 = unsafe)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = _standin(unit, Path(tmp))
        out = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(copy)],
                             capture_output=True, text=True, cwd=tmp)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
    if not m:
        raise RuntimeError(f"systemd-analyze security gave no score for {unit.name}: {out.stderr.strip()}")
    return float(m.group(1))


def main(argv: list[str]) -> int:
    if shutil.which("systemd-analyze") is None:
        print("systemd-analyze not found: apt-get install systemd", file=sys.stderr)
        return 2
    bad = 0
    units = [Path(a) for a in argv]
    for unit in units:
        said = verify(unit, beside=units)
        if said:
            print(f"{unit}: systemd-analyze verify:\n{said}", file=sys.stderr)
            bad += 1
        limit = limit_for(unit.name)
        if limit is not None:
            score = exposure(unit)
            ok = score <= limit
            print(f"{unit.name}: exposure {score:.1f} (limit {limit:.1f}){'' if ok else '  TOO HIGH'}")
            bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
