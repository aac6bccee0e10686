"""``werkvloer update``: a signed bundle goes into a new venv, the switch is one
rename, and a release whose core is not READY is rolled back by itself.

The READY check is the real sd_notify protocol (``notify_ready``): the
release's own ``werkvloer`` is started with a NOTIFY_SOCKET of the test's.
The stand-in releases are tiny real wheels, so no network is needed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from appliance.update import (
    UpdateError,
    _clean_env,
    build_bundle,
    current_release,
    install,
    keygen,
    notify_ready,
    unpack_verified,
)
from tests.conftest import ROOT

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
BOX_PYTHON = getattr(sys, "_base_executable", sys.executable)

# A `werkvloer` that says READY=1 (or exits at once) and then waits to be stopped.
FAKE_CORE = '''
import os, socket, sys, time
READY = {ready}
def main():
    if not READY:
        sys.exit(3)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"STATUS=up\\nREADY=1", os.environ["NOTIFY_SOCKET"])
    time.sleep(600)
'''


def fake_wheel(into: Path, version: str, *, ready: bool) -> Path:
    """A minimal but real wheel named werkvloer with a console script."""
    into.mkdir(parents=True, exist_ok=True)
    dist = f"werkvloer-{version}.dist-info"
    files = {
        "fakecore.py": FAKE_CORE.format(ready=ready),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: werkvloer\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nwerkvloer = fakecore:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    path = into / f"werkvloer-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def hub(tmp_path: Path) -> tuple[Path, Path]:
    return keygen(tmp_path / "keys" / "hub")


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """A box's releases folder, running a factory release that reaches READY."""
    releases = tmp_path / "opt" / "werkvloer" / "releases"
    releases.mkdir(parents=True)
    factory = tmp_path / "opt" / "werkvloer" / "venv"
    subprocess.run([BOX_PYTHON, "-m", "venv", "--without-pip", str(factory)], check=True, env=_clean_env())
    wheel = fake_wheel(tmp_path / "factory-wheels", "0.1.0", ready=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(factory / "bin" / "python"), "install",
                    "--quiet", "--no-index", str(wheel)], check=True, env=_clean_env())
    os.symlink(factory, releases / "current")
    return releases


def check_for(releases: Path):
    return notify_ready(lambda venv: [str(venv / "bin" / "werkvloer"), "core"], releases)


def bundle(tmp_path: Path, hub, version: str, *, ready: bool) -> Path:
    wheels = tmp_path / f"wheelhouse-{version}"
    fake_wheel(wheels, version, ready=ready)
    out = tmp_path / f"werkvloer-{version}.wvupdate"
    build_bundle(out, wheelhouse=wheels, key=hub[0], python=PY)
    return out


def test_update_installs_a_new_venv_and_switches(tmp_path: Path, hub, box: Path) -> None:
    factory = current_release(box)
    result = install(bundle(tmp_path, hub, "0.2.0", ready=True), releases=box, public_key=hub[1],
                     python=BOX_PYTHON, check=check_for(box), timeout_s=30)
    assert not result.rolled_back
    assert current_release(box) == result.release / "venv" != factory
    assert (box / "previous").resolve() == factory          # kept for a manual step back
    assert (box / "current").is_symlink() and not (box / "current.new").exists()
    meta = subprocess.run([sys.executable, "-m", "pip", "--python", str(box / "current" / "bin" / "python"),
                           "show", "werkvloer"], capture_output=True, text=True, check=True, env=_clean_env()).stdout
    assert "Version: 0.2.0" in meta


def test_a_release_that_is_not_ready_is_rolled_back(tmp_path: Path, hub, box: Path) -> None:
    factory = current_release(box)
    result = install(bundle(tmp_path, hub, "0.3.0", ready=False), releases=box, public_key=hub[1],
                     python=BOX_PYTHON, check=check_for(box), timeout_s=30)
    assert result.rolled_back and result.restored          # the factory release said READY again
    assert current_release(box) == factory


def test_a_second_update_prunes_all_but_running_and_previous(tmp_path: Path, hub, box: Path) -> None:
    kw = dict(releases=box, public_key=hub[1], python=BOX_PYTHON, check=check_for(box), timeout_s=30)
    first = install(bundle(tmp_path, hub, "0.2.0", ready=True), **kw)
    second = install(bundle(tmp_path, hub, "0.2.1", ready=True), **kw)
    third = install(bundle(tmp_path, hub, "0.2.2", ready=True), **kw)
    assert not first.release.exists() and second.release.exists() and third.release.exists()


def test_a_bundle_signed_by_another_hub_is_refused(tmp_path: Path, hub, box: Path) -> None:
    other = keygen(tmp_path / "other" / "hub")
    before = current_release(box)
    with pytest.raises(UpdateError, match="signature does not match"):
        install(bundle(tmp_path, other, "0.2.0", ready=True), releases=box, public_key=hub[1],
                python=BOX_PYTHON, check=check_for(box))
    assert current_release(box) == before
    assert [p.name for p in box.iterdir()] == ["current"]      # nothing left behind


def test_a_changed_wheel_is_refused(tmp_path: Path, hub) -> None:
    good = bundle(tmp_path, hub, "0.2.0", ready=True)
    bad = tmp_path / "bad.wvupdate"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith(".whl"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, __import__("io").BytesIO(data))
    with pytest.raises(UpdateError, match="does not match the manifest"):
        unpack_verified(bad, tmp_path / "x", public_key=hub[1])


def test_a_bundle_for_another_python_is_refused(tmp_path: Path, hub, box: Path) -> None:
    wheels = tmp_path / "wh"
    fake_wheel(wheels, "0.2.0", ready=True)
    out = tmp_path / "b.wvupdate"
    build_bundle(out, wheelhouse=wheels, key=hub[0], python="3.99")
    with pytest.raises(UpdateError, match="for Python 3.99"):
        install(out, releases=box, public_key=hub[1], python=BOX_PYTHON, check=check_for(box))


def test_keygen_refuses_to_overwrite_the_hub_key(hub) -> None:
    assert oct(hub[0].stat().st_mode & 0o777) == "0o600"
    with pytest.raises(UpdateError, match="exists already"):
        keygen(hub[0].with_suffix(""))


@pytest.mark.network
@pytest.mark.slow
def test_the_project_s_own_wheel_installs_from_a_bundle(tmp_path: Path, hub, box: Path) -> None:
    """The real werkvloer wheel (dependencies left out: --no-deps) through
    `werkvloer update --build` and the install path."""
    wheels = tmp_path / "wheelhouse"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
                    str(ROOT)], check=True)
    out = tmp_path / "real.wvupdate"
    cli = [sys.executable, "-m", "appliance.cli", "update"]
    subprocess.run([*cli, "--build", str(out), "--key", str(hub[0]), "--wheelhouse", str(wheels)],
                   check=True, cwd=ROOT)
    version = __import__("appliance").__version__
    result = install(out, releases=box, public_key=hub[1], python=BOX_PYTHON, pip_args=("--no-deps",),
                     check=lambda timeout_s: True)
    assert (result.release / "venv" / "bin" / "werkvloer").exists()
    assert result.release.name.startswith(version + "-")
