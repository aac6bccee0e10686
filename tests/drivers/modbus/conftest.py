"""Real peers for the Modbus tests: pymodbus's server, modbus-tk's server
(an independent implementation), socat pty pairs, the simulator's server."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from appliance.bus import Bus
from drivers.samples import Sample
from tests.conftest import wait_until as shared_wait_until


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999): a client that
    connects to a port in that range while nobody listens can be handed the
    same port as its source and connect to itself, and then the restarted
    server cannot bind."""
    for _ in range(200):
        candidate = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError("no free port in 20000-32000")


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """tests.conftest.wait_until with the Modbus tests' longer default deadline."""
    await shared_wait_until(predicate, timeout, what, every_s=0.01)


class Collector:
    """A bus plus every sample it carried, for assertions."""

    def __init__(self) -> None:
        self.bus = Bus()
        self.samples: list[Sample] = []
        self.bus.subscribe_fast(self.samples.append)

    def of(self, signal: str) -> list[Sample]:
        return [s for s in self.samples if s.signal == signal]

    def last(self, signal: str) -> Sample | None:
        found = self.of(signal)
        return found[-1] if found else None

    async def wait_value(self, signal: str, predicate: Callable[[Sample], bool], timeout: float = 10.0) -> Sample:
        start = len(self.samples)

        def hit() -> bool:
            return any(s.signal == signal and predicate(s) for s in self.samples[start:])

        await wait_until(hit, timeout, f"a sample of {signal} that matches")
        return next(s for s in self.samples[start:] if s.signal == signal and predicate(s))


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def pty_pair() -> Iterator[tuple[str, str]]:
    """Two connected pseudo terminals (a null-modem cable) made by socat."""
    proc = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
                            stderr=subprocess.PIPE, text=True)
    names: list[str] = []
    assert proc.stderr is not None
    deadline = time.monotonic() + 10
    while len(names) < 2 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"PTY is (\S+)", line)
        if m:
            names.append(m.group(1))
    assert len(names) == 2, "socat did not report two ptys"
    try:
        yield names[0], names[1]
    finally:
        proc.terminate()
        proc.wait(5)


@contextlib.asynccontextmanager
async def pymodbus_server(port: int, simdata: tuple, device_id: int = 1) -> AsyncIterator[object]:
    """pymodbus's own TCP server on 127.0.0.1:``port`` with (coils, discretes, holding, input) SimData lists."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import SimDevice

    server = ModbusTcpServer(SimDevice(id=device_id, simdata=simdata), address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        yield server
    finally:
        await server.shutdown()


class TkServer:
    """modbus-tk's TCP server (threaded, independent of pymodbus) with test verbs."""

    def __init__(self, port: int) -> None:
        import modbus_tk.defines as cst
        from modbus_tk import modbus_tcp

        self.port = port
        self.cst = cst
        self.server = modbus_tcp.TcpServer(port=port, address="127.0.0.1", timeout_in_sec=0.05)
        self.slave = self.server.add_slave(1)
        self.slave.add_block("hr", cst.HOLDING_REGISTERS, 0, 120)
        self.slave.add_block("ir", cst.ANALOG_INPUTS, 0, 20)
        self.slave.add_block("co", cst.COILS, 0, 32)
        self.slave.add_block("di", cst.DISCRETE_INPUTS, 0, 32)

    def set(self, block: str, address: int, values: list[int]) -> None:
        self.slave.set_values(block, address, values)

    def __enter__(self) -> TkServer:
        import socket
        import time

        self.server.start()
        # modbus-tk binds and listens in its own thread after start() returns: wait until the
        # port accepts, or the first poll of a test can meet a refused connection (seen under load).
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


@pytest.fixture
def tk_server(port: int) -> Iterator[TkServer]:
    with TkServer(port) as srv:
        yield srv
