"""Device profiles: a device's register map, written once, referred to by name.

A profile is a TOML file in this folder (``generic-plc.toml``) or anywhere
else (``profile = "/etc/werkvloer/profiles/my-press.toml"``)::

    [profile]
    title = "Eastron SDM630 energy meter"
    source = "Eastron SDM630 Modbus protocol v1.4"   # where the map comes from

    [defaults]            # device keys used when the config does not set them
    baudrate = 9600
    parity = "N"

    [writes.stop]         # documented write addresses (used by guard outputs)
    table = "coil"
    address = 0

    [[signals]]           # same keys as [[sources.modbus.signals]]
    name = "voltage_l1"
    table = "input"
    address = 0
    type = "float32"

A device that says ``profile = "NAME"`` gets the profile's signals (prefixed
with ``signal_prefix``); a config signal with the same name overrides the keys
it sets; other config signals are added after the profile's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from drivers.modbus.signals import ModbusSignal
from drivers.schema import StrictModel

PROFILE_DIR = Path(__file__).resolve().parent


class ProfileInfo(StrictModel):
    title: str = Field(..., title="What the device is", max_length=120)
    source: str = Field(..., title="Where the register map comes from (manual, version)", max_length=300)
    notes: str | None = Field(None, title="Notes for the person wiring it", max_length=2000)


class ProfileDefaults(StrictModel):
    port: int | None = Field(None, title="TCP port", ge=1, le=65535)
    unit_id: int | None = Field(None, title="Unit id", ge=0, le=247)
    baudrate: int | None = Field(None, title="Baud rate (RTU)", ge=1200, le=921600)
    parity: Literal["N", "E", "O"] | None = Field(None, title="Parity (RTU)")
    stopbits: Literal[1, 2] | None = Field(None, title="Stop bits (RTU)")
    timeout_s: float | None = Field(None, title="Response timeout", description="s", gt=0, le=30)
    poll_interval_ms: int | None = Field(None, title="Default poll interval", description="ms", ge=5, le=3_600_000)
    max_gap: int | None = Field(None, title="Largest gap merged into one read", description="registers", ge=0, le=100)


class ProfileWrite(StrictModel):
    table: Literal["coil", "holding"] = Field(..., title="Table written")
    address: int = Field(..., title="Address (0-based)", ge=0, le=65535)
    description: str = Field(..., title="What writing it does", max_length=300)


class DeviceProfile(StrictModel):
    profile: ProfileInfo = Field(..., title="About the profile")
    defaults: ProfileDefaults = Field(default_factory=ProfileDefaults, title="Device defaults")
    writes: dict[str, ProfileWrite] = Field(default_factory=dict, title="Documented write addresses")
    signals: list[ModbusSignal] = Field(..., title="Signals", min_length=1)


def available_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def profile_path(name: str) -> Path:
    """The file of a shipped profile name or a path; ``ValueError`` if there is none."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"profile file {name} does not exist; give an existing .toml file or one of: "
                             f"{', '.join(available_profiles())}")
        return path
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown profile {name!r}; shipped profiles: {', '.join(available_profiles())} "
                         "(or give the path of a .toml file)")
    return path


_cache: dict[tuple[str, int], DeviceProfile] = {}


def load_profile(name: str) -> DeviceProfile:
    """Read and validate a profile by shipped name or path. Raises ``ValueError``
    naming the file and the key path of each problem."""
    path = profile_path(name)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key in _cache:
        return _cache[key]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"profile {path}: not valid TOML: {exc}") from None
    try:
        prof = DeviceProfile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False))
        raise ValueError(f"profile {path} is invalid: {problems}") from None
    _cache.clear()  # keep one entry per file version only
    _cache[key] = prof
    return prof


def merge_profile(data: dict[str, Any]) -> dict[str, Any]:
    """A device config dict with its profile's defaults and signals filled in."""
    prof = load_profile(str(data["profile"]))
    out = dict(data)
    for key, value in prof.defaults.model_dump(exclude_none=True).items():
        out.setdefault(key, value)
    prefix = str(data.get("signal_prefix") or "")
    merged: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for sig in prof.signals:
        entry = sig.model_dump(exclude_defaults=True)
        entry["name"] = prefix + sig.name
        index[entry["name"]] = len(merged)
        merged.append(entry)
    extra = data.get("signals") or []
    if not isinstance(extra, list):
        return out  # let the schema report the wrong type at its key path
    for item in extra:
        if isinstance(item, dict) and item.get("name") in index:
            merged[index[item["name"]]] = {**merged[index[item["name"]]], **item}
        else:
            merged.append(item)
    out["signals"] = merged
    return out
