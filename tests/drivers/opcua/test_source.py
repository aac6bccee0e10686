"""OpcuaSource against the simulator's real asyncua server on loopback."""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from appliance.bus import Bus, SampleQueue
from appliance.errors import ConfigError
from drivers.base import Source
from drivers.opcua.config import OpcuaServer
from drivers.opcua.pki import client_certificate
from drivers.opcua.simserver import node_id
from drivers.opcua.source import OpcuaSource
from drivers.samples import Quality, Sample

from .conftest import PASSWORD, USER, until


def server_cfg(url: str, signals: Iterable[dict[str, Any]], **kw: Any) -> OpcuaServer:
    base: dict[str, Any] = {"name": "cell", "url": url, "publishing_interval_ms": 50,
                            "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "timeout_s": 2.0}
    return OpcuaServer(**{**base, **kw, "signals": list(signals)})


def sig(name: str, key: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"name": name, "node_id": node_id(key or name), **kw}


class Collector:
    def __init__(self, bus: Bus) -> None:
        self.queue: SampleQueue = bus.subscribe_queue("test")
        self.samples: list[Sample] = []

    def of(self, signal_name: str, quality: Quality | None = None) -> list[Sample]:
        self.samples += self.queue.drain()
        return [s for s in self.samples if s.signal == signal_name and (quality is None or s.quality is quality)]

    def clear(self) -> None:
        self.queue.drain()
        self.samples.clear()


async def test_subscription_values_arrive(sim_peer):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("energy_kwh"), sig("running"), sig("part_count"),
                                    sig("spindle_speed")])
    source = OpcuaSource(cfg, bus)
    assert isinstance(source, Source)
    async with source:
        await until(lambda: len(got.of("energy_kwh", Quality.GOOD)) >= 5, what="energy samples")
        await until(lambda: got.of("running") and got.of("part_count") and got.of("spindle_speed"),
                    what="initial values")
        assert source.health.available and source.health.state == "ok"
        assert source.health.last_good_utc_ns is not None
    energy = got.of("energy_kwh")
    assert all(isinstance(s.value, float) for s in energy)
    assert len({s.value for s in energy}) >= 5, "the running cell's energy meter counts up"
    assert got.of("running")[0].value is True
    assert isinstance(got.of("running")[0].value, bool)
    assert isinstance(got.of("part_count")[0].value, int)
    monos = [s.mono_ns for s in energy]
    assert monos == sorted(monos)
    assert source.health.state == "stopped" and not source.health.available
    await until(lambda: sim_peer.server.session_count == 0, what="session closed on exit")


async def test_publishing_interval_0_asks_the_fastest_the_server_grants(sim_peer, caplog):
    """Issue 11: 0 = the server's minimum. asyncua's server grants 0 itself: it publishes every change
    at once and sends no cyclic keep-alive, so silence must not count as a stall (no stall timeout)."""
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("energy_kwh", sampling_interval_ms=0)], publishing_interval_ms=0,
                     stall_min_s=0.1)
    with caplog.at_level(logging.INFO, logger="drivers.opcua.source"):
        async with OpcuaSource(cfg, bus) as source:
            await source.wait_connected(10)
            assert source.revised_publishing_interval_ms == 0
            assert source.stall_timeout_s is None
            await until(lambda: len({s.value for s in got.of("energy_kwh", Quality.GOOD)}) >= 5,
                        what="changes published at once")
            assert source.stalls_detected == 0 and source.sessions_opened == 1
    assert any("asked fastest (0 ms), the server granted 0.0 ms; every change is published at once"
               in r.getMessage() for r in caplog.records)


async def test_a_fast_interval_keeps_keep_alives_slow(sim_peer):
    """A granted 10 ms interval with 3 intervals per keep-alive would be 100 keep-alives/s; the
    source asks ModifySubscription for about stall_min_s / 3 and uses what the server revises."""
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("energy_kwh")], publishing_interval_ms=10, stall_min_s=1.0)
    async with OpcuaSource(cfg, bus) as source:
        await until(lambda: len(got.of("energy_kwh", Quality.GOOD)) >= 3, what="values at 10 ms")
        assert source.revised_publishing_interval_ms == 10
        assert source.stall_timeout_s == pytest.approx(1.0)  # asyncua keeps its count: stall_min_s


