"""One error hierarchy. Each subclass also inherits the builtin that fits, and
its message says what the person reading it should do next.

The leaf packages own their errors: ``drivers.errors`` holds the root
``WerkvloerError`` with ``ConfigError`` and the device errors, ``models`` and
``content`` their own (they import neither ``drivers`` nor ``appliance``).
This module re-exports them all, so the rest of the box imports errors from
one place, and names them together in :data:`EXPECTED`.
"""

from __future__ import annotations

from content.errors import ContentError
from drivers.errors import ConfigError, DeviceError, DeviceUnavailable, WerkvloerError
from models.errors import ModelError

__all__ = ["EXPECTED", "ConfigError", "ContentError", "DeviceError", "DeviceUnavailable",
           "ModelError", "PermissionDenied", "StorageError", "WerkvloerError"]


class StorageError(WerkvloerError, OSError):
    """The local database could not be written or read."""


class PermissionDenied(WerkvloerError, PermissionError):
    """The role of the caller may not do this."""


#: Every error Werkvloer raises on purpose, for ``except EXPECTED:`` where a
#: person gets the message instead of a traceback.
EXPECTED: tuple[type[Exception], ...] = (WerkvloerError, ModelError, ContentError)
