"""``werkvloer guard status | arm | disarm | reset --config FILE`` (issue 11).

Maintenance over a shell on the box itself: run by root or by the service
user (the owner of ``box.data_dir``) the verbs act as maintenance without a
PIN, because shell access already is that trust. They never prompt, print the
guard's new state, and the core audits them as role ``cli``. Anyone else gets
a clear refusal (use the UI with a maintenance PIN). ``status`` works for
anyone who can reach the core's socket, and falls back to the stored state
when the core is not running.

Exit codes: 0 done, 1 refused or the core does not answer, 2 bad config.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.config import BoxConfig

VERBS = {"arm": "armed", "disarm": "shadow"}
DEFAULT_CONFIG = "/etc/werkvloer/werkvloer.toml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer guard", description=(
        "Guard over a shell: status, arm, disarm (back to shadow) or reset a latched stop. Run by root or "
        "the service user on the box, these act as maintenance without a PIN; audited as 'cli'."))
    p.add_argument("verb", choices=["status", "arm", "disarm", "reset"])
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"box config (default {DEFAULT_CONFIG})")
    p.add_argument("--json", action="store_true", help="print the guard's status as JSON")
    return p


def may_maintain(data_dir: Path) -> bool:
    """Root, or the user the core runs as (it owns the data directory)."""
    uid = os.geteuid()
    if uid == 0:
        return True
    try:
        return data_dir.stat().st_uid == uid
    except OSError:
        return False


def _cli_grant(data_dir: Path) -> str:
    """The core takes a role only from a grant signed with the box's key (issue 16);
    root and the service user can read the key file, nobody else can."""
    from appliance.keys import role_grant, session_key
    from appliance.roles import CLI_ROLE

    return role_grant(session_key(data_dir), CLI_ROLE)


def describe(st: dict[str, Any]) -> str:
    mode = st.get("mode", "?")
    latched = "TRIPPED (stop latched" + (f": {st['cause'].get('name')})" if st.get("cause") else ")") \
        if st.get("tripped") else "not tripped"
    health = "healthy" if st.get("healthy") else "NOT healthy"
    lines = [f"guard: {mode}, {latched}, {health} ({st.get('state', '?')})"]
    if st.get("scheduling"):
        lines.append(f"  scheduling: {'real-time, ' + st['scheduling'] if st['scheduling'].startswith('fifo') else 'normal (no real-time priority)'}")
    for o in st.get("outputs", []):
        if o.get("ok"):
            what = f"ok, {o.get('want') or '-'} {'confirmed' if o.get('confirmed') else 'not confirmed yet'}"
        else:
            what = f"DOWN: {o.get('last_error') or 'connecting'}"
        lines.append(f"  output {o.get('name')} ({o.get('kind')}): {what}")
    lines.append(st.get("safety_note") or "Supplementary stop, not a safety function.")
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, load_config: Callable[[str], BoxConfig]) -> int:
    """``werkvloer guard``. ``load_config`` reads the box config (``appliance.config.load_config``,
    passed in by ``appliance.cli``: the config schema includes the guard's, so this module may not import it)."""
    args = parser().parse_args(argv)
    from appliance.exitcodes import run_command

    return run_command(f"werkvloer guard {args.verb}", lambda: _run(args, load_config))


def _run(args: argparse.Namespace, load_config: Callable[[str], BoxConfig]) -> int:
    from appliance.ipc import request_sync, socket_path

    cfg = load_config(args.config)  # a ConfigError: run_command prints its key paths, exit 2
    data_dir = Path(cfg.box.data_dir)
    sock = socket_path(data_dir)
    if args.verb != "status" and not may_maintain(data_dir):
        print(f"werkvloer guard {args.verb}: only root or the service user (owner of {data_dir}) may do this "
              "over a shell; use the UI and log in as maintenance.", file=sys.stderr)
        return 1
    try:
        if args.verb == "status":
            st = request_sync(sock, "guard.status")
        elif args.verb == "reset":
            st = request_sync(sock, "guard.reset", grant=_cli_grant(data_dir), source="cli")
        else:
            st = request_sync(sock, "guard.set_mode", mode=VERBS[args.verb], grant=_cli_grant(data_dir))
    except OSError as exc:  # appliance.ipc.CoreUnavailable
        if args.verb == "status":
            return _offline_status(cfg, exc, as_json=args.json)
        print(f"werkvloer guard {args.verb}: {exc} Start it (systemctl start werkvloer-core) and try again.",
              file=sys.stderr)
        return 1
    if st.get("ok") is False:
        print(f"werkvloer guard {args.verb}: refused: {st.get('error')}", file=sys.stderr)
        return 1
    st.pop("ok", None)
    print(json.dumps(st, indent=2, default=str) if args.json else describe(st))
    return 0


def _offline_status(cfg: Any, exc: OSError, *, as_json: bool) -> int:
    import sqlite3

    import sqlite_utils

    from appliance.storage import connect

    from . import store

    try:
        # Read-only: a root shell must not create or migrate the service's database.
        db = sqlite_utils.Database(connect(cfg.db_path, readonly=True))
        st = store.status(db)
        st["mode"] = store.stored_mode(db, default=cfg.guard.mode)
        db.conn.close()
    except sqlite3.Error as db_exc:  # no database yet either
        print(f"{exc}; {cfg.db_path} cannot be read either ({db_exc})", file=sys.stderr)
        return 1
    st.update(state="core not running", healthy=False)
    print(json.dumps(st, indent=2, default=str) if as_json else
          f"{exc}; the stored state:\n" + describe(st))
    return 1
