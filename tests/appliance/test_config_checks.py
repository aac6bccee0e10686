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
