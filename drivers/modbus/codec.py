"""Registers <-> values, for every type and word/byte order.

Word and byte order, named by where the bytes A (most significant) .. D of a
32-bit value end up (the names Modbus tools such as Kepware and mbpoll use):

======  ==================  ==========================================
ABCD    [AB, CD]            big-endian (the Modbus default, Eastron)
CDAB    [CD, AB]            words swapped (many PLCs, Schneider)
BADC    [BA, DC]            bytes swapped within each word
DCBA    [DC, BA]            little-endian
======  ==================  ==========================================

The same rule extends to 64-bit values (words reversed for CDAB/DCBA, bytes
swapped within words for BADC/DCBA) and to 16-bit values (bytes swapped for
BADC/DCBA). Strings are bytes in register order, swapped within each register
for BADC/DCBA, and end at the first NUL.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

_STRUCT = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
    "uint64": "Q", "float32": "f", "float64": "d",
}


def _swaps(word_order: str) -> tuple[bool, bool]:
    """(swap words, swap bytes within words)."""
    return word_order in ("CDAB", "DCBA"), word_order in ("BADC", "DCBA")


def registers_to_bytes(registers: Sequence[int], word_order: str = "ABCD") -> bytes:
    """The value's bytes, most significant first, from registers in ``word_order``."""
    swap_words, swap_bytes = _swaps(word_order)
    regs = list(registers)[::-1] if swap_words else list(registers)
    raw = struct.pack(f">{len(regs)}H", *regs)
    if swap_bytes:
        raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
    return raw


def bytes_to_registers(raw: bytes, word_order: str = "ABCD") -> list[int]:
    """Inverse of :func:`registers_to_bytes` (``raw`` has an even length)."""
    swap_words, swap_bytes = _swaps(word_order)
    if swap_bytes:
        raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
    regs = list(struct.unpack(f">{len(raw) // 2}H", raw))
    return regs[::-1] if swap_words else regs


_UNPACK = {t: struct.Struct(f">{c}").unpack for t, c in _STRUCT.items()}
_PACK = {n: struct.Struct(f">{n}H").pack for n in (1, 2, 4)}


def decode(registers: Sequence[int], type_: str, word_order: str = "ABCD") -> int | float:
    """A number of ``type_`` from its registers."""
    if word_order == "ABCD" and (pack := _PACK.get(len(registers))) is not None:
        return _UNPACK[type_](pack(*registers))[0]  # the same bytes as below, without the per-call formats
    return struct.unpack(f">{_STRUCT[type_]}", registers_to_bytes(registers, word_order))[0]


def encode(value: int | float, type_: str, word_order: str = "ABCD") -> list[int]:
    """Registers holding ``value`` as ``type_`` in ``word_order``."""
    if type_ not in ("float32", "float64"):
        value = int(value)
    return bytes_to_registers(struct.pack(f">{_STRUCT[type_]}", value), word_order)


def decode_string(registers: Sequence[int], word_order: str = "ABCD") -> str:
    _, swap_bytes = _swaps(word_order)
    raw = struct.pack(f">{len(registers)}H", *registers)
    if swap_bytes:
        raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").rstrip(" ")


def encode_string(text: str, length: int, word_order: str = "ABCD") -> list[int]:
    raw = text.encode("utf-8")[: 2 * length].ljust(2 * length, b"\0")
    _, swap_bytes = _swaps(word_order)
    if swap_bytes:
        raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
    return list(struct.unpack(f">{length}H", raw))


def decode_block(registers: Sequence[int], word_order: str = "ABCD") -> tuple[int, np.ndarray]:
    """(sequence number of the first sample, raw int16 samples as float32)."""
    seq = int(decode(registers[:2], "uint32", word_order))
    samples = np.asarray(registers[2:], dtype=np.uint16)
    if _swaps(word_order)[1]:
        samples = samples.byteswap()
    return seq, samples.view(np.int16).astype(np.float32)


def encode_block(seq: int, samples: Sequence[float], scale: float, word_order: str = "ABCD") -> list[int]:
    """Registers for a vibration block: uint32 ``seq`` then int16 ``samples / scale``."""
    raw = np.clip(np.round(np.asarray(samples, dtype=np.float64) / scale), -32768, 32767).astype(np.int16)
    regs = raw.view(np.uint16)
    if _swaps(word_order)[1]:
        regs = regs.byteswap()
    return encode(seq & 0xFFFFFFFF, "uint32", word_order) + [int(r) for r in regs]


def finite(value: float) -> bool:
    return not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
