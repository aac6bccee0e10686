"""Hub workflow on the box: ``werkvloer provision`` (first boot) and ``werkvloer wipe`` (after a loan)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

from .config import load_config
from .errors import ConfigError

MARKER = ".provisioned"


def new_box_id() -> str:
    """A pseudonymous id for one loan: random, not derived from hardware or the company."""
    return "wv-" + secrets.token_hex(6)


def provision(src: Path, etc: Path, data_dir: Path) -> str:
    """Move the hub's files into place; returns the new box id."""
    cfg_src = src / "werkvloer.toml"
    etc.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if cfg_src.exists():
        load_config(cfg_src)  # refuse a broken config before it replaces anything
        shutil.copyfile(cfg_src, etc / "werkvloer.toml")
    elif not (etc / "werkvloer.toml").exists():
        raise ConfigError([("(file)", f"no werkvloer.toml in {src} or {etc}; put the company config on the boot partition")],
                          str(cfg_src))
    sec_src = src / "secrets.toml"
    if sec_src.exists():
        dest = etc / "secrets.toml"
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(sec_src.read_bytes())
        sec_src.unlink()  # the boot partition is FAT and readable by anyone with the card
    box_id = new_box_id()
    (data_dir / "box_id").write_text(box_id + "\n")
    (data_dir / MARKER).write_text(f"provisioned {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    return box_id


def wipe(etc: Path, data_dir: Path) -> list[str]:
    """Delete everything company-specific. Returns what was removed."""
    removed = []
    if data_dir.exists():
        for child in data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
            removed.append(str(child))
    for name in ("werkvloer.toml", "secrets.toml"):
        p = etc / name
        if p.exists():
            p.unlink()
            removed.append(str(p))
    return removed


def main_provision(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer provision", description="First boot: install the company config from the hub.")
    p.add_argument("--from", dest="src", default="/boot/firmware/werkvloer")
    p.add_argument("--etc", default="/etc/werkvloer")
    p.add_argument("--data-dir", default="/var/lib/werkvloer")
    a = p.parse_args(argv)
    box_id = provision(Path(a.src), Path(a.etc), Path(a.data_dir))
    print(f"provisioned: box id {box_id}")
    return 0


def main_wipe(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer wipe", description="After a loan: delete all company data, config and secrets.")
    p.add_argument("--etc", default="/etc/werkvloer")
    p.add_argument("--data-dir", default="/var/lib/werkvloer")
    p.add_argument("--yes", action="store_true", help="really delete (stop werkvloer-core and werkvloer-ui first)")
    a = p.parse_args(argv)
    if not a.yes:
        print("This deletes the database, certificates, snapshots, config and secrets. "
              "Export what the company keeps first, stop the services, then run again with --yes.", file=sys.stderr)
        return 2
    for item in wipe(Path(a.etc), Path(a.data_dir)):
        print(f"removed {item}")
    return 0