async def test_polled_mode_reads_repeatedly(sim_peer):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("energy_kwh", mode="poll"), sig("door_open", mode="poll")],
                     poll_interval_ms=50)
    async with OpcuaSource(cfg, bus):
        await until(lambda: len(got.of("energy_kwh", Quality.GOOD)) >= 4, what="polled energy samples")
    energy = got.of("energy_kwh", Quality.GOOD)
    assert [s.value for s in energy] == sorted(s.value for s in energy), "an energy meter only counts up"
    assert got.of("door_open", Quality.GOOD)[0].value is False


async def test_vibration_block_arrives_as_float32_array(sim_peer):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [{"name": "vibration", "node_id": "ns=2;s=Cell.Vibration.Block",
                                     "seq_node_id": "ns=2;s=Cell.Vibration.Seq",
                                     "sampling_interval_ms": 0, "queue_size": 10}])
    async with OpcuaSource(cfg, bus):
        blocks = await until(lambda: got.of("vibration", Quality.GOOD)[1:8]
                             if len(got.of("vibration", Quality.GOOD)) >= 8 else None, what="vibration blocks")
    block = blocks[0].block
    assert block.dtype == np.float32 and block.ndim == 1
    assert blocks[0].value == pytest.approx(float(np.sqrt(np.mean(block.astype(np.float64) ** 2))), rel=1e-5)
    # Each block carries the sequence number of its first sample, and blocks are contiguous.
    assert all(isinstance(b.seq, int) for b in blocks)
    for a, b in zip(blocks, blocks[1:], strict=False):
        assert b.seq == a.seq + a.block.size


async def test_nan_out_of_range_and_unknown_nodes_are_bad_not_fatal(sim_peer):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [
        sig("temperature"),
        sig("power_low_limit", "power_kw", max_value=0.1),  # the cell always draws more
        {"name": "ghost", "node_id": "ns=2;s=Cell.DoesNotExist"},
        {"name": "ghost_polled", "node_id": "ns=2;s=Cell.AlsoMissing", "mode": "poll"},
    ], poll_interval_ms=50)
    async with OpcuaSource(cfg, bus) as source:
        await until(lambda: got.of("temperature", Quality.GOOD), what="a good temperature")
        sim_peer.call(lambda: sim_peer.sim.inject("sensor_dropout"))
        try:
            bad = await until(lambda: got.of("temperature", Quality.BAD), what="NaN temperature -> BAD")
        finally:
            sim_peer.call(lambda: sim_peer.sim.clear("sensor_dropout"))
        assert bad[0].value is None
        over = await until(lambda: got.of("power_low_limit", Quality.BAD), what="out-of-range -> BAD")
        assert over[0].value > 0.1, "the out-of-range reading is kept for diagnosis"
        await until(lambda: got.of("ghost", Quality.BAD), what="unknown subscribed node -> BAD")
        await until(lambda: got.of("ghost_polled", Quality.BAD), what="unknown polled node -> BAD")
        await until(lambda: got.of("temperature", Quality.GOOD)[-1].mono_ns > bad[0].mono_ns,
                    what="temperature good again")
        assert source.health.available


@pytest.mark.parametrize("mode", ["None", "Sign", "SignAndEncrypt"])
async def test_security_modes_connect(sim_peer, pki_data_dir, mode):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("motor_current")], security_mode=mode)
    async with OpcuaSource(cfg, bus, data_dir=pki_data_dir) as source:
        await until(lambda: got.of("motor_current", Quality.GOOD), what=f"a value over {mode}")
        assert source.sessions_opened == 1
    if mode != "None":
        cert = client_certificate(pki_data_dir)
        assert cert is not None and cert.cert_path.parent == pki_data_dir / "pki"
        assert len(cert.sha1.split(":")) == 20 and len(cert.sha256.split(":")) == 32


