"""Config model of a Modbus device (TCP or RTU). Owned by drivers.modbus.

A device may name a profile (``profile = "generic-plc"``): the profile's
signals come first, a config signal with the same name overrides the keys it
sets, and other config signals are added. See ``drivers/modbus/README.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from drivers.schema import OutputBase, SignalName, StrictModel

# The signal model lives in .signals, which the device profiles import too.
from .signals import (
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    TYPE_REGISTERS,
    DataType,
    ModbusSignal,
    Table,
    WordOrder,
)

__all__ = ["MAX_READ_BITS", "MAX_READ_REGISTERS", "TYPE_REGISTERS", "DataType", "ModbusDevice",
           "ModbusOutputConfig", "ModbusSignal", "Table", "WordOrder"]


class ModbusDevice(StrictModel):
    name: SignalName = Field(..., title="Device name")
    transport: Literal["tcp", "rtu"] = Field("tcp", title="Transport")
    host: str = Field("127.0.0.1", title="Host (TCP)")
    port: int = Field(502, title="TCP port", ge=1, le=65535)
    serial_port: str | None = Field(None, title="Serial device (RTU), e.g. /dev/ttyUSB0")
    baudrate: int = Field(19200, title="Baud rate (RTU)", ge=1200, le=921600)
    parity: Literal["N", "E", "O"] = Field("E", title="Parity (RTU)")
    stopbits: Literal[1, 2] = Field(1, title="Stop bits (RTU)")
    unit_id: int = Field(1, title="Unit id (device id)", ge=0, le=247)
    timeout_s: float = Field(0.5, title="Response timeout", description="s", gt=0, le=30)
    poll_interval_ms: int = Field(100, title="Default poll interval", description="ms", ge=5, le=3_600_000)
    max_gap: int = Field(8, title="Largest gap merged into one block read", description="registers", ge=0, le=100)
    backoff_min_s: float = Field(
        0.5, title="First retry delay after a failure",
        description="s; doubles per failure up to backoff_max_s", gt=0, le=60)
    backoff_max_s: float = Field(30.0, title="Longest retry delay", description="s", gt=0, le=3600)
    profile: str | None = Field(
        None, title="Device profile",
        description="name of a shipped profile (drivers/modbus/profiles/*.toml) or a path to a .toml file")
    signal_prefix: str = Field(
        "", title="Prefix for profile signal names",
        description="e.g. 'meter2_' when two devices share a profile", pattern=r"^([a-z][a-z0-9_]{0,30})?$")
    signals: list[ModbusSignal] = Field(default_factory=list, title="Signals")

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("profile"):
            return data
        from drivers.modbus.profiles import merge_profile

        return merge_profile(data)

    @model_validator(mode="after")
    def _transport_fields(self) -> ModbusDevice:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport 'rtu' needs serial_port (e.g. /dev/ttyUSB0)")
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError(f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_min_s ({self.backoff_min_s})")
        seen: set[str] = set()
        for sig in self.signals:
            if sig.name in seen:
                raise ValueError(f"signal {sig.name!r} is defined twice in device {self.name!r}")
            seen.add(sig.name)
        return self


class ModbusOutputConfig(OutputBase):
    """A stop coil or holding register on its own Modbus TCP connection (``guard.outputs``
    entry with ``kind = "modbus"``)."""

    NEEDS = ("host", "address")

    kind: Literal["modbus"] = Field(..., title="Output kind")
    host: str | None = Field(None, title="Host (modbus)")
    port: int = Field(502, title="Port (modbus)", ge=1, le=65535)
    unit_id: int = Field(1, title="Unit id (modbus)", ge=0, le=247)
    table: Literal["coil", "holding"] = Field("coil", title="Table (modbus)")
    address: int | None = Field(None, title="Address (modbus)", ge=0, le=65535)

