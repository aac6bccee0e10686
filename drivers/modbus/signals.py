"""Config model of one Modbus signal (register, type, word order), shared by
the device config (:mod:`drivers.modbus.config`) and the device profiles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from drivers.schema import SignalBase

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
        last = self.address + self.register_count - 1
        if last > 65535:  # issue 16: a float64 at 65535 passed and the device then gave a short answer
            raise ValueError(f"a {self.type} at address {self.address} takes {self.register_count} registers "
                             f"({self.address}..{last}); the last Modbus address is 65535: use an address <= "
                             f"{65536 - self.register_count}")
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
