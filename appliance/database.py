"""The whole box database: every area's migration set, in one list.

Only the processes and tools that compose the box import this (the core
daemon, the ui, sync, ``werkvloer provision/model/simulate history``); a part
opens the database with :func:`appliance.storage.open_db` and the sets of its
own tables, so no part imports another through the schema (ARCHITECTURE.md).
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from content.progress import migrations as content_progress

from . import pins
from .alerts import migrations as alerts
from .guard.store import migrations as guard
from .kpi.schema import migrations as kpi
from .models.store import migrations as models
from .storage import core, open_db

#: In the order they are applied (core first).
BOX_MIGRATIONS: tuple[Migrations, ...] = (core, alerts, kpi, guard, content_progress, models, pins.migrations)


def open_box_db(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (and create/migrate) the box database with every area's tables."""
    return open_db(path, migrate=migrate, sets=BOX_MIGRATIONS[1:])
