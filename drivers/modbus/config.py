"""Config model of a Modbus device (TCP or RTU). Owned by drivers.modbus."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from appliance.schema import SignalBase, SignalName, StrictModel


class ModbusSignal(SignalBase):
    table: Literal["holding", "input", "coil", "discrete"] = Field(
        "holding", title="Register table")
    address: int = Field(..., title="Register/coil address (0-based)", ge=0, le=65535)
    type: Literal[
        "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "float32", "float64", "string", "block",
    ] = Field("uint16", title="Data type", description="block = vibration block: uint32 sequence + int16 samples")
    bit: int | None = Field(None, title="Bit in register (bool in a holding/input register)", ge=0, le=15)
    length: int | None = Field(None, title="Length in registers (string) or samples (block)", ge=1, le=120)
    word_order: Literal["ABCD", "CDAB", "BADC", "DCBA"] = Field(
        "ABCD", title="Word and byte order", description="ABCD = big-endian words, big-endian bytes")
    poll_interval_ms: int | None = Field(
        None, title="Poll interval", description="ms; defaults to the device's", ge=5, le=3_600_000)
    sample_rate_hz: float | None = Field(None, title="Underlying sample rate of a block", gt=0, le=100_000)


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
    profile: str | None = Field(None, title="Device profile", description="name of a shipped profile or a path to one")
    signals: list[ModbusSignal] = Field(default_factory=list, title="Signals")

    @model_validator(mode="after")
    def _transport_fields(self) -> ModbusDevice:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport 'rtu' needs serial_port (e.g. /dev/ttyUSB0)")
        return self
