"""Interop: wire.py (stop output, fast reader) and the asyncua-based OpcuaSource against node-opcua,
an OPC UA server that shares no code with asyncua (see node_peer.py). SecurityPolicy None and
Basic256Sha256 SignAndEncrypt with a user; the channel token renewed within node-opcua's lifetime."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.bus import Bus
from drivers.errors import DeviceError
from drivers.opcua.config import OpcuaOutputConfig, OpcuaServer
from drivers.opcua.fast import FastOpcuaReader
from drivers.opcua.output import OpcuaStopOutput
from drivers.opcua.source import OpcuaSource
from drivers.samples import Quality, Sample

from .conftest import until
from .node_peer import PASSWORD, USER, NodePeer, node_id
from .test_source import Collector


@pytest.fixture(scope="module")
def node_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodePeer]:
    with NodePeer(tmp_path_factory.mktemp("node-opcua-pki")) as peer:
        yield peer


@pytest.fixture(scope="module")
def box_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("box-data")


def stop_output(url: str, **kw) -> OpcuaStopOutput:
    cfg = OpcuaOutputConfig(name="plc_stop", kind="opcua", url=url, node_id=node_id("Stop"), timeout_ms=2000)
    return OpcuaStopOutput(cfg, **kw)


def _stop_and_release(peer: NodePeer, out: OpcuaStopOutput) -> None:
    before = len(peer.stops)
    out.fire()  # returns when node-opcua confirmed the write
    assert peer.wait_stop(before + 1)[before:] == ["true"]  # written as a Boolean, as the node's DataType says
    assert peer.get("Stop") == "true"
    out.release()
    assert peer.wait_stop(before + 2)[before + 1:] == ["false"]


def test_stop_write_with_security_none(node_peer) -> None:
    out = stop_output(node_peer.url)
    try:
        out.open()
        _stop_and_release(node_peer, out)
        out.check()  # the keep-alive read on the same session
    finally:
        out.close()
    assert not out.connected


def test_stop_write_signed_and_encrypted_as_a_user(node_peer, box_dir) -> None:
    out = stop_output(node_peer.url, data_dir=box_dir, security_mode="SignAndEncrypt",
                      username=USER, password=PASSWORD)
    try:
        out.open()
        _stop_and_release(node_peer, out)
        out.check()
    finally:
        out.close()


def test_a_wrong_password_is_a_clear_error_not_a_hang(node_peer, box_dir) -> None:
    out = stop_output(node_peer.url, data_dir=box_dir, security_mode="SignAndEncrypt",
                      username=USER, password="wrong", connect_timeout_s=5.0)
    with pytest.raises(DeviceError, match="check user and password"):
        out.open()
    assert not out.connected


@pytest.mark.parametrize("mode", ["None", "SignAndEncrypt"])
def test_the_keep_alive_renews_the_token_within_node_opcuas_lifetime(tmp_path, box_dir, mode) -> None:
    # node-opcua revises the asked lifetime (1 h) down to its own (3 s here; 2.5 s is its minimum) and
    # discards a token 125 % of its lifetime after issuing it. Secured, each renewal derives new keys.
    secured = {"data_dir": box_dir, "security_mode": mode, "username": USER, "password": PASSWORD}
    with NodePeer(tmp_path / "pki", token_lifetime_ms=3000) as peer:
        out = stop_output(peer.url, **(secured if mode != "None" else {}))
        try:
            out.open()
            first = out._wire._conn.security_token
            assert first.RevisedLifetime == 3000
            tokens = {first.TokenId}
            for _ in range(3):  # three renewals: each new token is taken into use and accepted
                deadline = time.monotonic() + 10
                while not out._wire.renew_due():
                    assert time.monotonic() < deadline, "renewal never due"
                    time.sleep(0.05)
                out.check()  # renews, then reads on the new token
                tokens.add(out._wire._conn.security_token.TokenId)
            assert len(tokens) == 4
            _stop_and_release(peer, out)  # well past the first token's end
        finally:
            out.close()


def test_the_fast_reader_reads_node_opcuas_values(node_peer, box_dir) -> None:
    node_peer.set("Speed", 12.5)
    node_peer.set("Count", 7)
    node_peer.set("Running", True)
    srv = OpcuaServer(name="cell", url=node_peer.url, timeout_s=2.0, security_mode="SignAndEncrypt",
                      username=USER, password_secret="plc",
                      signals=[{"name": n.lower(), "node_id": node_id(n), "mode": "poll"}
                               for n in ("Speed", "Count", "Running")])
    got: dict[str, Sample] = {}
    changed = threading.Condition()

    def deliver(samples: list[Sample]) -> None:
        with changed:
            got.update((s.signal, s) for s in samples)
            changed.notify_all()

    reader = FastOpcuaReader(srv, srv.signals, deliver=deliver, data_dir=str(box_dir), secrets={"plc": PASSWORD})
    reader.start()
    try:
        with changed:
            assert changed.wait_for(lambda: len(got) == 3, 20), reader.health
        assert got["speed"].value == 12.5 and got["count"].value == 7 and got["running"].value is True
        assert isinstance(got["count"].value, int) and all(s.quality is Quality.GOOD for s in got.values())
        node_peer.set("Speed", -3.25)
        with changed:
            assert changed.wait_for(lambda: got["speed"].value == -3.25, 20)
        assert reader.health.available
    finally:
        reader.stop()


@pytest.mark.parametrize("mode", ["None", "SignAndEncrypt"])
async def test_the_subscribed_source_gets_node_opcuas_data_changes(node_peer, box_dir, mode) -> None:
    node_peer.set("Speed", 1.0)
    node_peer.set("Count", 1)
    bus = Bus()
    got = Collector(bus)
    user = {"username": USER, "password_secret": "plc"} if mode != "None" else {}
    cfg = OpcuaServer(name="cell", url=node_peer.url, publishing_interval_ms=50, reconnect_min_s=0.1,
                      reconnect_max_s=0.5, timeout_s=2.0, security_mode=mode, **user,
                      signals=[{"name": "speed", "node_id": node_id("Speed"), "sampling_interval_ms": 0},
                               {"name": "count", "node_id": node_id("Count")}])
    async with OpcuaSource(cfg, bus, data_dir=box_dir, secrets={"plc": PASSWORD}) as source:
        await until(lambda: got.of("speed", Quality.GOOD) and got.of("count", Quality.GOOD), what="initial values")
        for v in (2.5, 3.75, 5.0):
            node_peer.set("Speed", v)
            await until(lambda v=v: any(s.value == v for s in got.of("speed")), what=f"speed {v}")
        node_peer.set("Count", 42)
        await until(lambda: any(s.value == 42 for s in got.of("count")), what="count 42")
        assert source.health.available
    assert all(isinstance(s.value, int) for s in got.of("count"))


@pytest.fixture(scope="module")
def small_plc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodePeer]:
    """A server that receives 8 KiB chunks (the smallest OPC UA allows) and sends 64 KiB ones."""
    with NodePeer(tmp_path_factory.mktemp("node-opcua-small"), receive_buffer=8192) as peer:
        yield peer


SIGNALS = 400  # one Read of 400 nodes is ~12 KiB: more than one 8 KiB chunk


def test_the_fast_reader_chunks_its_read_for_a_server_with_small_buffers(small_plc) -> None:
    # Found here: asyncua 2.1 swaps the Acknowledge's buffer sizes, so requests went out as one
    # 12 KiB chunk and the server closed the channel (BadTcpMessageTooLarge). wire.apply_acknowledge.
    small_plc.set("Speed", 4.5)
    srv = OpcuaServer(name="cell", url=small_plc.url, timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.2,
                      signals=[{"name": f"speed_{i}", "node_id": node_id("Speed"), "mode": "poll"}
                               for i in range(SIGNALS)])
    rounds: list[list[Sample]] = []
    changed = threading.Condition()

    def deliver(samples: list[Sample]) -> None:
        with changed:
            rounds.append(samples)
            changed.notify_all()

    reader = FastOpcuaReader(srv, srv.signals, deliver=deliver)
    reader.start()
    try:
        with changed:
            assert changed.wait_for(lambda: len(rounds) >= 3, 20), reader.health
        good = rounds[0]
        assert len(good) == SIGNALS and all(s.quality is Quality.GOOD and s.value == 4.5 for s in good), \
            reader.health.last_error
    finally:
        reader.stop()


async def test_the_source_subscribes_many_items_on_a_server_with_small_buffers(small_plc) -> None:
    small_plc.set("Count", 3)
    bus = Bus()
    got = Collector(bus)
    cfg = OpcuaServer(name="cell", url=small_plc.url, publishing_interval_ms=50, reconnect_min_s=0.1,
                      reconnect_max_s=0.5, timeout_s=2.0,
                      signals=[{"name": f"count_{i}", "node_id": node_id("Count")} for i in range(SIGNALS)])
    async with OpcuaSource(cfg, bus) as source:  # CreateMonitoredItems of 400 items: ~20 KiB
        await until(lambda: all(got.of(f"count_{i}", Quality.GOOD) for i in range(SIGNALS)), what="every item")
        small_plc.set("Count", 9)
        await until(lambda: all(any(s.value == 9 for s in got.of(f"count_{i}")) for i in range(SIGNALS)),
                    what="a data change on every item")
        assert source.health.available


async def test_the_source_gets_data_again_after_node_opcua_is_killed_and_restarted(tmp_path, box_dir) -> None:
    with NodePeer(tmp_path / "pki") as peer:
        bus = Bus()
        got = Collector(bus)
        cfg = OpcuaServer(name="cell", url=peer.url, publishing_interval_ms=50, reconnect_min_s=0.1,
                          reconnect_max_s=0.5, timeout_s=1.0, security_mode="SignAndEncrypt", username=USER,
                          password_secret="plc", signals=[{"name": "speed", "node_id": node_id("Speed")}])
        async with OpcuaSource(cfg, bus, data_dir=box_dir, secrets={"plc": PASSWORD}) as source:
            peer.set("Speed", 1.5)
            await until(lambda: any(s.value == 1.5 for s in got.of("speed")), what="speed 1.5")
            peer.kill()
            await until(lambda: not source.health.available, what="the loss noticed")
            peer.start()  # same port, same certificate
            peer.set("Speed", 2.5)  # a fresh process: every value is new
            await until(lambda: any(s.value == 2.5 for s in got.of("speed")), what="speed 2.5 after the restart")
            assert source.health.available and source.sessions_opened == 2
