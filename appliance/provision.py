"""Hub workflow on the box (issue 12): ``werkvloer provision`` reads the hub's
provisioning file once, and ``werkvloer wipe`` ends a loan.

The provisioning file ``werkvloer-provision.toml`` sits on the boot partition
(a FAT partition any laptop can write). It carries the company config, the
language, the time zone, the sync endpoint and token, PIN hashes, secrets and
the network settings. ``werkvloer provision`` (run by werkvloer-firstboot on
every boot until the box is provisioned) validates ALL of it before it
changes anything, applies it, writes the marker last, then removes the file.
If something is wrong it writes a page in plain Dutch that the touchscreen
shows instead of the UI, and changes nothing.

Power cut during provisioning: every file is written to a temporary name,
fsynced and renamed, and the marker comes last; the next boot applies the same
file again (it is removed only after the marker).

On the A/B image the boot partition may be read-only: the file then stays
(the marker records its SHA-256, so it is not applied twice) and the report
says to delete it from the card, because it holds the sync token.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import ipaddress
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import Field, ValidationError, field_validator, model_validator

from drivers.schema import StrictModel

from .config import BoxConfig, parse_config, problems_from_validation
from .errors import ConfigError, WerkvloerError
from .files import fsync_dir, replace_symlink
from .pins import PIN_RECORD
from .roles import LOGIN_ROLES

FILE_NAME = "werkvloer-provision.toml"
SEARCH = (Path("/boot/firmware"), Path("/bootfs"), Path("/boot"))
MARKER = ".provisioned"
NETWORK_FILE = "20-werkvloer.network"   # /etc/systemd/network/ links here (read-only /etc)
PAGE = "index.html"                     # the kiosk shows it while it exists


class ProvisionError(WerkvloerError, ValueError):
    """No usable provisioning file; ``problems`` as in ConfigError, ``dutch`` for the touchscreen."""

    def __init__(self, title_nl: str, problems: list[tuple[str, str]], source: str) -> None:
        self.title_nl = title_nl
        self.problems = problems
        self.source = source
        lines = [f"{source}: {title_nl}"] + [f"  {k}: {m}" for k, m in problems]
        super().__init__("\n".join(lines))


class Network(StrictModel):
    mode: Literal["dhcp", "static"] = Field("dhcp", title="dhcp, or static with address and gateway")
    interface: str = Field("e*", title="Interface name or pattern (systemd.network Name=)", pattern=r"^[\w*.:-]{1,32}$")
    address: ipaddress.IPv4Interface | None = Field(None, title="Address with prefix, e.g. 192.168.10.20/24")
    gateway: ipaddress.IPv4Address | None = Field(None, title="Default gateway")
    dns: list[ipaddress.IPv4Address] = Field(default_factory=list, title="DNS servers")

    @model_validator(mode="after")
    def _static_needs_address(self) -> Network:
        if self.mode == "static" and self.address is None:
            raise ValueError("mode static needs address (e.g. 192.168.10.20/24)")
        return self


class Sync(StrictModel):
    url: str | None = Field(None, title="Programme hub URL (https://...)")
    token: str | None = Field(None, title="The box's hub token", min_length=16, max_length=512)


class ProvisionFile(StrictModel):
    format: Literal[1] = Field(1, title="File format version")
    language: Literal["nl", "en"] | None = Field(None, title="UI language (box.language)")
    timezone: str | None = Field(None, title="Time zone (box.timezone and the system clock)")
    config: dict[str, Any] = Field(title="The box config (as in werkvloer.toml), under [config]")
    pins: dict[str, str] = Field(default_factory=dict, title="PIN hashes per role (scrypt records)")
    secrets: dict[str, str] = Field(default_factory=dict, title="Secrets by name (OPC UA passwords)")
    sync: Sync | None = None
    network: Network | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r} (e.g. Europe/Amsterdam)") from None
        return v

    @field_validator("pins")
    @classmethod
    def _pin_records(cls, v: dict[str, str]) -> dict[str, str]:
        for role, record in v.items():
            if role not in LOGIN_ROLES:
                raise ValueError(f"no PIN for role {role!r}; roles with a PIN: {', '.join(LOGIN_ROLES)}")
            if not PIN_RECORD.match(record):
                raise ValueError(f"pins.{role} is not a PIN hash (scrypt$N$r$p$salt$digest); never put a PIN itself here")
        return v


@dataclass(frozen=True)
class Places:
    """Where provisioning writes. Defaults are the box's; tests use a temporary root."""

    etc: Path = Path("/etc/werkvloer")
    data_dir: Path = Path("/var/lib/werkvloer")
    message_dir: Path | None = Path("/run/werkvloer-provision")
    owner: str | None = None      # the service user; files are handed to it when set (root only)
    zoneinfo: Path = Path("/usr/share/zoneinfo")


