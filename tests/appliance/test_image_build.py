"""The image definition builds (issue 12): units verify and are hardened,
every path a hook names resolves from the rpi-image-gen source root, every
installable unit is enabled by the layer, the service users the layer makes
may open the devices their units allow, the package set installs together on
Debian, the wheelhouse resolves for aarch64. The checkers (systemd-analyze,
shellcheck) are required, not skipped: `make test` installs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

SRC = ROOT / "image-build"          # rpi-image-gen's -S source root
LAYER = SRC / "layer" / "werkvloer.yaml"
OVERLAY_UNITS = SRC / "layer" / "rootfs-overlay" / "etc" / "systemd" / "system"
UNITS = sorted((SRC / "systemd").glob("werkvloer-*.*")) + sorted(OVERLAY_UNITS.glob("*"))
SERVICES = [u for u in UNITS if u.suffix == ".service"]
CONFIGS = sorted((SRC / "config").glob("*.yaml"))


@pytest.fixture
def tools() -> None:
    """The checkers the image tests run. Not hardware: `make test` installs them (tests/system-deps.sh),
    so a missing one fails the test instead of skipping it."""
    for tool, package in (("systemd-analyze", "systemd"), ("shellcheck", "shellcheck"), ("make", "make")):
        assert shutil.which(tool), f"{tool} is missing: apt-get install {package} (or run `make test`)"


needs_tools = pytest.mark.usefixtures("tools")


def _unitcheck():
    spec = importlib.util.spec_from_file_location("unitcheck", SRC / "unitcheck.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


unitcheck = _unitcheck()


# --- units --------------------------------------------------------------------

@needs_tools
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies_cleanly(unit: Path) -> None:
    assert unitcheck.verify(unit, beside=UNITS) == ""


@needs_tools
def test_the_check_catches_an_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "werkvloer-core.service"
    bad.write_text((SRC / "systemd" / "werkvloer-core.service").read_text()
                   .replace("[Service]\n", "[Service]\nProtectKernal=yes\n"))
    assert "ProtectKernal" in unitcheck.verify(bad, beside=UNITS)


@needs_tools
@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_service_exposure_within_its_limit(unit: Path) -> None:
    limit = unitcheck.limit_for(unit.name)
    assert limit is not None
    assert unitcheck.exposure(unit) <= limit


def test_core_and_ui_limits_are_the_issue_s() -> None:
    assert unitcheck.LIMITS["werkvloer-core.service"] <= 3.0
    assert unitcheck.LIMITS["werkvloer-ui.service"] <= 3.0


def _keys(unit: Path, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", unit.read_text(), re.M)


def test_core_is_notify_with_watchdog_and_keeps_its_priority() -> None:
    core = SRC / "systemd" / "werkvloer-core.service"
    assert _keys(core, "Type") == ["notify"] and _keys(core, "WatchdogSec") and _keys(core, "Restart") == ["always"]
    assert int(_keys(core, "Nice")[0]) < 0 and int(_keys(core, "CPUWeight")[0]) > 100


def test_the_core_unit_grants_the_guard_s_default_real_time_priority() -> None:
    # guard.rt_priority defaults to 10: on the box the rlimit alone must allow it (no capability), with
    # a cap on a runaway real-time thread; else the guard runs at normal priority without anyone asking.
    from appliance.guard.config import GuardConfig

    core = SRC / "systemd" / "werkvloer-core.service"
    default = GuardConfig().rt_priority
    assert default > 0
    assert int(_keys(core, "LimitRTPRIO")[0]) >= default
    assert _keys(core, "LimitRTTIME") and not _keys(core, "RestrictRealtime")
    assert not _keys(core, "CapabilityBoundingSet")[0]  # the rlimit does it, no CAP_SYS_NICE


def test_core_devices_are_exactly_gpio_spi_serial_video() -> None:
    core = SRC / "systemd" / "werkvloer-core.service"
    assert _keys(core, "DevicePolicy") == ["closed"]
    allowed = {v.split()[0] for v in _keys(core, "DeviceAllow")}
    assert allowed == {"char-gpiochip", "char-spi", "char-ttyS", "char-ttyAMA", "char-ttyUSB",
                       "char-ttyACM", "char-video4linux"}


@pytest.mark.parametrize("name", ["werkvloer-core.service", "werkvloer-ui.service"])
def test_data_files_are_not_for_other_users(name: str) -> None:
    unit = SRC / "systemd" / name
    assert _keys(unit, "UMask") == ["0027"]            # db 0640
    assert _keys(unit, "CapabilityBoundingSet") == [""]


def test_kiosk_and_firstboot_say_why_exposure_remains() -> None:
    for name in ("werkvloer-kiosk.service", "werkvloer-firstboot.service"):
        assert "What is left open and why" in (SRC / "systemd" / name).read_text()


# --- the layer ------------------------------------------------------------------

def _layer() -> tuple[dict[str, str], dict]:
    text = LAYER.read_text()
    meta = dict(re.findall(r"^# X-Env-Var-(\w+): (.*)$", text, re.M))
    body = yaml.safe_load(text.split("# METAEND", 1)[1])
    return meta, body


def _hooks() -> list[str]:
    return _layer()[1]["mmdebstrap"]["customize-hooks"]


def _resolve(value: str) -> Path:
    return Path(value.replace("${DIRECTORY}", str(LAYER.parent)).replace("${@SRCROOT}", str(SRC))).resolve()


def test_every_path_a_hook_names_resolves_from_the_source_root() -> None:
    meta, _ = _layer()
    hooks = "\n".join(_hooks())
    used = set(re.findall(r"\$\{?IGconf_werkvloer_(\w+)\}?", hooks))
    assert used == {"overlay", "units", "wheel_dir", "update_key"}
    for var in ("overlay", "units"):
        path = _resolve(meta[var])
        assert path.is_dir() and path.is_relative_to(SRC), (var, path)
    # No path relative to the caller's working directory: only variables and the chroot ($1).
    for line in hooks.splitlines():
        assert "../" not in line, line
        for word in re.findall(r"(?<![\w$/{])\.?\.?/[\w./-]+", line):
            assert word.startswith("/"), (line, word)  # absolute paths are inside "$1" or the chroot


def test_units_the_hook_enables_exist() -> None:
    lines = [line for line in "\n".join(_hooks()).splitlines() if line.strip().startswith("systemctl --root")]
    names = [n for line in lines for n in line.split(" enable ", 1)[1].split() if "$" not in n]
    have = {p.name for p in UNITS}
    assert names and set(names) <= have


def test_every_unit_with_an_install_section_is_enabled_by_the_layer() -> None:
    """A unit that says where it belongs ([Install]) but that the hook never enables would not start on the box."""
    hooks = "\n".join(_hooks())
    lines = [line for line in hooks.splitlines() if line.strip().startswith("systemctl --root")]
    enabled = {n for line in lines for n in line.split(" enable ", 1)[1].split() if "$" not in n}
    installable = {u.name for u in UNITS if "\n[Install]\n" in u.read_text()}
    timers = {n for n in installable if n.endswith(".timer")}
    assert timers and 'enable "$(basename "$timer")"' in hooks  # the hook enables every timer it installs
    assert installable - timers == enabled


SYSUSERS = SRC / "layer" / "rootfs-overlay" / "usr" / "lib" / "sysusers.d" / "werkvloer.conf"
# The group that owns each device class a unit may open (Debian and Raspberry Pi OS udev rules).
DEVICE_GROUPS = {"char-gpiochip": {"gpio"}, "char-spi": {"spi"}, "char-ttyS": {"dialout"},
                 "char-ttyAMA": {"dialout"}, "char-ttyUSB": {"dialout"}, "char-ttyACM": {"dialout"},
                 "char-video4linux": {"video"}, "char-drm": {"video", "render"}, "char-input": {"input"}}


def _sysusers() -> tuple[set[str], dict[str, set[str]]]:
    """The users the layer's sysusers.d file makes, and the groups each one is put in."""
    users: set[str] = set()
    member: dict[str, set[str]] = {}
    for line in SYSUSERS.read_text().splitlines():
        f = line.split()
        if f and f[0] == "u":
            users.add(f[1])
            member.setdefault(f[1], set()).add(f[1])
        elif f and f[0] == "m":
            member.setdefault(f[1], set()).add(f[2])
    return users, member


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_the_service_user_exists_and_may_open_the_devices_it_is_allowed(unit: Path) -> None:
    users, member = _sysusers()
    user = (_keys(unit, "User") or ["root"])[0]
    assert user == "root" or user in users, f"{unit.name}: User={user} is not made by {SYSUSERS.name}"
    groups = member.get(user, set()) | {g for v in _keys(unit, "SupplementaryGroups") for g in v.split()}
    for cls in (v.split()[0] for v in _keys(unit, "DeviceAllow")):
        if not cls.startswith("char-"):
            continue  # a single device node (the kiosk's /dev/tty1), opened through logind
        assert cls in DEVICE_GROUPS, f"{unit.name}: which group owns {cls}? add it to DEVICE_GROUPS"
        assert user == "root" or DEVICE_GROUPS[cls] & groups, f"{unit.name}: {user} is in no group of {cls}"
    for g in (g for v in _keys(unit, "SupplementaryGroups") for g in v.split()):
        assert g in member.get(user, set()), f"{unit.name}: {user} is not made a member of {g} in {SYSUSERS.name}"


