"""Modbus TCP and RTU: polling sources, stop outputs, device profiles and the
simulator's Modbus server. The only package that imports pymodbus.

Importing ``drivers.modbus`` (done by the config schema) stays cheap: the
pymodbus-backed classes load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.lazy import lazy_getattr

if TYPE_CHECKING:
    from .output import ModbusStopOutput
    from .simserver import ModbusSimServer
    from .source import ModbusSource

__all__ = ["ModbusSimServer", "ModbusSource", "ModbusStopOutput"]

_LAZY = {"ModbusSource": "source", "ModbusStopOutput": "output", "ModbusSimServer": "simserver"}


__getattr__ = lazy_getattr(__name__, _LAZY)
