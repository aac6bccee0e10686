"""The guard: on-device models and rules, millisecond stop outputs (issue 4).

A supplementary stop, not a safety function (not rated under ISO 13849 /
IEC 62061). See ``appliance/guard/README.md``.
"""

from __future__ import annotations

from .engine import Guard
from .ipc import handlers
from .outputs import build_outputs

__all__ = ["Guard", "build_outputs", "handlers"]