@dataclass
class Report:
    source: Path
    applied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- reading and validating -------------------------------------------------------

def find_file(sources: list[Path]) -> Path | None:
    for s in sources:
        p = s / FILE_NAME if s.is_dir() else s
        if p.is_file():
            return p
    return None


def read_file(path: Path) -> tuple[ProvisionFile, BoxConfig, dict[str, Any], bytes]:
    """Everything checked, nothing changed: (file, validated config, config as written, raw bytes)."""
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProvisionError("Het inrichtingsbestand is geen geldig TOML-bestand.", [("(syntax)", str(exc))],
                             str(path)) from None
    try:
        pf = ProvisionFile.model_validate(data)
    except ValidationError as exc:
        raise ProvisionError("Het inrichtingsbestand klopt niet.", problems_from_validation(exc), str(path)) from None
    cfg = dict(pf.config)
    box = dict(cfg.get("box", {}))
    if pf.language:
        box["language"] = pf.language
    if pf.timezone:
        box["timezone"] = pf.timezone
    cfg["box"] = box
    if pf.sync and pf.sync.url:
        cfg["sync"] = {**cfg.get("sync", {}), "url": pf.sync.url}
    try:
        box_config = parse_config(cfg, f"{path} [config]")
    except ConfigError as exc:
        raise ProvisionError("De configuratie in het inrichtingsbestand klopt niet.",
                             [(f"config.{k}", m) for k, m in exc.problems], str(path)) from None
    if pf.sync and pf.sync.token:
        token_name = box_config.sync.token_secret if box_config.sync else "sync_token"
        if token_name in pf.secrets:
            raise ProvisionError("Het inrichtingsbestand klopt niet.",
                                 [(f"secrets.{token_name}", "given twice: also as sync.token; keep one")], str(path))
    return pf, box_config, cfg, raw


# --- applying ---------------------------------------------------------------------

def provision(sources: list[Path], places: Places) -> Report:
    """Apply the first provisioning file found in ``sources`` (folders or files)."""
    path = find_file(sources)
    if path is None:
        where = ", ".join(str(s) for s in sources)
        raise ProvisionError("Deze box is nog niet ingericht: er is geen inrichtingsbestand.",
                             [("(file)", f"no {FILE_NAME} in {where}; the hub puts it on the boot partition")], where)
    pf, box_config, cfg, raw = read_file(path)
    report = Report(source=path)
    uid, gid = _owner(places.owner)
    places.etc.mkdir(parents=True, exist_ok=True)
    places.data_dir.mkdir(parents=True, exist_ok=True)

    _write(places.etc / "werkvloer.toml", tomli_w.dumps(cfg).encode(), 0o640, (0, gid))
    report.applied.append(f"config {places.etc / 'werkvloer.toml'} (box {box_config.box.name!r})")
    secrets = dict(pf.secrets)
    if pf.sync and pf.sync.token:
        secrets[box_config.sync.token_secret if box_config.sync else "sync_token"] = pf.sync.token
    _write(places.etc / "secrets.toml", tomli_w.dumps(secrets).encode(), 0o600, (uid, gid))
    report.applied.append(f"secrets: {', '.join(sorted(secrets)) or '(none)'}")
    if pf.network:
        _write(places.etc / NETWORK_FILE, network_unit(pf.network).encode(), 0o644, (0, 0))
        report.applied.append(f"network: {pf.network.mode} {pf.network.address or ''}".rstrip())
    zone = box_config.box.timezone
    replace_symlink(places.etc / "localtime", places.zoneinfo / zone)
    report.applied.append(f"time zone {zone}, language {box_config.box.language}")
    if pf.pins:
        _set_pins(places.data_dir / box_config.storage.db_name, pf.pins)
        report.applied.append(f"PINs for {', '.join(sorted(pf.pins))}")
    else:
        report.warnings.append("no PIN hashes: the touchscreen asks for an admin PIN at first use")
    _hand_over(places.data_dir, uid, gid)
    digest = hashlib.sha256(raw).hexdigest()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _write(places.data_dir / MARKER, f"provisioned {stamp} from {path.name} sha256 {digest}\n".encode(), 0o640,
           (uid, gid))
    try:
        path.unlink()
        report.applied.append(f"removed {path}")
    except OSError as exc:
        report.warnings.append(f"could not remove {path} ({exc.strerror}); it holds the sync token: "
                               "delete it from the card with a laptop")
    if places.message_dir is not None:
        (places.message_dir / PAGE).unlink(missing_ok=True)
    return report


