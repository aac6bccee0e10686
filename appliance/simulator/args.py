"""Command-line arguments of ``werkvloer simulate`` (kept light: no server imports)."""

from __future__ import annotations

import argparse

from models.training.machine import FAULTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="run",
                   choices=["run", "inject", "clear", "state", "values", "history"],
                   help="run the simulator (default), or send inject/clear/state/values to a running one; "
                        "`history --config FILE --days N [--pilot-from-day K]` fills the store with closed KPI periods")
    p.add_argument("arg", nargs="?", help=f"fault for inject ({', '.join(FAULTS)}) or state for state (running, idle, down, setup)")
    p.add_argument("--host", default="127.0.0.1", help="listen address of every server (default 127.0.0.1)")
    p.add_argument("--modbus-port", type=int, default=5020, help="Modbus TCP port (default 5020, 0 = off)")
    p.add_argument("--opcua-port", type=int, default=4840, help="OPC UA port (default 4840, 0 = off)")
    p.add_argument("--control-port", type=int, default=5021, help="JSON-lines control port (default 5021)")
    p.add_argument("--timeline", help="TOML file of [[step]] at_s=, state=, fault=, product=, scrap_next= (deterministic run)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--severity", type=float, default=1.0, help="fault severity 0..1 for inject (default 1)")
    p.add_argument("--mean-run-s", type=float, default=600.0, help="free-running: mean seconds running before a stop")
    p.add_argument("--mean-stop-s", type=float, default=90.0, help="free-running: mean seconds stopped")
