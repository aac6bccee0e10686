"""Stop outputs against real peers: the simulator's Modbus and OPC UA servers on loopback.

The servers run in their own event-loop thread, as a PLC would run elsewhere;
the guard fires from its own threads through the drivers' output classes.
"""

from __future__ import annotations

from typing import Any

from drivers.opcua.simserver import node_id

from ..conftest import free_port
from .conftest import SimPeers, collect, value, wait_for

RELAY = 17


def outputs_cfg(peers: SimPeers, *, modbus_port: int | None = None) -> list[dict]:
    assert peers.modbus is not None and peers.opcua is not None
    return [
        {"name": "stop_relay", "kind": "gpio", "pin": RELAY},
        {"name": "stop_coil", "kind": "modbus", "host": "127.0.0.1", "port": modbus_port or peers.modbus_port,
         "address": peers.modbus.stop_coil, "timeout_ms": 500},
        {"name": "stop_node", "kind": "opcua", "url": peers.opcua.url, "node_id": node_id("stop"),
         "timeout_ms": 1000},
    ]


def cfg(peers: SimPeers, **kw: Any) -> dict:
    return {"mode": "armed",
            "rules": [{"name": "overload", "kind": "above", "signal": "motor_current", "limit": 20.0}],
            "outputs": outputs_cfg(peers, **kw)}


def test_trip_writes_coil_and_node_and_reset_releases(peers, make_guard, factory) -> None:
    assert peers.modbus is not None and peers.opcua is not None
    coil_writes, node_writes = peers.modbus.stop_writes, peers.opcua.stop_writes
    g = make_guard(cfg(peers))
    g.on_sample(value("motor_current", 35.0))
    wait_for(lambda: g.status()["last_trip"], what="trip with every output done")
    assert factory.pin(RELAY).state and peers.sim.stop_active
    assert peers.modbus.stop_writes > coil_writes and peers.opcua.stop_writes > node_writes
    outs = {o["name"]: o for o in g.status()["last_trip"]["outputs"]}
    assert all(o["ok"] for o in outs.values()) and set(outs) == {"stop_relay", "stop_coil", "stop_node"}
    # Fastest kind first: the relay is done before the coil, the coil before the node.
    assert outs["stop_relay"]["latency_ms"] <= outs["stop_coil"]["latency_ms"] <= outs["stop_node"]["latency_ms"]
    g.on_sample(value("motor_current", 5.0))
    g.reset("maintenance")
    assert not peers.sim.stop_active and not factory.pin(RELAY).state


def test_unreachable_output_does_not_stop_the_others(peers, make_guard, factory, sink) -> None:
    closed = free_port()  # nothing listens there: connection refused, as a PLC that is off
    g = make_guard(cfg(peers, modbus_port=closed), ready=False)
    # Noticed at start, before any trip, and the armed guard is not healthy while it lasts (issue 16).
    opened = collect(sink, lambda a: a["kind"] == "guard.output", what="output alert at start")
    assert [a["dedupe_key"] for a in opened if a["kind"] == "guard.output"] == ["guard.output.stop_coil"]
    wait_for(lambda: all(o["ok"] for o in g.status()["outputs"] if o["name"] != "stop_coil"), what="others up")
    assert g.status()["state"] == "degraded" and not g.status()["healthy"]
    peers.sim.apply_stop(False)
    g.on_sample(value("motor_current", 35.0))
    wait_for(lambda: g.status()["last_trip"], what="trip")
    outs = {o["name"]: o for o in g.status()["last_trip"]["outputs"]}
    assert outs["stop_relay"]["ok"] and outs["stop_node"]["ok"]
    assert not outs["stop_coil"]["ok"] and str(closed) in outs["stop_coil"]["error"]
    assert factory.pin(RELAY).state and peers.sim.stop_active  # the OPC UA write stopped the cell
    # The trip alert says which outputs fired and which did not; then one per output that failed.
    got = collect(sink, lambda a: a["kind"] == "guard.output" and "stop_coil" in a["title"]["en"])
    trip = next(a for a in got if a["kind"] == "guard.trip")
    assert "fired: stop_relay, stop_node" in trip["title"]["en"] and "not confirmed yet: stop_coil" in trip["title"]["en"]
    g.on_sample(value("motor_current", 5.0))
    g.reset("maintenance")
    assert not peers.sim.stop_active
