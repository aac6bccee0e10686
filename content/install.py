"""``werkvloer content install PACK``: put a content pack on the box, or
replace one (issue 14, point 1).

The box loads the shipped packs first and then the installed packs under
``<data_dir>/content/packs``; an installed pack replaces a shipped or earlier
installed pack with the same id. That is how the programme's official
blueprint pack replaces the working version shipped with the box.

Install is all-or-nothing:

1. the pack is checked in the library it would join (``content.check``), and
   so is every other pack of that library, because a replaced shared pack can
   break a blueprint that links to its cards; on any problem nothing changes;
2. the pack is copied next to its final place and swapped in with a rename;
   the pack it replaces (if installed, not shipped) is kept under
   ``.previous/<id>`` so nothing is lost;
3. progress stays in the box database keyed by step id: steps whose id is in
   the new pack keep their status and note; rows of steps the new pack no
   longer has are left alone (reported, not deleted), so they come back if a
   later pack brings the id back.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from content.check import check_pack
from content.loader import (
    SHIPPED_DIR,
    ContentError,
    Library,
    load_library,
    pack_dirs,
    read_manifest,
)

DEFAULT_DATA_DIR = "/var/lib/werkvloer"
STAMP = ".installed"  # touched on every install, so a running UI reloads the library


def installed_dir(data_dir: str | Path) -> Path:
    """Where installed packs live on the box."""
    return Path(data_dir) / "content" / "packs"


def library_dirs(data_dir: str | Path | None) -> list[Path]:
    """The folders the box loads, in order (a later one wins per pack id)."""
    return [SHIPPED_DIR] if data_dir is None else [SHIPPED_DIR, installed_dir(data_dir)]


def install_stamp(data_dir: str | Path | None) -> float:
    """Changes whenever a pack is installed (0.0 when none ever was)."""
    if data_dir is None:
        return 0.0
    try:
        return (installed_dir(data_dir) / STAMP).stat().st_mtime
    except OSError:
        return 0.0


def load_box_library(data_dir: str | Path | None) -> Library:
    return load_library(library_dirs(data_dir))


class PackRefused(ContentError):
    """The pack was not installed; the message lists every problem and what to do."""


@dataclass
class InstallResult:
    pack_id: str
    version: str
    replaced: str | None  # "shipped 0.9.0", "installed 1.0.0" or None for a new pack
    path: Path
    kept: list[str] = field(default_factory=list)  # step ids whose progress carries over
    dropped: list[str] = field(default_factory=list)  # step ids with progress the new pack no longer has

    def summary(self) -> str:
        what = f"replaces the {self.replaced} pack" if self.replaced else "is new on this box"
        lines = [f"installed {self.pack_id} {self.version} in {self.path}; it {what}.",
                 f"progress kept for {len(self.kept)} step(s) with the same id."]
        if self.dropped:
            lines.append(f"{len(self.dropped)} step(s) with progress are not in this pack: "
                         f"{', '.join(self.dropped)}; their progress stays in the database.")
        lines.append("restart the UI or reload its page to see the new content.")
        return "\n".join(lines)


def _progress_ids(db_path: Path | None) -> set[str]:
    if db_path is None or not db_path.is_file():
        return set()
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT step_id FROM content_progress WHERE status != 'not_started' OR note != ''").fetchall()
    except sqlite3.OperationalError:  # no progress table yet
        return set()
    finally:
        con.close()
    return {r[0] for r in rows}


def install_pack(source: str | Path, *, data_dir: str | Path, db_path: str | Path | None = None) -> InstallResult:
    """Check ``source`` and install it under ``data_dir``; ``PackRefused`` if it is not fit."""
    src = Path(source).resolve()
    manifest, problems = read_manifest(src) if src.is_dir() else (None, [])
    if manifest is None:
        detail = "\n".join(f"  {p}" for p in problems) or f"  {src}: not a folder with a pack.toml"
        raise PackRefused(f"not installed: {src} is not a content pack.\n{detail}")
    target_root = installed_dir(data_dir)
    target_root.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=target_root, prefix=".staging-") as tmp:
        staged = Path(tmp) / manifest.id
        shutil.copytree(src, staged, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        # Check the new pack and every other pack as the box would load them, the new one winning.
        lib_dirs: list[str | Path] = [Path(tmp), target_root, SHIPPED_DIR]
        found: list[str] = [str(p) for p in check_pack(staged, library_dirs=lib_dirs)]
        others = {d.name: d for root in (SHIPPED_DIR, target_root) for d in pack_dirs(root) if d.name != manifest.id}
        for other in others.values():
            found += [f"{p} (after installing {manifest.id})" for p in check_pack(other, library_dirs=lib_dirs)]
        if not found:
            try:  # the loader also refuses ids used in two packs
                load_library([SHIPPED_DIR, target_root, Path(tmp)])
            except ContentError as exc:
                found.append(str(exc))
        if found:
            lines = "\n".join(f"  {p}" for p in found)
            raise PackRefused(f"not installed: pack {manifest.id!r} from {src} has {len(found)} problem(s); "
                              f"nothing on the box was changed. Fix them (run 'werkvloer content check {src}') "
                              f"and install again:\n{lines}")
        new_steps = {p.stem.split(".", 1)[0] for p in (staged / "steps").glob("*.md")} if (staged / "steps").is_dir() else set()

        final = target_root / manifest.id
        replaced = None
        if final.exists():
            old, _ = read_manifest(final)
            replaced = f"installed {old.version}" if old else "installed"
            previous = target_root / ".previous" / manifest.id
            if previous.exists():
                shutil.rmtree(previous)
            previous.parent.mkdir(exist_ok=True)
            os.replace(final, previous)
        elif (SHIPPED_DIR / manifest.id / "pack.toml").is_file():
            old, _ = read_manifest(SHIPPED_DIR / manifest.id)
            replaced = f"shipped {old.version}" if old else "shipped"
        os.replace(staged, final)
    (target_root / STAMP).touch()

    with_progress = _progress_ids(Path(db_path) if db_path else None)
    # Steps of other packs keep their progress anyway; only this pack's old steps can drop out.
    old_steps = {p.stem.split(".", 1)[0] for p in (SHIPPED_DIR / manifest.id / "steps").glob("*.md")}
    if (target_root / ".previous" / manifest.id / "steps").is_dir() and replaced and replaced.startswith("installed"):
        old_steps |= {p.stem.split(".", 1)[0] for p in (target_root / ".previous" / manifest.id / "steps").glob("*.md")}
    return InstallResult(manifest.id, manifest.version, replaced, final,
                         kept=sorted(with_progress & new_steps),
                         dropped=sorted((with_progress & old_steps) - new_steps))
