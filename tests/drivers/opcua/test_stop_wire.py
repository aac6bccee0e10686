"""The OPC UA stop output writes in the calling thread (issue 11: no thread hop), against the
simulator's asyncua server: plain, signed and encrypted with a user, and across a token renewal."""

from __future__ import annotations

import threading
import time

import pytest

from drivers.errors import DeviceError
from drivers.opcua.config import OpcuaOutputConfig
from drivers.opcua.output import OpcuaStopOutput

from .conftest import PASSWORD, USER


def stop_output(url: str, **kw) -> OpcuaOutputConfig:
    return OpcuaOutputConfig(**{"name": "plc_stop", "kind": "opcua", "url": url, "node_id": "ns=2;s=Cell.Stop",
                          "timeout_ms": 2000, **kw})


def _stop_and_release(peer, out: OpcuaStopOutput) -> None:
    before = peer.server.stop_writes
    out.fire()
    assert peer.sim.stop_active is True  # confirmed: the server applied it before answering
    assert peer.server.stop_writes == before + 1
    out.release()
    assert peer.sim.stop_active is False


def test_the_write_starts_no_thread_and_needs_no_event_loop(sim_peer):
    out = OpcuaStopOutput(stop_output(sim_peer.url))
    threads = set(threading.enumerate())
    try:
        out.open()
        assert out.connected
        _stop_and_release(sim_peer, out)
        out.check()  # the keep-alive read, same session
        assert set(threading.enumerate()) <= threads, "the output runs in its caller's thread only"
    finally:
        out.close()
        sim_peer.call(lambda: sim_peer.sim.set_state("running"))
    assert not out.connected


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_secured_write_with_a_user(sim_peer, pki_data_dir, mode):
    out = OpcuaStopOutput(stop_output(sim_peer.url), data_dir=pki_data_dir, security_mode=mode,
                          username=USER, password=PASSWORD)
    try:
        out.open()
        _stop_and_release(sim_peer, out)
    finally:
        out.close()
        sim_peer.call(lambda: sim_peer.sim.set_state("running"))


def test_wrong_password_is_refused_with_a_hint(sim_peer, pki_data_dir):
    out = OpcuaStopOutput(stop_output(sim_peer.url), data_dir=pki_data_dir, security_mode="SignAndEncrypt",
                          username=USER, password="wrong")
    with pytest.raises(DeviceError, match="check user and password"):
        out.open()
    assert not out.connected


def test_the_keep_alive_renews_the_secure_channel_and_the_stop_still_goes_out(sim_peer):
    out = OpcuaStopOutput(stop_output(sim_peer.url), channel_lifetime_s=1.0)
    try:
        out.open()
        first = out._wire._conn.security_token.TokenId
        deadline = time.monotonic() + 10
        while not out._wire.renew_due():  # 75 % of the lifetime
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out.check()
        out.fire()  # the first request on the renewed token
        assert out._wire._conn.security_token.TokenId != first
        assert sim_peer.sim.stop_active is True
        out.release()
    finally:
        out.close()
        sim_peer.call(lambda: sim_peer.sim.set_state("running"))


def test_a_server_gone_mid_session_reads_as_not_connected(restartable_peer):
    out = OpcuaStopOutput(stop_output(restartable_peer.url, timeout_ms=500))
    try:
        out.open()
        restartable_peer.thread.run(restartable_peer.server.stop())
        with pytest.raises(DeviceError):
            out.fire()
        assert not out.connected  # the output bank reconnects it (tests/guard/test_stop_never_lost.py)
        restartable_peer.thread.run(restartable_peer.server.start())
        out.open()
        out.fire()
        assert restartable_peer.sim.stop_active is True
    finally:
        out.close()


def test_a_session_the_server_no_longer_knows_is_dropped_not_retried_on(sim_peer):
    """A fault about the session itself (here the server closed it, as after a session timeout,
    while the channel stays open) closes the connection, so the output bank reconnects."""
    from asyncua import ua

    out = OpcuaStopOutput(stop_output(sim_peer.url))
    try:
        out.open()
        req = ua.CloseSessionRequest()
        req.DeleteSubscriptions = True
        with out._wire.lock:
            out._wire._call(req, time.monotonic() + 5)  # the server forgets the session; the socket stays
        assert out.connected
        with pytest.raises(DeviceError, match="BadSession"):
            out.fire()
        assert not out.connected
        out.open()
        out.fire()
        assert sim_peer.sim.stop_active is True
    finally:
        out.close()
        sim_peer.call(lambda: sim_peer.sim.set_state("running"))


def test_a_frozen_server_times_the_write_out_and_drops_the_connection(server_process):
    """SIGSTOP the server: the write must not hang beyond timeout_ms, and the connection is not
    reused (a late answer could otherwise be read as the answer to the next request)."""
    import os
    import signal

    proc, url = server_process
    out = OpcuaStopOutput(stop_output(url, timeout_ms=300))
    try:
        out.open()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(DeviceError, match="did not confirm the write"):
                out.fire()
            assert not out.connected
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        out.open()
        out.fire()
        out.release()
    finally:
        out.close()
