"""OPC UA peers for the tests: the simulator's asyncua server on a free loopback port.

asyncua's server takes ~3 s to build its standard address space, so the shared
server lives for the whole session, in its own thread with its own event loop
(a real peer: the client under test talks to it over TCP from the test's loop).
It offers every security mode and a user ``operator``/``geheim`` besides
anonymous logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appliance.simulator.opcua_server import child_process
from drivers.opcua.simserver import OpcuaSimServer
from models.training.machine import MachineSim, MachineState, TimelineStep
from tests.conftest import ROOT, free_port, wait_until

T = TypeVar("T")

USER, PASSWORD = "operator", "geheim"


def running_sim(seed: int) -> MachineSim:
    """A sim that keeps running (no random idle spells): energy and temperature keep changing."""
    return MachineSim(seed=seed, timeline=[TimelineStep(at_s=0.0, state=MachineState.RUNNING)])


class ServerThread:
    """An event loop in a thread that owns an OpcuaSimServer."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="opcua-sim", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10) -> T:
        async def _call() -> T:
            return fn()

        return self.run(_call(), timeout)

    def close(self) -> None:
        async def _cancel_leftovers() -> None:  # e.g. session timeout loops asyncua leaves behind
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Peer:
    def __init__(self, thread: ServerThread, server: OpcuaSimServer, sim: MachineSim) -> None:
        self.thread = thread
        self.server = server
        self.sim = sim

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, fn: Callable[[], T]) -> T:
        return self.thread.call(fn)


@contextlib.contextmanager
def serving(seed: int, **server_kw: Any) -> Iterator[Peer]:
    """A running simulated machine behind an OpcuaSimServer of its own, in a ServerThread."""
    thread = ServerThread()
    sim = running_sim(seed)
    server = OpcuaSimServer(sim, port=free_port(), rate_hz=20, advance=True, **server_kw)
    thread.run(server.start())
    try:
        yield Peer(thread, server, sim)
    finally:
        thread.run(server.stop())
        thread.close()


@pytest.fixture(scope="session")
def sim_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with serving(3, security=("None", "Sign", "SignAndEncrypt"), pki_dir=tmp_path_factory.mktemp("sim-pki"),
                 users={USER: PASSWORD}) as peer:
        yield peer


@pytest.fixture
def restartable_peer() -> Iterator[Peer]:
    """A server of its own (the test stops and restarts it on the same port)."""
    with serving(5) as peer:
        yield peer


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The simulator server in a child process (to freeze it with SIGSTOP)."""
    with child_process(["--port", str(free_port())], env={**os.environ, "PYTHONPATH": str(ROOT)}) as (proc, url):
        yield proc, url


async def until(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """tests.conftest.wait_until with the OPC UA tests' longer default deadline (returns ``cond``'s value)."""
    return await wait_until(cond, timeout, what, every_s=0.02)


@pytest.fixture
def pki_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the session's client certificate (RSA key generation is slow-ish)."""
    return tmp_path_factory.getbasetemp() / "opcua-box-data"
