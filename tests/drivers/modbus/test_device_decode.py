"""A device's answer to samples: the shortcut for plain integer registers publishes exactly what the
general decoding (type dispatch, conversion, range checks) publishes, on a real bus."""

from __future__ import annotations

import random

from appliance.bus import Bus
from drivers.base import SourceHealth
from drivers.modbus.config import ModbusDevice
from drivers.modbus.device import DeviceState
from drivers.samples import Quality

SIGNALS = [
    {"name": "count16", "address": 0},  # uint16, no unit: the shortcut
    {"name": "level", "address": 1, "type": "int16"},
    {"name": "parts", "address": 2, "type": "uint32", "unit": "pcs"},
    {"name": "energy", "address": 4, "type": "int64", "word_order": "CDAB"},
    {"name": "speed", "address": 8, "type": "int16", "unit": "rpm"},  # a unit with a range: general path
    {"name": "temp", "address": 9, "type": "int16", "scale": 0.1, "unit": "degC"},
    {"name": "limited", "address": 10, "max_value": 100},
    {"name": "flow", "address": 11, "type": "float32"},
    {"name": "flag", "address": 13, "type": "bool", "bit": 3},
]


def _device(general_only: bool) -> tuple[DeviceState, list]:
    cfg = ModbusDevice.model_validate({"name": "plc", "port": 1502, "signals": SIGNALS})
    bus = Bus()
    got: list = []
    bus.subscribe_fast(got.append)
    dev = DeviceState(cfg, bus, SourceHealth(name="plc", kind="modbus"))
    assert len(dev.reads) == 1
    if general_only:
        dev._slots(dev.reads[0])
        dev.reads[0].slots = [(st, lo, hi, False) for st, lo, hi, _ in dev.reads[0].slots]
    return dev, got


def test_plain_integer_shortcut_publishes_what_the_general_path_publishes() -> None:
    fast, fast_got = _device(False)
    general, general_got = _device(True)
    assert sorted(st.signal.name for st, *_, plain in fast._slots(fast.reads[0]) if plain) == [
        "count16", "energy", "level", "parts"]
    rng = random.Random(3)
    for i in range(300):
        regs = [rng.getrandbits(16) for _ in range(14)]
        if i % 7 == 0:
            regs[10] = 50  # limited: good now and then
        for dev in (fast, general):
            dev.handle_values(dev.reads[0], regs, 1_000 + i, 2_000 + i)
    assert len(fast_got) == len(general_got) == 300 * len(SIGNALS)
    for a, b in zip(fast_got, general_got, strict=True):
        same_nan = isinstance(a.value, float) and a.value != a.value and b.value != b.value
        assert (a.signal, a.quality, a.mono_ns, a.utc_ns, type(a.value)) == (b.signal, b.quality, b.mono_ns,
                                                                                b.utc_ns, type(b.value))
        assert a.value == b.value or same_nan
    assert {s.quality for s in fast_got if s.signal == "limited"} == {Quality.GOOD, Quality.BAD}
    assert {s.signal: s.value for s in fast_got[-len(SIGNALS):]} == {s.signal: s.value for s in general_got[-len(SIGNALS):]}
    assert fast.signals["count16"].last_quality is Quality.GOOD and fast.signals["count16"].last_value == regs[0]
    for name, st in fast.signals.items():
        other = general.signals[name]
        assert (st.last_mono, st.last_quality) == (other.last_mono, other.last_quality)
        assert st.last_value == other.last_value or st.last_value != st.last_value


def test_a_bad_spell_of_a_plain_signal_ends_with_its_next_good_answer(caplog) -> None:
    dev, got = _device(False)
    dev.handle_values(dev.reads[0], [7], 1, 2)  # only count16 answered: the rest cannot be decoded
    assert dev.complaints.reason("level") is not None and dev.complaints.any_bad
    with caplog.at_level("INFO", logger="drivers.modbus.source"):
        dev.handle_values(dev.reads[0], [7] * 14, 3, 4)
    assert dev.complaints.reason("level") is None and got[-len(SIGNALS) + 1].quality is Quality.GOOD
    assert any("signal level is good again" in r.getMessage() for r in caplog.records)


def test_a_short_answer_costs_only_the_signals_it_misses() -> None:
    dev, got = _device(False)
    dev.handle_values(dev.reads[0], [7, 65535, 0, 12], 1, 2)  # 4 of 14 registers
    by = {s.signal: s for s in got}
    assert (by["count16"].value, by["level"].value, by["parts"].value) == (7, -1, 12)
    assert by["energy"].quality is Quality.BAD and by["energy"].value is None
