"""Replacing files and links so that a power cut leaves the old or the new one:
a temporary name, ``os.replace``, then an fsync of the folder (the rename is
only durable once the directory entry is on disk). Used by provisioning and
the offline update."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the renames in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_symlink(link: Path, target: Path, *, tmp_suffix: str = ".tmp") -> None:
    """Point ``link`` at ``target`` with one rename (a new link under ``link`` + ``tmp_suffix`` first)."""
    tmp = link.with_name(link.name + tmp_suffix)
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)