def network_unit(n: Network) -> str:
    """A systemd.network(5) file for the factory LAN port."""
    lines = ["# Written by werkvloer provision from the hub's provisioning file.", "[Match]", f"Name={n.interface}",
             "", "[Network]"]
    if n.mode == "dhcp":
        lines.append("DHCP=yes")
    else:
        lines.append(f"Address={n.address}")
        if n.gateway:
            lines.append(f"Gateway={n.gateway}")
    lines += [f"DNS={d}" for d in n.dns]
    return "\n".join(lines) + "\n"


def _set_pins(db_path: Path, pins: dict[str, str]) -> None:
    from .database import open_box_db
    from .storage import write_tx

    db = open_box_db(db_path)  # every area's migrations, the ui_pins table included
    try:
        with write_tx(db):
            db.execute("DELETE FROM ui_pins")
            for role, record in sorted(pins.items()):
                db.execute("INSERT INTO ui_pins(role, hash, updated_ts) VALUES (?, ?, ?)",
                           [role, record, time.time_ns()])
    finally:
        db.conn.close()


def _owner(name: str | None) -> tuple[int, int]:
    if name is None:
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise WerkvloerError(f"no user {name!r} on this system (the image makes it with systemd-sysusers)") from None
    return pw.pw_uid, pw.pw_gid


def _chown(path: Path, owner: tuple[int, int]) -> None:
    if os.geteuid() == 0:
        os.chown(path, *owner, follow_symlinks=False)


def _write(path: Path, data: bytes, mode: int, owner: tuple[int, int]) -> None:
    """Temporary name, fsync, rename: a power cut leaves the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    _chown(tmp, owner)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _hand_over(data_dir: Path, uid: int, gid: int) -> None:
    for p in [data_dir, *data_dir.rglob("*")]:
        _chown(p, (uid, gid))


# --- the touchscreen page -------------------------------------------------------------

# Plain Dutch for the touchscreen; the English detail follows in small print for the hub.
_DUTCH = [
    (re.compile(r"unknown key|extra inputs", re.I), "onbekende sleutel (tikfout?)"),
    (re.compile(r"field required|^missing|is required", re.I), "ontbreekt"),
    (re.compile(r"unknown time zone", re.I), "onbekende tijdzone (bijvoorbeeld Europe/Amsterdam)"),
    (re.compile(r"not a PIN hash", re.I), "geen PIN-hash: zet nooit de PIN zelf in het bestand"),
    (re.compile(r"TOML|syntax", re.I), "het bestand is beschadigd of geen TOML"),
    (re.compile(r"^no werkvloer-provision", re.I), "niet gevonden op de opstartpartitie"),
]


def message_page(err: ProvisionError) -> str:
    """A self-contained page in plain Dutch (no scripts, no external files)."""
    items = []
    for key, msg in err.problems:
        nl = next((d for rx, d in _DUTCH if rx.search(msg)), "klopt niet")
        items.append(f"<li><code>{html.escape(key)}</code>: {html.escape(nl)}"
                     f" <small>({html.escape(msg)})</small></li>")
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Werkvloer: inrichten</title>
<style>body{{font:1.4rem/1.5 "DejaVu Sans",sans-serif;margin:2rem 3rem;background:#fff;color:#111}}
h1{{font-size:2rem}} li{{margin:.4rem 0}} small{{color:#555}} .doen{{border-left:.4rem solid #c60;padding-left:1rem}}</style>
</head><body>
<h1>{html.escape(err.title_nl)}</h1>
<p>Er is niets veranderd op de box.</p>
{"<ul>" + "".join(items) + "</ul>" if items else ""}
<div class="doen"><p><strong>Wat nu?</strong> Zet de box uit, haal de kaart eruit en open de
opstartpartitie op een laptop. Zet daar een goed bestand <code>{FILE_NAME}</code> neer
(de hub maakt het) en start de box opnieuw.</p></div>
<p><small>Bestand: {html.escape(err.source)}. The provisioning file is missing or invalid; nothing was changed.</small></p>
</body></html>
"""


def write_message(message_dir: Path, err: ProvisionError) -> Path:
    message_dir.mkdir(parents=True, exist_ok=True)
    page = message_dir / PAGE
    tmp = message_dir / (PAGE + ".tmp")
    tmp.write_text(message_page(err), encoding="utf-8")
    os.chmod(tmp, 0o644)  # the kiosk user reads it
    os.replace(tmp, page)
    return page


# --- wipe --------------------------------------------------------------------------

