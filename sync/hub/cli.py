"""``werkvloer hub serve | token create BOX | token revoke BOX | boxes [--json]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .db import Database

DEFAULT_DB = "sqlite:///var/hub/hub.db"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer hub", description="The programme hub: receives KPI batches from boxes.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def db_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", default=DEFAULT_DB,
                        help=f"sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default {DEFAULT_DB})")

    sp = sub.add_parser("serve", help="Run the hub (FastAPI) on HOST:PORT.")
    db_arg(sp)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8443)
    sp.add_argument("--certfile", help="TLS certificate (PEM); without it the hub speaks plain http (loopback only)")
    sp.add_argument("--keyfile", help="TLS private key (PEM)")
    sp.add_argument("--max-inflight", type=int, default=32, help="requests at once before 503 (default 32)")
    sp.add_argument("--stale-after-s", type=float, default=30.0,
                    help="seconds after which a request that died mid-batch (hub killed) is taken over by its "
                         "retry (default 30; keep it at or below the boxes' 30 s shortest backoff)")
    sp.add_argument("--log-level", default="WARNING")

    sp = sub.add_parser("token", help="Create or revoke a box's token (only its hash is stored).")
    tsub = sp.add_subparsers(dest="token_verb", required=True, metavar="create|revoke")
    for name, help_ in (("create", "Print a new token for BOX (replaces its earlier one)."),
                        ("revoke", "Revoke BOX's token: its requests get 401 from now on.")):
        t = tsub.add_parser(name, help=help_)
        t.add_argument("box", help="the box's label at the hub (letters, digits, - _ .)")
        db_arg(t)
        if name == "create":
            t.add_argument("--coordinator", action="store_true",
                           help="a coordinator's token for the hub's pages (BOX is then the coordinator's name)")

    sp = sub.add_parser("boxes", help="List boxes: batches held, highest seq, last contact.")
    db_arg(sp)
    sp.add_argument("--json", action="store_true", help="a JSON list of {box, batches, last_seq, last_contact}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import store

    if args.verb == "serve":
        return serve(args)
    db = Database(args.db)
    try:
        if args.verb == "token" and args.token_verb == "create":
            print(store.create_token(db, args.box, role="coordinator" if args.coordinator else "box"))
            print(f"(token for {args.box}: put it in the box's secrets file as sync_token = \"...\"; "
                  "it is not shown again)", file=sys.stderr)
            return 0
        if args.verb == "token" and args.token_verb == "revoke":
            if store.revoke_token(db, args.box):
                print(f"revoked the token of {args.box}")
                return 0
            print(f"werkvloer hub: no active token for {args.box!r}; `werkvloer hub boxes` lists them", file=sys.stderr)
            return 1
        rows = store.boxes(db)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{'box':<24} {'batches':>8} {'last seq':>9}  last contact (UTC)")
            for r in rows:
                print(f"{r['box']:<24} {r['batches']:>8} {r['last_seq']:>9}  {r['last_contact'] or '-'}")
        return 0
    finally:
        db.close()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    logging.getLogger().setLevel(args.log_level.upper())
    if not args.certfile and args.host not in ("127.0.0.1", "::1", "localhost"):
        print("werkvloer hub: plain http only on a loopback address; give --certfile and --keyfile", file=sys.stderr)
        return 2
    db = Database(args.db)
    app = create_app(db, max_inflight=args.max_inflight, stale_after_s=args.stale_after_s)
    print(f"hub listening on {'https' if args.certfile else 'http'}://{args.host}:{args.port} ({db.kind})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, ssl_certfile=args.certfile, ssl_keyfile=args.keyfile,
                    log_level=args.log_level.lower(), access_log=False,
                    # A box's kept-alive connection must not hold a stopping hub open.
                    timeout_graceful_shutdown=5)
    finally:
        db.close()
    return 0
