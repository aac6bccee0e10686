"""``check-config`` checks that need the machine, not only the file (issue 16).

The config model checks each key on its own; these look outside it: is the
data directory writable (or can it be made), and does every guard model name
a model the box has (shipped, or installed in the registry). Each problem is
a (key path, message) pair, as in ``ConfigError``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from models.manifest import SHIPPED_DIR

from .errors import ConfigError


def data_dir_problems(data_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    d = Path(data_dir)
    if d.is_dir():
        if os.access(d, os.W_OK | os.X_OK):
            return []
        return [("box.data_dir", f"{d} is not writable for this user (uid {os.getuid()}); give the service user "
                                 "write access or choose another directory")]
    if d.exists():
        return [("box.data_dir", f"{d} exists but is not a directory")]
    parent = d.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK) and not str(parent).startswith(("/proc", "/sys")):
        return []  # the core creates it
    return [("box.data_dir", f"{d} does not exist and cannot be created ({parent} is not writable); create it "
                             "for the service user or choose another directory")]


def known_model_ids(db_path: Path | None = None) -> set[str]:
    """Shipped model ids, plus those installed in the box's registry (read-only; none if no database yet)."""
    ids = {p.name for p in SHIPPED_DIR.iterdir() if p.is_dir()} if SHIPPED_DIR.is_dir() else set()
    if db_path is not None and db_path.is_file():
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
                ids |= {r[0] for r in conn.execute("SELECT DISTINCT model_id FROM model_versions")}
        except sqlite3.Error:
            pass  # no registry table yet
    return ids


def model_problems(cfg: Any) -> list[tuple[str, str]]:
    known = known_model_ids(cfg.db_path)
    return [(f"guard.models[{i}].model",
             f"unknown model id {m.model!r}; known: {', '.join(sorted(known)) or 'none'} "
             "(install one with `werkvloer model install`)")
            for i, m in enumerate(cfg.guard.models) if m.model not in known]


def _needs_running(model_id: str, db_path: Path | None) -> bool:
    """Whether a manifest of ``model_id`` (shipped, or installed in the registry) says it scores only
    a machine at work (``scores_only_while_running``)."""
    texts: list[str] = []
    shipped = SHIPPED_DIR / model_id / "manifest.json"
    if shipped.is_file():
        texts.append(shipped.read_text(encoding="utf-8"))
    if db_path is not None and db_path.is_file():
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
                texts += [r[0] for r in conn.execute("SELECT manifest FROM model_versions WHERE model_id = ?",
                                                     [model_id])]
        except sqlite3.Error:
            pass  # no registry table yet
    for text in texts:
        try:
            if json.loads(text).get("scores_only_while_running") is True:
                return True
        except (ValueError, AttributeError):
            continue  # a broken manifest is refused when the guard loads it
    return False


def model_warnings(cfg: Any) -> list[str]:
    """One line per guard model that needs a gate and names none: the key path and what to set.

    ``warning:`` when the model will score a machine at rest and spinning up (no machine.running_signal
    to fall back on); ``note:`` when the guard gates it on machine.running_signal by default."""
    out = []
    running = getattr(cfg.machine, "running_signal", None)
    for i, m in enumerate(cfg.guard.models):
        if m.while_signal is not None or not _needs_running(m.model, cfg.db_path):
            continue
        key = f"guard.models[{i}].while_signal"
        if running:
            out.append(f'note: {key}: not set; model {m.model} scores only a machine at work, so the guard gates '
                       f'it on machine.running_signal "{running}" (set while_signal to choose another signal, '
                       '"" to score always)')
        else:
            out.append(f"warning: {key}: not set, but model {m.model} scores only a machine at work and "
                       'false-alarms at every start; set while_signal = "<the signal that is true while the '
                       'machine runs>" (or machine.running_signal), and settle_s to the spin-up time')
    return out


def check_machine(cfg: Any, *, source: str = "config") -> None:
    """Raise ConfigError with every problem found (nothing when all is well)."""
    problems = data_dir_problems(cfg.box.data_dir) + model_problems(cfg)
    if problems:
        raise ConfigError(problems, source=source)