def test_build_outputs_the_hooks_need_are_made_by_make_image() -> None:
    makefile = (SRC / "Makefile").read_text()
    assert re.search(r"^image: wheel keys$", makefile, re.M)
    for cfg in CONFIGS:
        data = yaml.safe_load(cfg.read_text())
        assert data["werkvloer"]["update_key"] == "${@SRCROOT}/keys/update-signing.pub"
        assert _resolve(data["werkvloer"]["wheel_dir"]).is_relative_to(SRC / "dist")


def test_no_fallback_hides_a_failure() -> None:
    for hook in _hooks():
        assert "||" not in hook and "|| true" not in hook
        if "\n" in hook:
            assert hook.lstrip().startswith("set -eu"), hook[:60]


def test_one_time_daemon_timesyncd() -> None:
    meta, body = _layer()
    packages = body["mmdebstrap"]["packages"]
    assert "chrony" not in packages and "ntp" not in packages and "ntpsec" not in packages
    assert "systemd-timesyncd" in packages
    assert "systemd-timesyncd" in re.search(r"X-Env-Layer-Requires: (.*)", LAYER.read_text()).group(1)


# What rpi-image-gen's image-rota layout (image/gpt/ab_userdata/image.yaml,
# layer version 5.2.0) declares; anything else under image: is ignored.
IMAGE_ROTA_VARS = {"boot_part_size", "system_part_size", "data_part_size", "rootfs_type", "assetdir",
                   "pmap", "ptable_protect", "compression"}
