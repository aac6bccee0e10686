"""Provisioning from the boot partition and the wipe after a loan, against a
temporary root (issue 12)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import sqlite_utils
import tomli_w

from appliance.config import load_config
from appliance.provision import (
    FILE_NAME,
    LOGIN_ROLES,
    MARKER,
    NETWORK_FILE,
    PAGE,
    Places,
    ProvisionError,
    main_provision,
    main_wipe,
    provision,
    wipe,
)
from drivers.opcua.pki import client_certificate, ensure_client_certificate
from local_ui import security
from tests.conftest import ROOT

PIN_RECORD = security.hash_pin("2468")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("WERKVLOER_DATA_DIR", raising=False)
    for d in ("boot", "etc", "data", "run"):
        (tmp_path / d).mkdir()
    return tmp_path


def places(root: Path) -> Places:
    return Places(etc=root / "etc", data_dir=root / "data", message_dir=root / "run")


def provisioning_file(root: Path, **over: object) -> Path:
    config = tomllib.loads((ROOT / "configs" / "modbus-plc.toml").read_text())
    config.setdefault("box", {})["data_dir"] = str(root / "data")
    data: dict[str, object] = {
        "format": 1, "language": "en", "timezone": "Europe/Brussels",
        "config": config,
        "pins": {"admin": PIN_RECORD},
        "secrets": {"opcua_plc": "geheim"},
        "sync": {"url": "https://hub.example.eu/", "token": "t0ken-for-this-loan-0123456789"},
        "network": {"mode": "static", "address": "192.168.10.20/24", "gateway": "192.168.10.1", "dns": ["192.168.10.1"]},
    }
    data.update(over)
    path = root / "boot" / FILE_NAME
    path.write_text(tomli_w.dumps(data))
    return path


def test_provisioning_applies_everything_then_removes_the_file(root: Path) -> None:
    src = provisioning_file(root)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    (root / "run" / PAGE).write_text("old message")
    report = provision([root / "boot"], places(root))

    cfg = load_config(root / "etc" / "werkvloer.toml")
    assert cfg.box.language == "en" and cfg.box.timezone == "Europe/Brussels"
    assert cfg.sync is not None and cfg.sync.url == "https://hub.example.eu/"
    secrets = root / "etc" / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert tomllib.loads(secrets.read_text()) == {"opcua_plc": "geheim", "sync_token": "t0ken-for-this-loan-0123456789"}
    assert stat.S_IMODE((root / "etc" / "werkvloer.toml").stat().st_mode) == 0o640
    net = (root / "etc" / NETWORK_FILE).read_text()
    assert "Address=192.168.10.20/24" in net and "Gateway=192.168.10.1" in net
    assert os.readlink(root / "etc" / "localtime").endswith("zoneinfo/Europe/Brussels")
    # The PIN works in the UI's own login.
    db = sqlite_utils.Database(root / "data" / cfg.storage.db_name)
    assert security.login(db, role="admin", pin="2468", client="test") is True
    assert digest in (root / "data" / MARKER).read_text()
    assert not src.exists()                                  # read once; the token is not left on the card
    assert not (root / "run" / PAGE).exists()                # the kiosk shows the UI again
    assert any("PINs for admin" in line for line in report.applied)


def test_a_broken_file_changes_nothing_and_says_so_in_dutch(root: Path) -> None:
    provisioning_file(root, pins={"admin": "1234"}, timezone="Europe/Amsterdamm", colour="blue")
    rc = main_provision(["--from", str(root / "boot"), "--etc", str(root / "etc"), "--data-dir", str(root / "data"),
                         "--message-dir", str(root / "run")])
    assert rc == 2
    assert list((root / "etc").iterdir()) == [] and list((root / "data").iterdir()) == []
    assert (root / "boot" / FILE_NAME).exists()
    page = (root / "run" / PAGE).read_text()
    assert 'lang="nl"' in page and "Het inrichtingsbestand klopt niet." in page
    assert "onbekende sleutel" in page and "colour" in page          # the typo, by name
    assert "Europe/Amsterdamm" in page and "pins" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]   # nothing to fetch


def test_a_bad_box_config_is_named_by_its_key(root: Path) -> None:
    provisioning_file(root, config={"box": {"naam": "x"}})
    with pytest.raises(ProvisionError) as exc:
        provision([root / "boot"], places(root))
    assert ("config.box.naam" in dict(exc.value.problems)) and "configuratie" in exc.value.title_nl


def test_without_a_file_the_touchscreen_asks_for_one(root: Path) -> None:
    rc = main_provision(["--from", str(root / "boot"), "--etc", str(root / "etc"), "--data-dir", str(root / "data"),
                         "--message-dir", str(root / "run")])
    assert rc == 2
    assert "nog niet ingericht" in (root / "run" / PAGE).read_text()


def test_check_only_validates(root: Path) -> None:
    provisioning_file(root)
    assert main_provision(["--check", "--from", str(root / "boot")]) == 0
    assert (root / "boot" / FILE_NAME).exists() and list((root / "etc").iterdir()) == []


def test_login_roles_match_the_ui() -> None:
    assert LOGIN_ROLES == security.LOGIN_ROLES


def test_wipe_erases_the_loan_and_the_next_boot_provisions_afresh(root: Path, capsys) -> None:
    provisioning_file(root)
    provision([root / "boot"], places(root))
    old_cert = ensure_client_certificate(root / "data")
    (root / "data" / "sync_loan_id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "data" / "snapshots").mkdir()
    (root / "data" / "snapshots" / "s1.jpg").write_bytes(b"x")

    assert main_wipe(["--etc", str(root / "etc"), "--data-dir", str(root / "data")]) == 2   # needs --yes
    assert (root / "data" / MARKER).exists()
    assert main_wipe(["--yes", "--etc", str(root / "etc"), "--data-dir", str(root / "data")]) == 0
    out = capsys.readouterr().out
    assert "wipe report" in out and "PINs: 1 removed" in out and "0123456789abcdef0123456789abcdef" in out

    assert sorted(p.name for p in (root / "data").iterdir()) == ["pki"]    # only the new certificate
    new_cert = client_certificate(root / "data")
    assert new_cert is not None and new_cert.sha256 != old_cert.sha256
    assert list((root / "etc").iterdir()) == []
    # Next loan: a new file is applied like the first.
    provisioning_file(root, language="nl")
    provision([root / "boot"], places(root))
    assert load_config(root / "etc" / "werkvloer.toml").box.language == "nl"


def test_wipe_function_reports_without_a_database(root: Path) -> None:
    lines = wipe(places(root))
    assert any("PINs: 0 removed" in line for line in lines)
    assert any("next boot asks" in line for line in lines)


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
def test_a_file_that_cannot_be_removed_is_not_applied_twice(root: Path) -> None:
    """The A/B image's boot partition may be read-only: the file stays, the
    marker holds its hash, and the report says to delete it by hand."""
    src = provisioning_file(root)
    if subprocess.run(["chattr", "+i", str(src)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        report = provision([root / "boot"], places(root))
        assert src.exists()
        assert any("delete it from the card" in w for w in report.warnings)
        assert hashlib.sha256(src.read_bytes()).hexdigest() in (root / "data" / MARKER).read_text()
    finally:
        subprocess.run(["chattr", "-i", str(src)], check=True)
