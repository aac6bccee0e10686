"""The box's one config file (TOML), validated by a strict schema.

``load_config(path)`` returns a frozen ``BoxConfig`` or raises ``ConfigError``
listing every problem with its key path (``sources.modbus[0].signals[2].type``)
and what was expected. Secrets (tokens, PIN hashes, passwords) never live here:
see ``appliance.secrets``.
"""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from drivers.camera.config import CameraConfig
from drivers.gpio.config import GpioConfig
from drivers.modbus.config import ModbusDevice
from drivers.opcua.config import OpcuaServer
from drivers.schema import TAG_PREFIX, StrictModel

from .errors import ConfigError
from .guard.config import GuardConfig
from .kpi.config import MachineConfig


class BoxSection(StrictModel):
    name: str = Field("werkvloer", title="Box name (local only; never synced)", pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    data_dir: str = Field("/var/lib/werkvloer", title="Data directory", description="database, certificates, snapshots")
    timezone: str = Field("Europe/Amsterdam", title="Time zone for shifts and days")
    language: Literal["nl", "en"] = Field("nl", title="Default UI language")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Amsterdam") from None
        return v


class StorageSection(StrictModel):
    batch_interval_s: float = Field(1.0, title="Sample batch interval", description="s", ge=0.01, le=60)
    raw_retention_days: int = Field(14, title="Keep raw samples for", description="days", ge=1, le=3650)
    db_name: str = Field("werkvloer.db", title="Database file name in data_dir", pattern=r"^[\w.-]+$")


class UiSection(StrictModel):
    host: str = Field("127.0.0.1", title="Listen address")
    port: int = Field(8080, title="Listen port", ge=1, le=65535)
    remote_access: bool = Field(False, title="Allow other hosts (login needed for everything)")
    idle_logout_s: int = Field(120, title="Idle logout at the box",
                               description="s without a touch before the box's own screen falls back to operator; 0 = never",
                               ge=0, le=86_400)
    allowed_hosts: list[str] = Field(
        default_factory=list, title="Host names the UI answers to besides loopback, IP addresses and the box's own name",
        description="e.g. [\"werkvloer-hal3.example.nl\"]; a browser using another name is refused (DNS rebinding)")

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", n)]
        if bad:
            raise ValueError(f"not a host name: {', '.join(map(repr, bad))} (letters, digits, dots and dashes; "
                             "no scheme, port or path)")
        return v


class SyncSection(StrictModel):
    """What the programme hub needs to receive this box's KPIs (sync stays off until consent)."""

    url: str | None = Field(None, title="Programme hub URL", description="https://...; http:// only for a loopback address")
    token_secret: str = Field("sync_token", title="Name of the hub token in the secrets file", pattern=r"^[\w.-]{1,64}$")
    programme: str = Field("werkvloer-pilot", title="Programme or pilot id", pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")
    sector: str = Field("C", title="Sector (SBI 2008 section letter or 2-digit division)", pattern=r"^([A-U]|[0-9]{2})$")
    size_class: Literal["1-9", "10-49", "50-249", "250+"] = Field("10-49", title="Size class (employees)")
    interval_min: int = Field(60, title="Send every", description="minutes", ge=5, le=1440)
    ca_file: str | None = Field(None, title="CA certificate file that pins the programme's CA (PEM)")
    outbox_limit_mb: float = Field(50.0, title="Outbox bound", description="MB; above it the box seals day-level batches", ge=0.1, le=10_000)

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        u = urlsplit(v)
        if u.scheme == "https" and u.hostname:
            return v
        if u.scheme == "http" and u.hostname in ("127.0.0.1", "::1", "localhost"):
            return v
        raise ValueError("use https://HOST/...; plain http:// is accepted only for a loopback address (127.0.0.1, ::1, localhost)")


class SourcesSection(StrictModel):
    modbus: list[ModbusDevice] = Field(default_factory=list, title="Modbus devices")
    opcua: list[OpcuaServer] = Field(default_factory=list, title="OPC UA servers")
    gpio: GpioConfig | None = Field(None, title="GPIO")
    camera: list[CameraConfig] = Field(default_factory=list, title="Cameras")


class BoxConfig(StrictModel):
    box: BoxSection = Field(default_factory=BoxSection, title="Box")
    storage: StorageSection = Field(default_factory=StorageSection, title="Storage")
    ui: UiSection = Field(default_factory=UiSection, title="Local UI")
    sources: SourcesSection = Field(default_factory=SourcesSection, title="Sources")
    guard: GuardConfig = Field(default_factory=GuardConfig, title="Guard")
    machine: MachineConfig = Field(default_factory=MachineConfig, title="Machine state and KPIs")
    sync: SyncSection = Field(default_factory=SyncSection, title="Sync to the programme hub")

    def signal_paths(self) -> dict[str, list[str]]:
        """Signal name -> key paths where it is defined (more than one = duplicate)."""
        seen: dict[str, list[str]] = {}
        s = self.sources
        groups: list[tuple[str, list[Any]]] = [
            (f"sources.modbus[{i}].signals", list(d.signals)) for i, d in enumerate(s.modbus)]
        groups += [(f"sources.opcua[{i}].signals", list(d.signals)) for i, d in enumerate(s.opcua)]
        if s.gpio is not None:
            groups += [("sources.gpio.inputs", list(s.gpio.inputs)), ("sources.gpio.analog", list(s.gpio.analog))]
        for prefix, signals in groups:
            for j, sig in enumerate(signals):
                seen.setdefault(sig.name, []).append(f"{prefix}[{j}].name")
        for i, cam in enumerate(s.camera):
            seen.setdefault(cam.name, []).append(f"sources.camera[{i}].name")
        return seen

    @property
    def signal_names(self) -> set[str]:
        return set(self.signal_paths())

    @property
    def db_path(self) -> Path:
        return Path(self.box.data_dir) / self.storage.db_name

    @model_validator(mode="after")
    def _cross_references(self) -> BoxConfig:
        problems: list[tuple[str, str]] = []
        paths = self.signal_paths()
        for name, where in paths.items():
            if len(where) > 1:
                for p in where[1:]:
                    problems.append((p, f"duplicate signal name {name!r} (first defined at {where[0]})"))
        known = set(paths)
        camera_refs = [(f"sources.camera[{i}].trigger_signal", c.trigger_signal)
                       for i, c in enumerate(self.sources.camera) if c.trigger_signal]
        for path, name in [*self.guard.referenced_signals(), *self.machine.referenced_signals(), *camera_refs]:
            if name not in known:
                problems.append((path, f"unknown signal {name!r}; defined signals: {', '.join(sorted(known)) or 'none'}"))
        # A poll faster than 5 ms is for the guard's own reader only (issue 11): on the core's shared
        # event loop it would starve every other part of the box.
        watched = {r.signal for r in self.guard.rules} | {r.while_signal for r in self.guard.rules if r.while_signal}
        for i, dev in enumerate(self.sources.modbus):
            for j, sig in enumerate(dev.signals):
                if sig.poll_interval_ms is not None and sig.poll_interval_ms < 5 and not (
                        self.guard.fast_path and dev.transport == "tcp" and sig.name in watched
                        and sig.type not in ("string", "block")):
                    problems.append((f"sources.modbus[{i}].signals[{j}].poll_interval_ms",
                                     f"{sig.poll_interval_ms} ms is only for a scalar signal of a TCP device that a "
                                     "guard rule watches (the guard reads it on its own connection); use 5 or more"))
        names = [o.name for o in self.guard.outputs]
        if self.guard.heartbeat and self.guard.heartbeat.output not in names:
            problems.append(("guard.heartbeat.output", f"unknown output {self.guard.heartbeat.output!r}; outputs: {', '.join(names) or 'none'}"))
        if problems:
            raise _CrossRefError(problems)
        return self


class _CrossRefError(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith(("function-", "literal[", "union[", TAG_PREFIX)):
            continue  # pydantic's internal tags, not key paths
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the config reference in the README)"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def problems_from_validation(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _CrossRefError):
            problems.extend(inner.problems)
            continue
        problems.append((_loc_to_path(tuple(err["loc"])), _describe(dict(err))))
    return problems


def parse_config(data: dict[str, Any], source: str = "config") -> BoxConfig:
    """Validate a parsed config. ``WERKVLOER_DATA_DIR`` in the environment
    overrides ``box.data_dir`` (systemd's StateDirectory, the demo, tests)."""
    env_dir = os.environ.get("WERKVLOER_DATA_DIR")
    if env_dir:
        box = data.get("box")
        data = {**data, "box": {**(box if isinstance(box, dict) else {}), "data_dir": env_dir}}
    try:
        return BoxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc), source) from None


