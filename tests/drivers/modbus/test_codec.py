"""Word/byte orders and types, against hand-computed registers and pymodbus's own converter."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from pymodbus.client.mixin import ModbusClientMixin

from drivers.modbus import codec

ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]


@pytest.mark.parametrize(("order", "regs"), [
    ("ABCD", [0x3FC0, 0x0000]), ("CDAB", [0x0000, 0x3FC0]),
    ("BADC", [0xC03F, 0x0000]), ("DCBA", [0x0000, 0xC03F]),
])
def test_float32_orders_by_hand(order: str, regs: list[int]) -> None:
    # 1.5 = 0x3FC00000
    assert codec.decode(regs, "float32", order) == 1.5
    assert codec.encode(1.5, "float32", order) == regs


@pytest.mark.parametrize(("order", "regs"), [
    ("ABCD", [0x0102, 0x0304]), ("CDAB", [0x0304, 0x0102]),
    ("BADC", [0x0201, 0x0403]), ("DCBA", [0x0403, 0x0201]),
])
def test_uint32_orders_by_hand(order: str, regs: list[int]) -> None:
    assert codec.decode(regs, "uint32", order) == 0x01020304


@pytest.mark.parametrize(("order", "regs"), [
    ("ABCD", [0x0102, 0x0304, 0x0506, 0x0708]), ("CDAB", [0x0708, 0x0506, 0x0304, 0x0102]),
    ("BADC", [0x0201, 0x0403, 0x0605, 0x0807]), ("DCBA", [0x0807, 0x0605, 0x0403, 0x0201]),
])
def test_uint64_orders_by_hand(order: str, regs: list[int]) -> None:
    assert codec.decode(regs, "uint64", order) == 0x0102030405060708


def test_16_bit_types() -> None:
    assert codec.decode([0xFFFE], "int16") == -2
    assert codec.decode([0xFFFE], "uint16") == 65534
    assert codec.decode([0x3412], "uint16", "BADC") == 0x1234
    assert codec.decode([0x3412], "uint16", "CDAB") == 0x3412  # one word: nothing to swap


DT = ModbusClientMixin.DATATYPE


@pytest.mark.parametrize(("type_", "value"), [
    ("int16", -1234), ("uint16", 54321), ("int32", -123456789), ("uint32", 3_000_000_000),
    ("int64", -(2**40) - 5), ("uint64", 2**63 + 7), ("float32", -12.5), ("float64", 1234.5678901),
])
@pytest.mark.parametrize(("order", "pymodbus_order"), [("ABCD", "big"), ("CDAB", "little")])
def test_against_pymodbus_converter(type_: str, value: float, order: str, pymodbus_order: str) -> None:
    regs = ModbusClientMixin.convert_to_registers(value, DT[type_.upper()], word_order=pymodbus_order)
    assert codec.decode(regs, type_, order) == value
    assert codec.encode(value, type_, order) == regs


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_", ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"])
def test_roundtrip_every_type_and_order(type_: str, order: str) -> None:
    rng = random.Random(7)
    for _ in range(50):
        if type_ == "float32":
            value: float = float(np.float32(rng.gauss(0, 1e4)))
        elif type_ == "float64":
            value = rng.gauss(0, 1e9)
        else:
            bits = int(type_.removeprefix("u").removeprefix("int"))
            value = rng.getrandbits(bits) - (0 if type_.startswith("u") else 2 ** (bits - 1))
        assert codec.decode(codec.encode(value, type_, order), type_, order) == value


def test_nan_and_inf_detected() -> None:
    assert not codec.finite(codec.decode([0x7FC0, 0], "float32"))
    assert not codec.finite(codec.decode([0x7F80, 0], "float32"))
    assert codec.finite(codec.decode([0x3FC0, 0], "float32"))


def test_strings() -> None:
    assert codec.decode_string([0x5756, 0x2D34, 0x3200, 0x0000]) == "WV-42"  # "WV-42" NUL padded
    assert codec.decode_string([0x5657, 0x342D, 0x0032], "BADC") == "WV-42"
    assert codec.encode_string("WV-42", 4) == [0x5756, 0x2D34, 0x3200, 0x0000]


@pytest.mark.parametrize("order", ORDERS)
def test_block(order: str) -> None:
    samples = [0.0, 1.234, -1.234, 32.767, -32.768]
    regs = codec.encode_block(123456, samples, 0.001, order)
    assert len(regs) == 2 + len(samples)
    seq, raw = codec.decode_block(regs, order)
    assert seq == 123456
    assert raw.dtype == np.float32
    assert [round(float(x) * 0.001, 3) for x in raw] == samples
    assert math.isclose(float(raw[1]), 1234.0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_", ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"])
def test_decode_is_the_bytes_of_its_registers(type_: str, order: str) -> None:
    """``decode``'s shortcut for the default order gives what unpacking ``registers_to_bytes`` gives (NaN
    patterns included) and refuses what it refuses."""
    import struct

    n = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}.get(type_, 4)
    fmt = ">" + codec._STRUCT[type_]
    rng = random.Random(11)
    for regs in [[rng.getrandbits(16) for _ in range(n)] for _ in range(300)] + [[0xFFFF] * n, [0x7FC0] + [0] * (n - 1)]:
        want = struct.unpack(fmt, codec.registers_to_bytes(regs, order))[0]
        got = codec.decode(regs, type_, order)
        assert got == want or (math.isnan(got) and math.isnan(want))
        assert type(got) is type(want)
    for bad in ([0x10000] + [0] * (n - 1), [0] * (n + 1)):
        with pytest.raises(struct.error):
            codec.decode(bad, type_, order)
