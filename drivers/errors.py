"""The drivers' errors, and the root of every error Werkvloer raises on purpose.

As in gpiozero's ``exc.py``: each subclass also inherits the builtin that fits
(``ValueError``, ``ConnectionError``), and its message says what the person
reading it should do next. ``appliance.errors`` re-exports these and adds its
own; ``models`` and ``content`` own their errors (they do not import drivers),
and ``appliance.errors.EXPECTED`` names all roots for ``except`` clauses.
"""

from __future__ import annotations


class WerkvloerError(Exception):
    """Base of every error the drivers and the appliance raise on purpose."""


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