async def test_username_and_password_from_secrets(sim_peer, pki_data_dir):
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("product_id")], security_mode="SignAndEncrypt",
                     username=USER, password_secret="plc_password")
    async with OpcuaSource(cfg, bus, data_dir=pki_data_dir, secrets={"plc_password": PASSWORD}):
        await until(lambda: got.of("product_id", Quality.GOOD), what="a value as operator")


async def test_wrong_password_is_reported_once(sim_peer, caplog):
    bus = Bus()
    cfg = server_cfg(sim_peer.url, [sig("product_id")], username=USER, password_secret="pw")
    caplog.set_level(logging.DEBUG, logger="drivers.opcua.source")
    async with OpcuaSource(cfg, bus, secrets={"pw": "wrong"}) as source:
        await until(lambda: source.health.last_error, what="a connection error")
        await until(lambda: sum(1 for r in caplog.records if "still unavailable" in r.getMessage()) >= 2,
                    what="retries")
        assert not source.health.available and source.health.state == "unavailable"
        assert "user" in source.health.last_error
    errors = [r for r in caplog.records if r.name == "drivers.opcua.source" and r.levelno == logging.ERROR]
    assert len(errors) == 1, "ERROR once, not on every retry"


def test_missing_secret_and_missing_data_dir_are_config_errors(sim_peer):
    cfg = server_cfg(sim_peer.url, [sig("product_id")], username=USER, password_secret="plc_password")
    with pytest.raises(ConfigError, match="plc_password.*secrets file"):
        OpcuaSource(cfg, Bus(), secrets={})
    with pytest.raises(ConfigError, match="security_mode"):
        OpcuaSource(server_cfg(sim_peer.url, [], security_mode="Sign"), Bus())


async def test_reconnects_after_server_restart_on_same_port(restartable_peer, caplog):
    peer = restartable_peer
    bus = Bus()
    got = Collector(bus)
    caplog.set_level(logging.INFO, logger="drivers.opcua.source")
    cfg = server_cfg(peer.url, [sig("energy_kwh"), sig("part_count", mode="poll")], poll_interval_ms=100)
    async with OpcuaSource(cfg, bus) as source:
        await until(lambda: got.of("energy_kwh", Quality.GOOD) and got.of("part_count", Quality.GOOD),
                    what="values before the outage")
        peer.thread.run(peer.server.stop())
        await until(lambda: not source.health.available, what="loss detected")
        await until(lambda: got.of("energy_kwh", Quality.STALE), what="signals marked stale")
        got.clear()
        peer.thread.run(peer.server.start())
        await until(lambda: len(got.of("energy_kwh", Quality.GOOD)) >= 3, what="values after the restart")
        await until(lambda: got.of("part_count", Quality.GOOD), what="polled values after the restart")
        assert source.health.available and source.sessions_opened >= 2
    records = [r for r in caplog.records if r.name == "drivers.opcua.source"]
    assert sum(r.levelno == logging.ERROR for r in records) == 1
    assert sum("available again" in r.getMessage() for r in records) == 1
    await until(lambda: peer.server.session_count == 0, what="session closed on exit")


async def test_silent_subscription_stall_is_detected_and_repaired(sim_peer):
    """The server keeps the connection and answers reads, but the subscription
    goes silent: no data, no keep-alive (issue 3)."""
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("spindle_speed"), sig("energy_kwh")], publishing_interval_ms=50,
                     stall_intervals=6, stall_min_s=0.3)
    async with OpcuaSource(cfg, bus) as source:
        await until(lambda: got.of("energy_kwh", Quality.GOOD), what="values before the stall")
        assert source.stall_timeout_s == pytest.approx(0.3)
        assert sim_peer.call(sim_peer.server.freeze_publishing) == 1
        await until(lambda: source.stalls_detected >= 1, what="stall detected")
        got.clear()
        await until(lambda: len(got.of("energy_kwh", Quality.GOOD)) >= 3, what="values after the repair")
        assert source.sessions_opened == 2
        # The stalled session was closed, not leaked: only the new one is left.
        await until(lambda: sim_peer.server.session_count == 1, what="old session closed")


