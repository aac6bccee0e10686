"""The sync page for the coordinator: consent (with the consent text), the
exact next payload and its sha256, the last delivery and quarantined batches.
The same facts as ``werkvloer sync status`` / ``preview``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response

from ..access import api_guard, page_guard
from ..context import Req, ReqDep

router = APIRouter()

NS = 1_000_000_000
CAPABILITY = "kpi.edit"  # coordinator and admin


def sync_view(r: Req) -> dict[str, Any]:
    from sync import consent as consent_text
    from sync.outbox import Outbox
    from sync.schema import sha256_hex

    cfg = r.state.config
    with Outbox(cfg, db_path=r.state.db_path) as ob:
        level, version = ob.consent()
        _batch, body, sealed = ob.preview()
        counts = dict(ob.conn.execute("SELECT state, count(*) FROM sync_batches GROUP BY state").fetchall())
        quarantined = [{"seq": q.seq, "status": q.last_status, "error": q.last_error, "ts": q.done_ts}
                       for q in ob.batches(state="quarantined")]
        return {
            "level": level, "version": version, "levels": consent_text.LEVELS,
            "text": consent_text.TEXT[r.lang], "text_version": consent_text.VERSION,
            "url": cfg.sync.url, "programme": cfg.sync.programme, "sector": cfg.sync.sector,
            "size_class": cfg.sync.size_class,
            "payload": json.dumps(json.loads(body), indent=2, sort_keys=True) if body else None,
            "sha256": sha256_hex(body) if body else None, "bytes": len(body) if body else 0, "sealed": sealed,
            "pending": counts.get("pending", 0), "delivered": counts.get("delivered", 0),
            "quarantined_n": counts.get("quarantined", 0), "quarantined": quarantined,
            "last": ob.get_state("last_delivery"), "backoff": ob.get_state("backoff"),
            "undelivered_mb": ob.undelivered_bytes() / 1e6, "limit_mb": cfg.sync.outbox_limit_mb,
        }


@router.get("/sync", include_in_schema=False)
def sync_page(r: Req = ReqDep) -> Response:
    page_guard(r, CAPABILITY)
    return r.render("sync.html", s=sync_view(r))


@router.post("/sync/consent", include_in_schema=False)
def sync_consent(level: Annotated[str, Form()], agree: Annotated[str, Form()] = "", r: Req = ReqDep) -> Response:
    page_guard(r, CAPABILITY)
    from sync import consent as consent_text
    from sync.outbox import Outbox

    if level not in consent_text.LEVELS:
        raise HTTPException(422, r._("Choose off, kpi or kpi+check."))
    if level != "off" and not agree:
        r.flash(r._("Tick that the company agrees to the text above; nothing was changed."), "bad")
        return r.redirect("/sync#consent")
    with Outbox(r.state.config, db_path=r.state.db_path) as ob:
        ob.set_consent(level, version=consent_text.VERSION, role=r.role or "anonymous")
    r.flash(r._("Sync consent saved."))
    return r.redirect("/sync")


@router.get("/api/v1/sync", summary="Sync: consent, outbox, last delivery and the exact next payload")
def sync_api(r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, CAPABILITY)
    return sync_view(r)
