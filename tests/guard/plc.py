"""A real fault between the guard and a real PLC: a TCP hop in front of modbus-tk's server.

modbus-tk (an implementation independent of pymodbus, which the box uses) is
the PLC; :class:`FaultyLink` sits on the wire like a switch or a PLC's own TCP
stack would and injects faults as real sockets: it closes connections idle
for ``idle_close_s`` (as many PLCs do), answers the first
``refuse_writes`` write requests with Modbus exception 6 (server busy), and
holds the next ``slow_reads`` read requests (or ``slow_requests`` of any kind)
for ``read_delay_s`` before it passes them on (a PLC busy with its own scan,
or still starting).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

from ..conftest import free_port

WRITE_FUNCTIONS = {5, 6, 15, 16}
READ_FUNCTIONS = {1, 2, 3, 4}


class FaultyLink:
    def __init__(self, upstream_port: int, *, idle_close_s: float | None = None, refuse_writes: int = 0,
                 slow_reads: int = 0, read_delay_s: float = 0.3, slow_requests: int = 0) -> None:
        self.upstream_port = upstream_port
        self.idle_close_s = idle_close_s
        self.refuse_writes = refuse_writes
        self.slow_reads = slow_reads
        self.read_delay_s = read_delay_s
        self.slow_requests = slow_requests  # any request, read or write (a PLC still starting)
        self.slowed = 0
        self.port = free_port()
        self.accepted = 0
        self.refused = 0
        self.idle_closed = threading.Event()  # set each time an idle connection was closed
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    def __enter__(self) -> FaultyLink:
        t = threading.Thread(target=self._accept, name="faulty-link", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        for s in list(self._socks):
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(2)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            t = threading.Thread(target=self._serve, args=(client,), name="faulty-link-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._socks += [client, upstream]
        buf = b""
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, upstream], [], [], self.idle_close_s or 0.2)
                if not ready:
                    if self.idle_close_s is not None:
                        self.idle_closed.set()  # the PLC drops an idle connection
                        return
                    continue
                if upstream in ready:
                    data = upstream.recv(4096)
                    if not data:
                        return
                    client.sendall(data)
                if client in ready:
                    data = client.recv(4096)
                    if not data:
                        return
                    buf += data
                    while len(buf) >= 7:
                        length = struct.unpack(">H", buf[4:6])[0]
                        if len(buf) < 6 + length:
                            break
                        frame, buf = buf[:6 + length], buf[6 + length:]
                        if self.slowed < self.slow_requests or (
                                frame[7] in READ_FUNCTIONS and self.slowed < self.slow_reads):
                            self.slowed += 1
                            time.sleep(self.read_delay_s)  # the fault itself: a PLC slow to answer
                        if frame[7] in WRITE_FUNCTIONS and self.refused < self.refuse_writes:
                            self.refused += 1
                            client.sendall(frame[:4] + struct.pack(">HBBB", 3, frame[6], frame[7] | 0x80, 6))
                        else:
                            upstream.sendall(frame)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()
