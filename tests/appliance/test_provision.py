from __future__ import annotations

import stat
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.provision import MARKER, provision, wipe
from tests.conftest import ROOT


def test_provision_then_wipe(tmp_path: Path) -> None:
    boot, etc, data = tmp_path / "boot", tmp_path / "etc", tmp_path / "data"
    boot.mkdir()
    (boot / "werkvloer.toml").write_text((ROOT / "configs" / "modbus-plc.toml").read_text())
    (boot / "secrets.toml").write_text('opcua_plc = "geheim"\n')
    first = provision(boot, etc, data)
    assert (etc / "werkvloer.toml").exists() and (data / MARKER).exists()
    assert stat.S_IMODE((etc / "secrets.toml").stat().st_mode) == 0o600
    assert not (boot / "secrets.toml").exists()  # not left on the FAT boot partition
    (data / "werkvloer.db").write_text("x")
    removed = wipe(etc, data)
    assert str(data / "werkvloer.db") in removed and not list(data.iterdir())
    assert not (etc / "secrets.toml").exists() and not (etc / "werkvloer.toml").exists()
    (boot / "werkvloer.toml").write_text((ROOT / "configs" / "modbus-plc.toml").read_text())
    assert provision(boot, etc, data) != first  # a new pseudonymous id per loan


def test_provision_refuses_a_broken_config(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "werkvloer.toml").write_text("[box]\nnaam = 1\n")
    with pytest.raises(ConfigError) as exc:
        provision(boot, tmp_path / "etc", tmp_path / "data")
    assert "box.naam" in str(exc.value)
    assert not (tmp_path / "etc" / "werkvloer.toml").exists()