async def test_frozen_server_process_is_detected_and_recovered(server_process):
    proc, url = server_process
    bus = Bus()
    got = Collector(bus)
    # The vibration block changes on every server update, whatever the free-running sim does.
    cfg = server_cfg(url, [{"name": "vibration", "node_id": "ns=2;s=Cell.Vibration.Block"}],
                     stall_intervals=5, stall_min_s=0.2, timeout_s=0.5)
    async with OpcuaSource(cfg, bus) as source:
        await until(lambda: got.of("vibration", Quality.GOOD), what="values before the freeze")
        proc.send_signal(signal.SIGSTOP)
        try:
            await until(lambda: not source.health.available, what="frozen server detected")
            assert source.stalls_detected >= 1 or "lost" in (source.health.last_error or "")
        finally:
            proc.send_signal(signal.SIGCONT)
        got.clear()
        await until(lambda: len(got.of("vibration", Quality.GOOD)) >= 3, what="values after the thaw")
        assert source.health.available


def test_value_conversion_rules():
    from drivers.opcua.config import OpcuaSignal
    from drivers.opcua.source import _convert

    plain = OpcuaSignal(name="x", node_id="ns=2;s=X")
    scaled = OpcuaSignal(name="x", node_id="ns=2;s=X", scale=0.1, offset=-5, min_value=0, max_value=100)
    assert _convert(plain, True) == (True, None, None)
    assert _convert(plain, 7) == (7, None, None)
    assert _convert(scaled, 100)[0] == pytest.approx(5.0)
    assert _convert(scaled, 10)[2] is not None  # -4 < min_value
    assert _convert(plain, math.inf)[2] is not None
    assert _convert(plain, None)[2] is not None
    assert _convert(plain, "AB-12") == ("AB-12", None, None)
    value, block, problem = _convert(plain, [3.0, -3.0, 3.0, -3.0])
    assert problem is None and value == pytest.approx(3.0) and block.dtype == np.float32
    assert _convert(plain, [1.0, math.nan])[2] is not None


async def test_unusable_data_dir_is_reported_not_fatal(sim_peer, tmp_path):
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file where the data directory should be")
    cfg = server_cfg(sim_peer.url, [sig("motor_current")], security_mode="Sign")
    async with OpcuaSource(cfg, Bus(), data_dir=not_a_dir) as source:
        await until(lambda: source.health.last_error, what="a certificate error")
        assert "client certificate" in source.health.last_error and "data_dir" in source.health.last_error
        await until(lambda: source.sessions_opened == 0 and source._task is not None and not source._task.done(),
                    what="the supervisor keeps trying")


async def test_server_certificate_is_pinned_at_first_contact(sim_peer, pki_data_dir):
    from drivers.opcua.connection import pinned_server_path

    pinned = pinned_server_path(pki_data_dir, sim_peer.url)
    pinned.unlink(missing_ok=True)
    bus = Bus()
    got = Collector(bus)
    cfg = server_cfg(sim_peer.url, [sig("motor_current")], security_mode="Sign")
    async with OpcuaSource(cfg, bus, data_dir=pki_data_dir):
        await until(lambda: got.of("motor_current", Quality.GOOD), what="a value over Sign")
    first = pinned.read_bytes()
    assert first[:1] == b"\x30"  # a DER certificate
    # Another certificate was trusted before (a replaced PLC, or someone in between): refused.
    pinned.write_bytes(b"\x30 not the server's certificate")
    async with OpcuaSource(cfg, Bus(), data_dir=pki_data_dir) as source:
        await until(lambda: "another certificate" in (source.health.last_error or ""), what="pin mismatch refused")
        assert not source.health.available and str(pinned) in source.health.last_error
    assert pinned.read_bytes() == b"\x30 not the server's certificate"  # never silently re-pinned
    pinned.write_bytes(first)
