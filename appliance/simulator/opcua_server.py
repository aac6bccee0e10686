"""Serve a :class:`MachineSim` alone over OPC UA, advanced in real time:
``python -m appliance.simulator.opcua_server --port 4840`` (tests and the
OPC UA benchmark run it as a separate process, through :func:`child_process`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator

from drivers.opcua.simserver import SECURITY_MODES, OpcuaSimServer
from models.training.machine import MachineSim


async def _serve(args: argparse.Namespace) -> None:
    sim = MachineSim(seed=args.seed)
    users = dict(u.split(":", 1) for u in args.user)
    async with OpcuaSimServer(sim, host=args.host, port=args.port, rate_hz=args.rate,
                              security=args.security, users=users, extra_items=args.extra_items,
                              advance=True, pki_dir=args.pki_dir) as server:
        print(f"ready {server.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


@contextlib.contextmanager
def child_process(argv: list[str], *, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """This server in a child process, with ``argv`` (see :func:`main`): yields the process and its
    URL once it listens; at the end it is terminated (killed if it is still there after 10 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "appliance.simulator.opcua_server", *argv], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready <url>" once it listens
        if not line.startswith("ready "):
            raise RuntimeError(f"the OPC UA simulator server did not start: {line!r}")
        yield proc, line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m appliance.simulator.opcua_server",
                                description="Serve the machine simulator over OPC UA (advances it in real time).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4840)
    p.add_argument("--rate", type=float, default=20.0, help="updates per second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--security", nargs="+", default=["None"], choices=list(SECURITY_MODES))
    p.add_argument("--pki-dir", default=None)
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    p.add_argument("--extra-items", type=int, default=0, help="Cell.Load.ItemNNNN nodes (benchmark)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