def load_config(path: str | Path) -> BoxConfig:
    """Read and validate a TOML config file; raise ``ConfigError`` on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("(file)", f"{p} does not exist; copy one of the examples in configs/")], str(p)) from None
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {p}: {exc.strerror}")], str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(syntax)", f"not valid TOML: {exc}")], str(p)) from None
    return parse_config(data, str(p))


def summary_data(cfg: BoxConfig) -> dict[str, Any]:
    """What the box runs with, as data (names, hosts, paths as configured): the Settings page
    words it in the screen's language, ``summary`` in English for ``werkvloer check-config``."""
    s, g = cfg.sources, cfg.guard
    sources: list[dict[str, Any]] = []
    for d in s.modbus:
        where = f"{d.host}:{d.port}" if d.transport == "tcp" else f"{d.serial_port} @{d.baudrate}"
        sources.append({"kind": "modbus", "name": d.name, "where": where, "transport": d.transport,
                        "unit_id": d.unit_id, "signals": len(d.signals)})
    for o in s.opcua:
        sources.append({"kind": "opcua", "name": o.name, "where": o.url, "security": o.security_mode,
                        "signals": len(o.signals)})
    if s.gpio:
        sources.append({"kind": "gpio", "name": None, "where": s.gpio.pin_factory, "inputs": len(s.gpio.inputs),
                        "analog": len(s.gpio.analog), "signals": len(s.gpio.inputs) + len(s.gpio.analog)})
    for c in s.camera:
        sources.append({"kind": "camera", "name": c.name, "where": c.backend, "signals": 0})
    hb = g.heartbeat
    return {
        "box": {"name": cfg.box.name, "data_dir": str(cfg.box.data_dir), "language": cfg.box.language,
                "timezone": cfg.box.timezone},
        "sources": sources, "signals": sorted(cfg.signal_names),
        "guard": {"mode": g.mode, "run_permit": bool(g.run_permit),
                  "models": [{"name": m.name, "model": m.model} for m in g.models],
                  "rules": [r.name for r in g.rules]},
        "outputs": [{"name": o.name, "kind": o.kind} for o in g.outputs],
        "heartbeat": {"output": hb.output, "period_ms": hb.period_ms} if hb else None,
        "storage": {"batch_interval_s": cfg.storage.batch_interval_s,
                    "raw_retention_days": cfg.storage.raw_retention_days},
        "ui": {"url": f"http://{cfg.ui.host}:{cfg.ui.port}", "remote_access": bool(cfg.ui.remote_access)},
    }


