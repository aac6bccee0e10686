"""``werkvloer sync status | preview | push | consent LEVEL [--yes]``, each with ``--config FILE``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from . import consent as consent_text

DEFAULT_CONFIG = "/etc/werkvloer/werkvloer.toml"
NS = 1_000_000_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer sync", description="Anonymised KPIs to the programme hub.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def cfg(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", default=DEFAULT_CONFIG, help=f"box config (default {DEFAULT_CONFIG})")
        return sp

    cfg(sub.add_parser("status", help="Consent, outbox (pending, delivered, quarantined), last delivery."))
    sp = cfg(sub.add_parser("preview", help="The exact next payload (pretty JSON) and its sha256."))
    sp.add_argument("--raw", action="store_true", help="print the frozen bytes instead of pretty JSON")
    sp = cfg(sub.add_parser("push", help="Seal closed periods and send them now; non-zero when the hub refused one."))
    sp.add_argument("--if-due", action="store_true", help="only when [sync] interval_min and the backoff have passed (what the systemd timer runs)")
    sp = cfg(sub.add_parser("consent", help="Set the consent level: off, kpi or kpi+check (shows the consent text)."))
    sp.add_argument("level", choices=consent_text.LEVELS)
    sp.add_argument("--yes", action="store_true", help="the company agreed to the text shown (needed to turn it on)")
    sp.add_argument("--lang", choices=("nl", "en"), default=None)
    return p


def _ts(ns: int | None) -> str:
    if not ns:
        return "-"
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from appliance.config import load_config

    from .outbox import Outbox

    cfg = load_config(args.config)
    with Outbox(cfg) as ob:
        if args.verb == "status":
            return _status(ob)
        if args.verb == "preview":
            return _preview(ob, raw=args.raw)
        if args.verb == "consent":
            return _consent(ob, args, lang=args.lang or cfg.box.language)
        return _push(ob, respect_backoff=args.if_due)


def _status(ob: object) -> int:
    from .outbox import Outbox

    assert isinstance(ob, Outbox)
    level, version = ob.consent()
    counts = dict(ob.conn.execute("SELECT state, count(*) FROM sync_batches GROUP BY state").fetchall())
    print(f"consent: {level}" + (f" (text version {version})" if version else ""))
    print(f"hub: {ob.cfg.sync.url or '(not set: [sync] url)'}")
    print(f"loan id: {ob.loan}")
    print(f"outbox: {counts.get('pending', 0)} pending, {counts.get('delivered', 0)} delivered, "
          f"{counts.get('quarantined', 0)} quarantined; {ob.undelivered_bytes() / 1e6:.2f} MB undelivered "
          f"(bound {ob.cfg.sync.outbox_limit_mb:g} MB)")
    last = ob.get_state("last_delivery")
    if last:
        print(f"last delivery: seq {last['seq']} at {_ts(last['ts'])} (hub holds up to {last['highest_contiguous_seq']})")
    else:
        print("last delivery: -")
    b = ob.get_state("backoff")
    if b:
        print(f"backing off: attempt {b['n']}, next try after {_ts(b['not_before'])}")
    for q in ob.batches(state="quarantined"):
        print(f"quarantined: seq {q.seq} (HTTP {q.last_status}): {q.last_error}")
    return 0


def _preview(ob: object, *, raw: bool) -> int:
    from .outbox import Outbox
    from .schema import sha256_hex

    assert isinstance(ob, Outbox)
    batch, body, sealed = ob.preview()
    if body is None:
        print("nothing to send: no closed KPI period after the last sealed one")
        return 0
    if raw:
        sys.stdout.write(body.decode("ascii") + "\n")
    else:
        print(json.dumps(json.loads(body), indent=2, sort_keys=True))
    state = "sealed; these bytes are sent as they are" if sealed else "not sealed yet (consent off or not pushed)"
    print(f"sha256 {sha256_hex(body)}  ({len(body)} bytes, {state})", file=sys.stderr)
    return 0


def _consent(ob: object, args: argparse.Namespace, *, lang: str) -> int:
    from .outbox import Outbox

    assert isinstance(ob, Outbox)
    if args.level != "off":
        print(consent_text.TEXT[lang])
        print(f"(consent text version {consent_text.VERSION})")
        if not args.yes:
            print(f"\nRun again with --yes when the company agrees: werkvloer sync consent {args.level} --yes",
                  file=sys.stderr)
            return 2
    ob.set_consent(args.level, version=consent_text.VERSION, role="admin")
    print(f"consent set to {args.level}")
    return 0


def _push(ob: object, *, respect_backoff: bool) -> int:
    from appliance.secrets import load_secrets

    from .client import SyncClient
    from .outbox import Outbox

    assert isinstance(ob, Outbox)
    level, _ = ob.consent()
    if level == "off":
        print("sync is off (no consent): nothing sealed, nothing sent. `werkvloer sync consent kpi` turns it on.")
        return 0
    client = SyncClient.from_config(ob, load_secrets())
    res = client.push(respect_backoff=respect_backoff, respect_interval=respect_backoff)
    if res.sealed:
        print(f"sealed {res.sealed} new batch(es)")
    if res.skipped_backoff_s is not None:
        print(f"not due: next run in {res.skipped_backoff_s:.0f} s (push without --if-due to send now)")
    for s in res.sent:
        print(f"seq {s.seq}: {s.outcome} (HTTP {s.status if s.status is not None else '-'}) {s.detail}")
    if not res.sent and res.skipped_backoff_s is None:
        print("nothing to send")
    if res.retry_in_s is not None:
        print(f"next try in {res.retry_in_s:.0f} s")
    return 1 if res.refused else 0
