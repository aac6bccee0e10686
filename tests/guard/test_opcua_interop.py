"""The guard's OPC UA stop output (the output bank + wire.py) against node-opcua, an OPC UA server
that shares no code with asyncua: the stop written and confirmed (security None, and SignAndEncrypt
as a user), a wrong password an alert that says what to check, and a server killed with -9 and
started again on the same port: the bank reconnects and writes the latched stop."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.opcua.config import OpcuaOutputConfig
from drivers.opcua.output import OpcuaStopOutput
from tests.drivers.opcua.node_peer import PASSWORD, USER, NodePeer, node_id

from .conftest import collect, value, wait_for

RULE = {"name": "overload", "kind": "above", "signal": "motor_current", "limit": 20.0}


@pytest.fixture(scope="module")
def node_peer(tmp_path_factory) -> Any:
    with NodePeer(tmp_path_factory.mktemp("node-pki")) as peer:
        yield peer


@pytest.fixture
def own_peer(tmp_path) -> Any:
    """A server of the test's own (it is killed and started again)."""
    with NodePeer(tmp_path / "node-pki") as peer:
        yield peer


def guard_with_output(make_guard, url: str, tmp_path, ready: bool = True, **security: Any) -> Any:
    cfg = {"mode": "armed", "rules": [RULE], "keepalive_ms": 100,
           "outputs": [{"name": "stop_node", "kind": "opcua", "url": url, "node_id": node_id("Stop"),
                        "timeout_ms": 1000}]}
    out = OpcuaStopOutput(OpcuaOutputConfig(**cfg["outputs"][0]), data_dir=tmp_path / "box", connect_timeout_s=2.0,
                          **security)
    return make_guard(cfg, outputs=[out], ready=ready)


def out(g: Any) -> dict[str, Any]:
    return next(o for o in g.status()["outputs"] if o["name"] == "stop_node")


@pytest.mark.parametrize("security", [{}, {"security_mode": "SignAndEncrypt", "username": USER, "password": PASSWORD}],
                         ids=["None", "SignAndEncrypt-user"])
def test_the_stop_is_written_and_confirmed(node_peer, make_guard, tmp_path, security) -> None:
    node_peer.stops.clear()
    g = guard_with_output(make_guard, node_peer.url, tmp_path, **security)  # connected, released
    assert node_peer.wait_stop(1) == ["false"]  # the bank confirmed the released level at start
    g.on_sample(value("motor_current", 35.0))
    assert node_peer.wait_stop(2) == ["false", "true"]
    wait_for(lambda: out(g)["confirmed"] and out(g)["want"] == "stop", what="stop confirmed")
    assert g.status()["last_trip"]["outputs"][0]["ok"]  # confirmed on the stop path itself
    g.on_sample(value("motor_current", 5.0))
    g.reset("maintenance")
    assert node_peer.wait_stop(3)[-1] == "false"


def test_a_wrong_password_is_an_alert_that_says_what_to_check(node_peer, make_guard, sink, tmp_path) -> None:
    g = guard_with_output(make_guard, node_peer.url, tmp_path, ready=False, security_mode="SignAndEncrypt",
                          username=USER, password="wrong")
    got = collect(sink, lambda a: a["dedupe_key"] == "guard.output.stop_node", what="output down alert")
    alert = next(a for a in got if a["dedupe_key"] == "guard.output.stop_node")
    assert "check user and password" in str(alert)
    assert not g.status()["healthy"] and out(g)["state"] == "down"


def test_after_a_kill_9_restart_the_latched_stop_is_written(own_peer, make_guard, sink, tmp_path) -> None:
    node_peer = own_peer
    g = guard_with_output(make_guard, node_peer.url, tmp_path, security_mode="SignAndEncrypt",
                          username=USER, password=PASSWORD)
    node_peer.wait_stop(1)
    node_peer.kill()  # no CloseSession, no FIN from a CloseSecureChannel: the power went
    collect(sink, lambda a: a["dedupe_key"] == "guard.output.stop_node", what="output down alert")
    g.on_sample(value("motor_current", 35.0))
    wait_for(lambda: g.status()["tripped"], what="latched")
    assert not g.status()["last_trip"]["outputs"][0]["ok"]
    node_peer.stops.clear()
    node_peer.start()  # same port, same server certificate (the box pinned it)
    assert node_peer.wait_stop(1) == ["true"]
    wait_for(lambda: out(g)["confirmed"] and out(g)["want"] == "stop", timeout=30, what="stop confirmed")
    assert g.status()["healthy"]