def summary(cfg: BoxConfig) -> str:
    """The one-screen summary ``werkvloer check-config`` prints for a valid file (English)."""
    d = summary_data(cfg)
    b = d["box"]
    lines = [f"Box {b['name']!r}  data: {b['data_dir']}  language: {b['language']}  tz: {b['timezone']}", "Sources:"]
    for x in d["sources"]:
        if x["kind"] == "modbus":
            lines.append(f"  modbus {x['name']:<16} {x['transport']} {x['where']} unit {x['unit_id']}  "
                         f"{x['signals']} signals")
        elif x["kind"] == "opcua":
            lines.append(f"  opcua  {x['name']:<16} {x['where']} security {x['security']}  {x['signals']} signals")
        elif x["kind"] == "gpio":
            lines.append(f"  gpio   pins ({x['where']})  {x['inputs']} inputs, {x['analog']} analog")
        else:
            lines.append(f"  camera {x['name']:<16} {x['where']}")
    if not d["sources"]:
        lines.append("  (none)")
    names = d["signals"]
    lines.append(f"Signals ({len(names)}): {', '.join(names) if names else '(none)'}")
    g = d["guard"]
    models = ", ".join("{name}={model}".format(**m) for m in g["models"]) or "none"
    lines.append(f"Guard: mode {g['mode']}{' (run permit)' if g['run_permit'] else ''}; "
                 f"models: {models}; rules: {', '.join(g['rules']) or 'none'}")
    hb = d["heartbeat"]
    outputs = ", ".join("{name} ({kind})".format(**o) for o in d["outputs"]) or "none"
    lines.append(f"Outputs: {outputs}" + (f"; heartbeat on {hb['output']} every {hb['period_ms']} ms" if hb else ""))
    st = d["storage"]
    lines.append(f"Storage: batch {st['batch_interval_s']} s, raw samples kept {st['raw_retention_days']} days")
    lines.append(f"UI: {d['ui']['url']}  remote access {'on' if d['ui']['remote_access'] else 'off'}")
    return "\n".join(lines)
