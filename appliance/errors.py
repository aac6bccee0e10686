"""One error hierarchy. Each subclass also inherits the builtin that fits, and
its message says what the person reading it should do next."""

from __future__ import annotations


class WerkvloerError(Exception):
    """Base of every error Werkvloer raises on purpose."""


class ConfigError(WerkvloerError, ValueError):
    """The configuration is invalid. ``problems`` lists (key path, message)."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = [f"{source}: {len(problems)} problem(s):"]
        lines += [f"  {path}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class DeviceError(WerkvloerError, ConnectionError):
    """A device (PLC, sensor, camera) could not be reached or answered badly."""


class DeviceUnavailable(DeviceError):
    """The device does not answer; check cable, power and address."""


class StorageError(WerkvloerError, OSError):
    """The local database could not be written or read."""


class ModelError(WerkvloerError, ValueError):
    """A model file or manifest is invalid."""


class ContentError(WerkvloerError, ValueError):
    """A content pack is invalid."""


class PermissionDenied(WerkvloerError, PermissionError):
    """The role of the caller may not do this."""