SUITE_PYTHON = {"trixie": "3.13", "bookworm": "3.11"}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda p: p.name)
def test_config_uses_the_layout_s_own_sizes_and_the_suite_s_python(cfg: Path) -> None:
    data = yaml.safe_load(cfg.read_text())
    image = data["image"]
    assert image["layer"] == "image-rota"          # A/B, read-only root, /persistent
    assert set(image) - {"layer", "name"} <= IMAGE_ROTA_VARS
    assert {"boot_part_size", "system_part_size", "data_part_size"} <= set(image)
    suite = data["include"]["file"].split("-")[0]
    assert data["werkvloer"]["wheel_dir"].endswith("/py" + SUITE_PYTHON[suite])
    assert data["device"]["storage_type"] in {"sd", "emmc", "nvme"}


def _packages() -> list[str]:
    return _layer()[1]["mmdebstrap"]["packages"]


# Packages the required rpi-image-gen layers add (systemd-timesyncd, fake-hwclock):
REQUIRED_LAYER_PACKAGES = ["systemd-timesyncd", "fake-hwclock", "systemd"]


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs a Debian machine")
def test_package_set_installs_together_on_debian() -> None:
    lists = Path("/var/lib/apt/lists")
    if not any(lists.glob("*_Packages*")):
        if os.geteuid() != 0:
            pytest.skip("apt lists are empty and apt-get update needs root")
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    out = subprocess.run(["apt-get", "install", "-s", "-qq", *_packages(), *REQUIRED_LAYER_PACKAGES],
                         capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    # And the old conflict is really a conflict: chrony with timesyncd is refused.
    both = subprocess.run(["apt-get", "install", "-s", "-qq", "chrony", "systemd-timesyncd"],
                          capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    assert both.returncode != 0 or "Remv systemd-timesyncd" in both.stdout


# --- the wheelhouse ---------------------------------------------------------------

def _platforms() -> list[str]:
    out = subprocess.run(["make", "-s", "-C", str(SRC), "print-platforms"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def _requirements() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.mark.network
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("pyver", ["3.11", "3.13"])
def test_wheelhouse_resolves_for_aarch64(pyver: str, tmp_path: Path) -> None:
    """What `make -C image-build wheel` downloads, resolved from PyPI's metadata
    only (pip --dry-run): every dependency has an aarch64 wheel for the Python."""
    platforms = _platforms()
    assert "manylinux_2_27_aarch64" in platforms     # ai-edge-litert's tag
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
           "--target", str(tmp_path / "t"), "--report", str(report), "--only-binary=:all:",
           "--implementation", "cp", "--python-version", pyver,
           *[a for p in platforms for a in ("--platform", p)], *_requirements()]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    files = [item["download_info"]["url"].rsplit("/", 1)[1] for item in json.loads(report.read_text())["install"]]
    names = {f.split("-")[0].lower() for f in files}
    assert {"ai_edge_litert", "numpy", "pydantic_core"} <= names
    tag = "cp" + pyver.replace(".", "")
    for f in files:
        assert f.endswith("-none-any.whl") or ("aarch64" in f and (tag in f or "abi3" in f)), f


# --- shell ---------------------------------------------------------------------------

@needs_tools
@pytest.mark.parametrize("script", [SRC / "layer" / "rootfs-overlay" / "usr" / "lib" / "werkvloer" / "kiosk",
                                    SRC / "jetson" / "install.sh"], ids=lambda p: p.name)
def test_shell_scripts_are_shellcheck_clean(script: Path) -> None:
    out = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert os.access(script, os.X_OK)


@needs_tools
def test_make_lint_passes_without_a_box() -> None:
    """`make -C image-build lint` needs no /opt/werkvloer (it used to)."""
    out = subprocess.run(["make", "-s", "-C", str(SRC), "lint", f"PY={sys.executable}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "werkvloer-core.service: exposure" in out.stdout
