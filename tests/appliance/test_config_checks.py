"""Issue 16: check-config looks beyond the file: an unwritable data dir and an
unknown model id are named with their key, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import main


def _write(tmp_path: Path, data_dir: str, model: str) -> str:
    p = tmp_path / "box.toml"
    p.write_text(f'[box]\ndata_dir = "{data_dir}"\n\n[[guard.models]]\nname = "m"\nmodel = "{model}"\n'
                 'inputs = ["x"]\n\n[[sources.modbus]]\nname = "plc"\nsignals = [{ name = "x", address = 0 }]\n')
    return str(p)


def test_unwritable_data_dir_and_unknown_model_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", _write(tmp_path, "/proc/nope", "no-such-model")]) == 2
    err = capsys.readouterr().err
    assert "box.data_dir: /proc/nope does not exist and cannot be created" in err
    assert "guard.models[0].model: unknown model id 'no-such-model'; known: part-inspection, vibration-anomaly" in err
    assert "Traceback" not in err


def test_core_refuses_an_unwritable_data_dir_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", "--config", _write(tmp_path, "/proc/nope", "vibration-anomaly")]) == 2
    err = capsys.readouterr().err
    assert "box.data_dir" in err and "Traceback" not in err and len(err.strip().splitlines()) == 2


def test_a_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", _write(tmp_path, str(tmp_path / "data"), "vibration-anomaly")]) == 0
    assert ": OK" in capsys.readouterr().out


def _gated(tmp_path: Path, binding: str = "", machine: str = "", model: str = "vibration-anomaly") -> str:
    p = tmp_path / "gate.toml"
    p.write_text(f'[box]\ndata_dir = "{tmp_path / "data"}"\n\n{machine}\n[[guard.models]]\nname = "spindle"\n'
                 f'model = "{model}"\ninputs = ["x", "running"]\n{binding}\n[[sources.modbus]]\nname = "plc"\n'
                 'signals = [{ name = "x", address = 0 }, { name = "running", address = 1 }]\n')
    return str(p)


def test_a_model_that_needs_a_gate_and_has_none_is_a_warning_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped vibration model's manifest says scores_only_while_running: bound without
    while_signal, check-config still passes (exit 0) but says in one line what to set."""
    assert main(["check-config", _gated(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['warning: guard.models[0].while_signal: not set, but model vibration-anomaly scores only a '
                   'machine at work and false-alarms at every start; set while_signal = "<the signal that is '
                   'true while the machine runs>" (or machine.running_signal), and settle_s to the spin-up time']
    # With machine.running_signal the guard gates it there by default, and says so.
    assert main(["check-config", _gated(tmp_path, machine='[machine]\nrunning_signal = "running"\n')]) == 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("note: guard.models[0].while_signal: not set;")
    assert 'gates it on machine.running_signal "running"' in line
    assert main(["check-config", _gated(tmp_path, binding='while_signal = "running"\n')]) == 0
    assert capsys.readouterr().err == ""
    assert main(["check-config", _gated(tmp_path, binding='while_signal = ""\n')]) == 0  # explicitly ungated
    assert capsys.readouterr().err == ""
    assert main(["check-config", _gated(tmp_path, model="part-inspection")]) == 0  # no such flag
    assert capsys.readouterr().err == ""


def test_the_demo_config_binds_its_model_with_a_gate(capsys: pytest.CaptureFixture[str]) -> None:
    demo = Path(__file__).resolve().parents[2] / "configs" / "demo.toml"
    main(["check-config", str(demo)])
    err = capsys.readouterr().err
    assert "warning:" not in err and "note:" not in err


def test_the_running_signal_gates_a_model_that_needs_it_unless_the_binding_says_otherwise() -> None:
    from appliance.guard.config import GuardConfig

    def bind(**kw: str) -> dict:
        return {"name": "spindle", "model": "vibration-anomaly", "inputs": ["x"], **kw}

    cfg = GuardConfig.model_validate({"models": [bind(), bind(name="own", while_signal="spindle_on"),
                                                 bind(name="always", while_signal=""),
                                                 {**bind(name="cam"), "model": "part-inspection"}]})
    needs = {"vibration-anomaly": True, "part-inspection": False}.__getitem__
    gated = cfg.with_default_gates("running", needs)
    assert [m.while_signal for m in gated.models] == ["running", "spindle_on", "", None]
    assert cfg.with_default_gates(None, needs) is cfg
