"""Config: every problem names its key path; valid files print a summary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appliance.config import load_config, parse_config
from appliance.config_doc import BEGIN, END, reference_markdown
from appliance.errors import ConfigError
from tests.conftest import PY, ROOT


def problems(data: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return dict(exc.value.problems)


def test_typo_names_the_key_path() -> None:
    p = problems({"storage": {"batch_intervall_s": 1}})
    assert "storage.batch_intervall_s" in p
    assert "unknown key" in p["storage.batch_intervall_s"]


def test_wrong_type_names_the_key_path() -> None:
    p = problems({"ui": {"port": "achtduizend"}})
    assert "ui.port" in p and "integer" in p["ui.port"]


def test_out_of_range_names_the_bound() -> None:
    p = problems({"sources": {"modbus": [{"name": "plc", "port": 70000}]}})
    assert "sources.modbus[0].port" in p
    assert "65535" in p["sources.modbus[0].port"]


def test_duplicate_signal_name() -> None:
    sig = {"name": "spindle_speed", "address": 4, "type": "float32"}
    p = problems({"sources": {"modbus": [
        {"name": "plc", "signals": [sig]},
        {"name": "plc2", "port": 503, "signals": [dict(sig, address=8)]}]}})
    assert "sources.modbus[1].signals[0].name" in p
    assert "duplicate signal name 'spindle_speed'" in p["sources.modbus[1].signals[0].name"]


def test_model_pointing_at_missing_signal() -> None:
    p = problems({
        "sources": {"modbus": [{"name": "plc", "signals": [{"name": "motor_current", "address": 6, "type": "float32"}]}]},
        "guard": {"models": [{"name": "trilling", "model": "vibration-anomaly", "inputs": ["vibratie", "motor_current"]}]},
    })
    assert "guard.models[0].inputs" in p
    assert "unknown signal 'vibratie'" in p["guard.models[0].inputs"]
    assert "motor_current" in p["guard.models[0].inputs"]  # lists what exists


def test_guard_outputs_are_the_drivers_configs_chosen_by_kind() -> None:
    from drivers.gpio.config import GpioOutputConfig
    from drivers.modbus.config import ModbusOutputConfig
    from drivers.opcua.config import OpcuaOutputConfig

    cfg = parse_config({"guard": {"outputs": [
        {"name": "relais", "kind": "gpio", "pin": 17},
        {"name": "spoel", "kind": "modbus", "host": "192.0.2.10", "address": 5},
        {"name": "knoop", "kind": "opcua", "url": "opc.tcp://192.0.2.20:4840", "node_id": "ns=2;s=Stop"}]}})
    assert [type(o) for o in cfg.guard.outputs] == [GpioOutputConfig, ModbusOutputConfig, OpcuaOutputConfig]


def test_guard_output_problems_name_the_key_path() -> None:
    p = problems({"guard": {"outputs": [
        {"name": "a", "kind": "gpio"},
        {"name": "b", "kind": "relay", "pin": 1},
        {"name": "c", "pin": 1},
        {"name": "d", "kind": "gpio", "pin": 17, "host": "192.0.2.10"},
        {"name": "e", "kind": "modbus", "host": "192.0.2.10"}]}})
    assert p == {
        "guard.outputs[0]": "output kind 'gpio' needs pin",
        "guard.outputs[1].kind": "Input should be 'gpio', 'modbus' or 'opcua' (got 'relay')",
        "guard.outputs[2].kind": "required key is missing",
        "guard.outputs[3].host": "unknown key (check the spelling; see the config reference in the README)",
        "guard.outputs[4]": "output kind 'modbus' needs address",
    }


def test_all_problems_reported_at_once() -> None:
    p = problems({"box": {"timezone": "Europe/Amsterdan", "language": "de"}, "ui": {"port": 0}})
    assert {"box.timezone", "box.language", "ui.port"} <= set(p)


def test_unknown_timezone_says_what_to_use() -> None:
    assert "IANA" in problems({"box": {"timezone": "CET+1"}})["box.timezone"]


def test_guard_defaults_to_shadow() -> None:
    assert parse_config({}).guard.mode == "shadow"


def test_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[box\nname = 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert "(syntax)" in str(exc.value)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.toml")
    assert "does not exist" in str(exc.value)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(path: Path, cli_env: dict[str, str]) -> None:
    out = subprocess.run([PY, "-m", "appliance.cli", "check-config", str(path)],
                         capture_output=True, text=True, env=cli_env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "Sources:" in out.stdout and "Guard: mode shadow" in out.stdout


def test_check_config_cli_lists_problems_without_traceback(tmp_path: Path, cli_env: dict[str, str]) -> None:
    f = tmp_path / "typo.toml"
    f.write_text('[box]\nnaam = "x"\n[ui]\nport = -1\n[guard]\nmode = "armd"\n')
    out = subprocess.run([PY, "-m", "appliance.cli", "check-config", str(f)],
                         capture_output=True, text=True, env=cli_env, cwd=ROOT)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    for path in ("box.naam", "ui.port", "guard.mode"):
        assert path in out.stderr


def test_readme_config_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, "README lacks the generated config reference"
    current = readme[readme.index(BEGIN): readme.index(END) + len(END)]
    assert current == reference_markdown(), "run: werkvloer config-reference, and paste it into README.md"
