"""Stop output, `opcua browse` and the client certificate, against the simulator's server."""

from __future__ import annotations

import threading
import time
import tomllib

import pytest

from appliance.errors import ConfigError, DeviceError
from drivers.opcua import browse, pki
from drivers.opcua.config import OpcuaOutputConfig, OpcuaServer
from drivers.opcua.output import OpcuaStopOutput
from tests.conftest import free_port


def stop_output(url: str, **kw) -> OpcuaOutputConfig:
    return OpcuaOutputConfig(**{"name": "plc_stop", "kind": "opcua", "url": url, "node_id": "ns=2;s=Cell.Stop",
                          "timeout_ms": 2000, **kw})


def test_stop_output_writes_from_a_plain_thread_and_the_sim_stops(sim_peer):
    out = OpcuaStopOutput(stop_output(sim_peer.url))
    errors: list[BaseException] = []
    before = sim_peer.server.stop_writes

    def guard_thread() -> None:  # no event loop here, as in the guard
        try:
            out.open()
            out.fire()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=guard_thread)
    t.start()
    t.join(30)
    try:
        assert not errors, errors
        assert sim_peer.sim.stop_active is True
        assert sim_peer.server.stop_writes == before + 1
        assert sim_peer.server.last_stop_write_ns is not None
        out.release()
        assert sim_peer.sim.stop_active is False
    finally:
        out.close()
        sim_peer.call(lambda: sim_peer.sim.set_state("running"))  # the sim's timeline does not restart itself
    deadline = time.monotonic() + 10
    while sim_peer.server.session_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim_peer.server.session_count == 0, "the output's session is closed"


def test_stop_output_refused_write_raises_device_error(sim_peer):
    out = OpcuaStopOutput(stop_output(sim_peer.url, node_id="ns=2;s=Cell.SpindleSpeed"))  # read-only
    out.open()
    try:
        with pytest.raises(DeviceError, match="refused"):
            out.fire()
    finally:
        out.close()


def test_stop_output_without_server_fails_clearly():
    out = OpcuaStopOutput(stop_output(f"opc.tcp://127.0.0.1:{free_port()}/"), connect_timeout_s=0.5)
    try:
        with pytest.raises(DeviceError, match="cannot connect"):
            out.open()
        # The guard's output bank tries open() again with its backoff (issue 16, point 1); a stop
        # meanwhile fails at once, without waiting for a connection.
        assert not out.connected
        with pytest.raises(DeviceError, match="not connected"):
            out.fire()
    finally:
        out.close()


def test_stop_output_config_problems_name_the_keys():
    with pytest.raises(ConfigError) as err:
        # the config validates this too; the driver checks again for outputs built in code.
        OpcuaStopOutput(OpcuaOutputConfig.model_construct(name="plc_stop", kind="opcua", url=None, node_id=None,
                                                    value=1.0, timeout_ms=50.0), key_path="guard.outputs[0]")
    paths = [p for p, _ in err.value.problems]
    assert paths == ["guard.outputs[0].url", "guard.outputs[0].node_id"]


def test_browse_lists_the_sim_nodes_and_a_valid_toml_snippet(sim_peer, capsys):
    assert browse.main(["browse", sim_peer.url, "--depth", "4"]) == 0
    out = capsys.readouterr().out
    assert "SpindleSpeed  ns=2;s=Cell.SpindleSpeed  Double  read" in out
    assert "Stop  ns=2;s=Cell.Stop  Boolean  read/write" in out
    assert "Block  ns=2;s=Cell.Vibration.Block  Float[]  read" in out
    assert "ns=0;i=2253" not in out and "i=2253" not in out, "the standard Server object is skipped"
    snippet = tomllib.loads(out[out.index("[[sources.opcua]]"):])
    server = OpcuaServer(**snippet["sources"]["opcua"][0])  # the snippet passes the strict schema
    names = {s.name: s.node_id for s in server.signals}
    assert names["spindle_speed"] == "ns=2;s=Cell.SpindleSpeed"
    assert names["vibration_block"] == "ns=2;s=Cell.Vibration.Block"


def test_browse_with_security_and_user(sim_peer, pki_data_dir, capsys, monkeypatch):
    from .conftest import PASSWORD, USER

    monkeypatch.setenv("OPCUA_PASSWORD", PASSWORD)
    rc = browse.main([sim_peer.url, "--depth", "2", "--security", "SignAndEncrypt", "--data-dir",
                      str(pki_data_dir), "--user", USER, "--no-snippet"])
    assert rc == 0
    assert "ns=2;s=Cell.Heartbeat" in capsys.readouterr().out


def test_browse_unreachable_server_says_what_to_check(capsys):
    assert browse.main([f"opc.tcp://127.0.0.1:{free_port()}/", "--timeout", "0.5"]) == 1
    assert "check the URL" in capsys.readouterr().err
    assert browse.main(["http://example.invalid/"]) == 2


def test_client_certificate_is_generated_once_and_kept(tmp_path, capsys):
    assert pki.client_certificate(tmp_path) is None
    assert pki.main(["--data-dir", str(tmp_path)]) == 1
    first = pki.ensure_client_certificate(tmp_path)
    again = pki.ensure_client_certificate(tmp_path)
    assert first.sha1 == again.sha1 and first.sha256 == again.sha256
    assert (first.key_path.stat().st_mode & 0o777) == 0o600
    assert first.application_uri.startswith("urn:") and first.application_uri.endswith(":werkvloer:opcua-client")
    capsys.readouterr()
    assert browse.main(["certificate", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert first.sha1 in out and first.sha256 in out


def test_config_requires_username_with_password_secret():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="username"):
        OpcuaServer(name="plc", url="opc.tcp://x:4840", password_secret="pw")
    with pytest.raises(ValidationError):
        OpcuaServer(name="plc", url="opc.tcp://x:4840", publishing_interval_ms=5)  # 0 or >= 10 ms
