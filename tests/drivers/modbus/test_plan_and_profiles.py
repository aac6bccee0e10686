"""Block planning and device profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import parse_config
from appliance.errors import ConfigError
from drivers.modbus.config import ModbusDevice
from drivers.modbus.plan import plan_reads
from drivers.modbus.profiles import available_profiles, load_profile
from models.training.machine import MachineSim


def device(signals: list[dict], **kw: object) -> ModbusDevice:
    return ModbusDevice.model_validate({"name": "plc", "signals": signals, **kw})


def spans(dev: ModbusDevice) -> list[tuple[str, int, int, int]]:
    return sorted((r.table, r.start, r.count, r.interval_ms) for r in plan_reads(dev))


def test_neighbours_merge_within_max_gap() -> None:
    dev = device([
        {"name": "a", "address": 0}, {"name": "b", "address": 1, "type": "float32"},
        {"name": "c", "address": 11}, {"name": "d", "address": 21},
    ], max_gap=8)
    # a..b (0-2), gap 8 to c (11) merges; gap 9 to d (21) does not.
    assert spans(dev) == [("holding", 0, 12, 100), ("holding", 21, 1, 100)]


def test_register_limit_of_125() -> None:
    dev = device([{"name": "a", "address": 0}, {"name": "b", "address": 100, "type": "float32"},
                  {"name": "c", "address": 123, "type": "float32"}, {"name": "d", "address": 124, "type": "float32"}],
                 max_gap=100)
    # a..c spans 0-124 (125 registers); d would make it 126.
    assert spans(dev) == [("holding", 0, 125, 100), ("holding", 124, 2, 100)]


def test_coil_limit_of_2000() -> None:
    sigs = [{"name": f"c{i}", "table": "coil", "address": i * 50, "type": "bool"} for i in range(60)]
    reads = plan_reads(device(sigs, max_gap=100))
    assert [(r.start, r.count) for r in reads] == [(0, 1951), (2000, 951)]
    assert sum(len(r.signals) for r in reads) == 60


def test_tables_and_intervals_are_read_separately() -> None:
    dev = device([
        {"name": "a", "address": 0}, {"name": "b", "address": 1, "poll_interval_ms": 1000},
        {"name": "c", "address": 2, "table": "input"},
        {"name": "d", "address": 0, "type": "bool", "bit": 0}, {"name": "e", "address": 0, "type": "bool", "bit": 5},
    ])
    assert spans(dev) == [("holding", 0, 1, 100), ("holding", 1, 1, 1000), ("input", 2, 1, 100)]
    assert sorted(s.name for s in plan_reads(dev)[0].signals) == ["a", "d", "e"]


def test_split_reads_one_signal_each() -> None:
    read = plan_reads(device([{"name": "a", "address": 0}, {"name": "b", "address": 4, "type": "int32"}]))[0]
    assert [(r.start, r.count, [s.name for s in r.signals]) for r in read.split()] == [(0, 1, ["a"]), (4, 2, ["b"])]


@pytest.mark.parametrize(("signal", "message"), [
    ({"name": "x", "address": 0, "type": "bool"}, "needs 'bit'"),
    ({"name": "x", "address": 0, "table": "coil", "type": "uint16"}, "use type 'bool'"),
    ({"name": "x", "address": 0, "type": "string"}, "needs 'length'"),
    ({"name": "x", "address": 0, "type": "int32", "bit": 3}, "only applies to type 'bool'"),
])
def test_signal_errors_say_what_to_do(signal: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"modbus": [{"name": "plc", "signals": [signal]}]}})
    assert err.value.problems[0][0] == "sources.modbus[0].signals[0]"
    assert message in err.value.problems[0][1]


def test_shipped_profiles_load() -> None:
    assert {"generic-plc", "eastron-sdm630", "siemens-s7-1200"} <= set(available_profiles())
    for name in available_profiles():
        prof = load_profile(name)
        assert prof.signals and prof.profile.source
        dev = device([], profile=name)
        assert len(dev.signals) == len(prof.signals)
        assert all(r.count <= 125 for r in plan_reads(dev))


def test_generic_plc_exposes_what_the_simulator_computes() -> None:
    prof = load_profile("generic-plc")
    assert {s.name for s in prof.signals} == set(MachineSim().values()) | {"vibration"}
    assert (prof.writes["stop"].table, prof.writes["heartbeat"].table) == ("coil", "holding")


def test_eastron_profile_reads_input_registers_as_float32() -> None:
    dev = device([], profile="eastron-sdm630", transport="rtu", serial_port="/dev/ttyUSB0")
    assert (dev.baudrate, dev.parity, dev.poll_interval_ms) == (9600, "N", 1000)
    assert {s.table for s in dev.signals} == {"input"} and {s.type for s in dev.signals} == {"float32"}
    assert next(s for s in dev.signals if s.name == "energy_total_kwh").address == 342  # 30343


def test_config_overrides_and_adds_and_keeps_explicit_keys() -> None:
    dev = device([{"name": "temperature", "max_value": 90}, {"name": "oil_pressure", "address": 40, "unit": "bar"}],
                 profile="generic-plc", poll_interval_ms=250, port=5020)
    temp = next(s for s in dev.signals if s.name == "temperature")
    assert (temp.address, temp.type, temp.max_value) == (8, "float32", 90)
    assert dev.signals[-1].name == "oil_pressure"
    assert (dev.poll_interval_ms, dev.port) == (250, 5020)  # config wins over profile defaults


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"modbus": [{"name": "plc", "profile": "generic-plx"}]}})
    path, msg = err.value.problems[0]
    assert path == "sources.modbus[0]"
    assert "unknown profile 'generic-plx'" in msg and "generic-plc" in msg and "eastron-sdm630" in msg


def test_two_meters_with_one_profile_need_a_prefix() -> None:
    meter = {"transport": "rtu", "serial_port": "/dev/ttyUSB0", "profile": "eastron-sdm630"}
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"modbus": [{"name": "m1", **meter}, {"name": "m2", "unit_id": 2, **meter}]}})
    assert "duplicate signal name 'voltage_l1'" in str(err.value)
    cfg = parse_config({"sources": {"modbus": [
        {"name": "m1", **meter}, {"name": "m2", "unit_id": 2, "signal_prefix": "press_", **meter}]}})
    assert "press_voltage_l1" in cfg.signal_names and "voltage_l1" in cfg.signal_names


def test_profile_from_a_path_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "press.toml"
    good.write_text('[profile]\ntitle = "Press"\nsource = "our PLC program v3"\n'
                    '[[signals]]\nname = "ram_force"\naddress = 10\ntype = "float32"\nunit = "kN"\n')
    dev = device([], profile=str(good))
    assert [s.name for s in dev.signals] == ["ram_force"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[profile]\ntitle = "Bad"\nsource = "x"\n[[signals]]\nname = "f"\naddress = 1\ntype = "float33"\n')
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"modbus": [{"name": "plc", "profile": str(bad)}]}})
    assert str(bad) in str(err.value) and "signals.0.type" in str(err.value)
