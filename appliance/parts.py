"""Wiring of the optional parts (alerts, KPI engine, guard) into the core.

Kept apart from ``daemon.py`` so each area's start/stop lives in one place.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .daemon import Core

log = logging.getLogger(__name__)


async def start_all(core: Core, stack: AsyncExitStack) -> None:
    """Start every part whose package exists, in dependency order."""
    # Filled in as the alerts, KPI and guard packages land.
    return None