def wipe(places: Places) -> list[str]:
    """End a loan: company data, config, secrets, network, PINs gone; a new OPC UA
    client certificate; the next boot asks for a provisioning file. Returns the report lines."""
    report: list[str] = []
    old_loan = _read_first_line(places.data_dir / "sync_loan_id")
    pins = _count_pins(places.data_dir)
    from drivers.opcua.pki import client_certificate, ensure_client_certificate

    old_cert = client_certificate(places.data_dir) if places.data_dir.exists() else None
    removed = 0
    if places.data_dir.exists():
        for child in places.data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
            removed += 1
    report.append(f"company data: {removed} item(s) removed from {places.data_dir} (database, snapshots, outbox)")
    report.append(f"PINs: {pins} removed; the next company gets new ones")
    for name in ("werkvloer.toml", "secrets.toml", NETWORK_FILE, "localtime"):
        p = places.etc / name
        if p.exists() or p.is_symlink():
            p.unlink()
            report.append(f"removed {p}")
    report.append(f"loan id: {old_loan or '(none)'} removed; a new random one is made at the next start")
    places.data_dir.mkdir(parents=True, exist_ok=True)
    new_cert = ensure_client_certificate(places.data_dir)
    _hand_over(places.data_dir, *_owner(places.owner))
    report.append(f"OPC UA client certificate: {old_cert.sha1 if old_cert else '(none)'} -> {new_cert.sha1} "
                  "(trust the new one on the next company's PLC)")
    report.append(f"provisioning marker removed: the next boot asks for a new {FILE_NAME}")
    return report


def _read_first_line(p: Path) -> str | None:
    try:
        return p.read_text().strip() or None
    except OSError:
        return None


def _count_pins(data_dir: Path) -> int:
    n = 0
    for db in data_dir.glob("*.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                n += conn.execute("SELECT count(*) FROM ui_pins").fetchone()[0]
        except sqlite3.Error:
            continue
    return n


# --- CLI ---------------------------------------------------------------------------

def main_provision(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer provision",
                                description=f"Apply the hub's {FILE_NAME} from the boot partition (once).")
    p.add_argument("--from", dest="sources", action="append", type=Path,
                   help=f"folder or file to look in (default: {', '.join(map(str, SEARCH))})")
    p.add_argument("--etc", type=Path, default=Places.etc)
    p.add_argument("--data-dir", type=Path, default=Places.data_dir)
    p.add_argument("--owner", help="hand the files to this user (the service user, werkvloer)")
    p.add_argument("--message-dir", type=Path, help="write the touchscreen page here when something is wrong")
    p.add_argument("--check", action="store_true", help="only validate the file (on the hub's laptop)")
    a = p.parse_args(argv)
    sources = a.sources or list(SEARCH)
    if a.check:
        path = find_file(sources)
        if path is None:
            print(f"no {FILE_NAME} in {', '.join(map(str, sources))}", file=sys.stderr)
            return 2
        try:
            read_file(path)
        except ProvisionError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{path}: OK")
        return 0
    places = Places(etc=a.etc, data_dir=a.data_dir, message_dir=a.message_dir, owner=a.owner)
    try:
        report = provision(sources, places)
    except ProvisionError as exc:
        if a.message_dir:
            write_message(a.message_dir, exc)
        print(exc, file=sys.stderr)
        return 2
    for line in report.applied:
        print(f"provisioned: {line}")
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def main_wipe(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer wipe", description="After a loan: erase all company data, "
                                "config, secrets and PINs, new client certificate; prints a wipe report.")
    p.add_argument("--etc", type=Path, default=Places.etc)
    p.add_argument("--data-dir", type=Path, default=Places.data_dir)
    p.add_argument("--owner", default=None, help="the service user that owns the data directory (werkvloer)")
    p.add_argument("--yes", action="store_true", help="really erase (export what the company keeps first)")
    a = p.parse_args(argv)
    if not a.yes:
        print("This erases the database, certificates, snapshots, config, secrets and PINs. "
              "Export what the company keeps first, then run again with --yes.", file=sys.stderr)
        return 2
    if Path("/run/systemd/system").is_dir() and os.geteuid() == 0:
        # The services must not write while their files go; the kiosk shows the provisioning page after reboot.
        stop = subprocess.run(["systemctl", "stop", "werkvloer-ui.service", "werkvloer-core.service",
                               "werkvloer-sync.timer", "werkvloer-sync.service"], capture_output=True, text=True)
        if stop.returncode != 0:  # e.g. no sync timer on this box; the others are stopped all the same
            print(f"systemctl stop: {stop.stderr.strip()}", file=sys.stderr)
    owner = a.owner if a.owner else ("werkvloer" if os.geteuid() == 0 and _user_exists("werkvloer") else None)
    lines = wipe(Places(etc=a.etc, data_dir=a.data_dir, message_dir=None, owner=owner))
    print(f"Werkvloer wipe report {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}")
    for line in lines:
        print(f"  {line}")
    return 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
