"""The guard: on-device models and rules, millisecond stop outputs (issue 4).

A supplementary stop, not a safety function (not rated under ISO 13849 /
IEC 62061). See ``appliance/guard/README.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.lazy import lazy_getattr

if TYPE_CHECKING:
    from .engine import Guard
    from .ipc import handlers
    from .outputs import build_outputs

__all__ = ["Guard", "build_outputs", "handlers"]

# Lazy: the config schema imports appliance.guard.config, and the ui process
# must not pay for numpy and the engine just to validate a config file.
_LAZY = {"Guard": "engine", "handlers": "ipc", "build_outputs": "outputs"}


__getattr__ = lazy_getattr(__name__, _LAZY)
