"""Config model of a Modbus device (TCP or RTU). Owned by drivers.modbus.

A device may name a profile (``profile = "generic-plc"``): the profile's
signals come first, a config signal with the same name overrides the keys it
sets, and other config signals are added. See ``drivers/modbus/README.md``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from drivers.schema import SignalBase, SignalName, StrictModel

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal[
    "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float32", "float64", "string", "block",
]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]

# Registers per value of the fixed-size types (Modbus registers are 16 bit).
TYPE_REGISTERS: dict[str, int] = {
    "bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "int64": 4,
    "uint64": 4, "float32": 2, "float64": 4,
}
# Modbus application protocol v1.1b3, 6.1-6.4: at most 2000 coils/discrete
# inputs and 125 registers per read request.
MAX_READ_BITS = 2000
MAX_READ_REGISTERS = 125


class ModbusSignal(SignalBase):
    table: Table = Field("holding", title="Register table")
    address: int = Field(..., title="Register/coil address (0-based)", ge=0, le=65535)
    type: DataType = Field(
        "uint16", title="Data type",
        description="block = vibration block: uint32 sequence number in 2 registers, then `length` int16 samples")
    bit: int | None = Field(None, title="Bit in register (bool in a holding/input register)", ge=0, le=15)
    length: int | None = Field(None, title="Length in registers (string) or samples (block)", ge=1, le=120)
    word_order: WordOrder = Field(
        "ABCD", title="Word and byte order",
        description="ABCD = big-endian words and bytes; CDAB = words swapped; BADC = bytes swapped; DCBA = little-endian")
    poll_interval_ms: int | None = Field(
        None, title="Poll interval",
        description="ms; defaults to the device's. Below 5 (1, or 0 = back to back) only for a signal a guard rule "
                    "watches: the guard reads it on its own connection (guard.fast_path)", ge=0, le=3_600_000)
    sample_rate_hz: float | None = Field(None, title="Underlying sample rate of a block", gt=0, le=100_000)

    @model_validator(mode="after")
    def _type_fits_table(self) -> ModbusSignal:
        if self.table in ("coil", "discrete"):
            if self.type != "bool":
                raise ValueError(f"table {self.table!r} holds single bits: use type 'bool' (got {self.type!r})")
            if self.bit is not None:
                raise ValueError(f"'bit' is for a bool inside a register; table {self.table!r} is already bits")
        if self.bit is not None and self.type != "bool":
            raise ValueError(f"'bit' only applies to type 'bool' (got type {self.type!r})")
        if self.table in ("holding", "input") and self.type == "bool" and self.bit is None:
            raise ValueError("a bool in a register needs 'bit' (0 = least significant), or use table 'coil'/'discrete'")
        if self.type in ("string", "block") and self.length is None:
            raise ValueError(f"type {self.type!r} needs 'length' ({'registers' if self.type == 'string' else 'samples'})")
        if self.type not in ("string", "block") and self.length is not None:
            raise ValueError(f"'length' only applies to types 'string' and 'block' (got type {self.type!r})")
        return self

    @property
    def register_count(self) -> int:
        """Registers (or bits, for coil/discrete) the signal occupies."""
        if self.table in ("coil", "discrete"):
            return 1
        if self.type == "string":
            return int(self.length or 1)
        if self.type == "block":
            return 2 + int(self.length or 1)
        return TYPE_REGISTERS[self.type]


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


class ModbusOutputSettings(Protocol):
    """What a Modbus stop output reads from its config (the guard's
    ``GuardOutput`` with ``kind = "modbus"`` has these fields)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int: ...

    @property
    def unit_id(self) -> int: ...

    @property
    def table(self) -> Literal["coil", "holding"]: ...

    @property
    def address(self) -> int | None: ...

    @property
    def value(self) -> float: ...

    @property
    def timeout_ms(self) -> float: ...

