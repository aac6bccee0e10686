"""Health, live values (SSE relay of the core's IPC ``live`` stream), guard."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from .. import fmt, live_view, services
from ..access import api_guard, page_guard
from ..context import Req, ReqDep
from ..corelink import CoreDown

router = APIRouter()
log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0


def _parts_from_status(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise the core's ``status`` reply to a list of parts."""
    raw = status.get("parts", status)
    parts: list[dict[str, Any]] = []
    if isinstance(raw, list):
        items = [(p.get("name", "?"), p) for p in raw if isinstance(p, dict)]
    elif isinstance(raw, dict):
        items = [(k, v) for k, v in raw.items() if isinstance(v, dict)]
    else:
        items = []
    for name, p in items:
        parts.append({
            "name": str(name),
            "kind": p.get("kind"),
            "state": p.get("state", "ok" if p.get("available") else "unknown"),
            "last_good_utc_ns": p.get("last_good_utc_ns", p.get("last_good")),
            "detail": p.get("last_error") or p.get("detail"),
        })
    return parts


async def health_data(r: Req) -> dict[str, Any]:
    out: dict[str, Any] = {"ui": {"state": "ok", "since_utc_ns": r.state.started_ns}}
    try:
        status = await r.state.link.request("status")
    except (CoreDown, ValueError) as exc:
        out["core"] = {"state": "unavailable", "detail": str(exc)}
        out["parts"] = []
        return out
    out["core"] = {"state": "ok", "last_good_utc_ns": time.time_ns()}
    out["parts"] = _parts_from_status(status)
    return out


class PartHealth(BaseModel):
    name: str = Field(..., title="Part (source, guard, recorder, ...)")
    kind: str | None = Field(None, title="Kind")
    state: str = Field(..., title="State (ok, starting, unavailable, stopped, ...)")
    last_good_utc_ns: int | None = Field(None, title="Last good time, UTC ns")
    detail: str | None = Field(None, title="Last error or detail")


class HealthOut(BaseModel):
    ui: dict[str, Any] = Field(..., title="This UI process")
    core: dict[str, Any] = Field(..., title="The core process (state ok or unavailable)")
    parts: list[PartHealth] = Field(..., title="Each part of the core")


@router.get("/api/v1/health", response_model=HealthOut, tags=["health"])
async def health(r: Req = ReqDep) -> dict[str, Any]:
    """Each part (each source, the guard, the recorder) with state and last-good time."""
    return await health_data(r)


@router.get("/api/v1/live", tags=["live"], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "SSE: one JSON message per core update (~200 ms); "
                                            "{\"core\": \"unavailable\"} while the core is down"}})
async def live(view: Literal["values", "home"] = "values", r: Req = ReqDep) -> StreamingResponse:
    """Live values, guard and machine state as Server-Sent Events; ``view=home`` adds
    ``home``: the snapshot Home shows (the same as ``/api/v1/home``), in the session's language."""
    api_guard(r, "view")
    hub = r.state.hub
    lang, state = r.lang, r.state

    async def with_home(msg: dict[str, Any]) -> dict[str, Any]:
        cnt = await asyncio.to_thread(live_view.counts, state.db(), state.config)
        return {**msg, "home": live_view.home_view(msg, cnt, state.config, lang, reason_labeller(state.config, lang))}

    async def events() -> Any:
        failed = False
        yield "retry: 1000\n\n"
        async with hub.listen() as q:
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if view == "home":
                    try:
                        msg = await with_home(msg)
                    except Exception:  # noqa: BLE001 - the values still go out; the page keeps its last snapshot
                        if not failed:
                            log.exception("live: the Home snapshot failed; values only until it works again")
                        failed = True
                    else:
                        failed = False
                yield f"data: {json.dumps(msg, separators=(',', ':'), default=str)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def reason_labeller(config: Any, lang: str) -> Any:
    """code -> the reason's label in ``lang`` (the code itself when the tree does not know it)."""
    try:
        tree = services.reason_tree(config)
    except services.NotAvailable:
        return None

    def label(code: str) -> str:
        info = tree.find(code)
        return info.label(lang) if info is not None else code

    return label


async def live_message(r: Req) -> dict[str, Any]:
    """The hub's latest core message when fresh, else one asked of the core now."""
    latest = r.state.hub.latest
    if latest.get("core") == "up" and time.time_ns() - int(latest.get("ui_ts", 0)) < LIVE_FRESH_NS:
        return latest
    try:
        msg = await r.state.link.request("live")
    except (CoreDown, ValueError, PermissionError) as exc:
        return {"core": "unavailable", "reason": str(exc)}
    return {**msg, "core": "up", "ui_ts": time.time_ns()}


async def home_snapshot(r: Req) -> dict[str, Any]:
    msg = await live_message(r)
    cnt = await asyncio.to_thread(live_view.counts, r.state.db(), r.state.config)
    return live_view.home_view(msg, cnt, r.state.config, r.lang, reason_labeller(r.state.config, r.lang))


@router.get("/api/v1/home", tags=["live"])
async def api_home(r: Req = ReqDep) -> dict[str, Any]:
    """What Home shows now: machine state and since, current stop, OEE and rate today,
    stops needing a reason, unacknowledged alerts, guard and why it stopped (texts in the session's language)."""
    api_guard(r, "view")
    return await home_snapshot(r)


# ----- guard -------------------------------------------------------------------
LIVE_FRESH_NS = 1_500_000_000
RESET_SETTLE_S = 2.0  # after a reset: a cause that comes back trips again within this (jam: ~0.6 s)


async def guard_status(r: Req, *, fresh: bool = False) -> dict[str, Any]:
    """The guard's status from the core, or {"available": False}. Uses the
    live stream's copy when it is fresh (saves an IPC round trip per page), unless ``fresh``."""
    live = r.state.hub.latest
    if not fresh and live.get("core") == "up" and isinstance(live.get("guard"), dict) and \
            time.time_ns() - int(live.get("ui_ts", 0)) < LIVE_FRESH_NS:
        return {**live["guard"], "available": True}
    try:
        st = await r.state.link.request("guard.status")
    except CoreDown as exc:
        return {"available": False, "detail": str(exc)}
    except (ValueError, PermissionError) as exc:  # e.g. the core runs without a guard
        return {"available": False, "detail": str(exc)}
    st = dict(st.get("status", st)) if isinstance(st, dict) else {}
    st.pop("ok", None)
    st["available"] = True
    return st


class GuardModeIn(BaseModel):
    mode: Literal["off", "shadow", "armed"] = Field(..., title="Guard mode")


async def _guard_call(r: Req, op: str, *, role: str, **args: Any) -> dict[str, Any]:
    try:
        return await r.state.link.request_as(role, op, **args)
    except CoreDown as exc:
        raise HTTPException(503, r._("The core is not running; the guard cannot be changed now.")) from exc
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc


async def tripped_again(r: Req) -> dict[str, Any] | None:
    """After a reset: the guard's status if it trips again within ``RESET_SETTLE_S``, else None
    (also when the core stops answering)."""
    deadline = time.monotonic() + RESET_SETTLE_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        try:
            st = await r.state.link.request("guard.status")
        except (CoreDown, ValueError, PermissionError):
            return None
        st = st.get("status", st) if isinstance(st, dict) else {}
        if st.get("tripped"):
            return st  # type: ignore[no-any-return]
    return None


@router.get("/api/v1/guard", tags=["guard"])
async def guard_get(r: Req = ReqDep) -> dict[str, Any]:
    """Guard mode, trip state, models and outputs (from the core)."""
    api_guard(r, "view")
    return await guard_status(r)


@router.post("/api/v1/guard/mode", tags=["guard"])
async def guard_mode(body: GuardModeIn, r: Req = ReqDep) -> dict[str, Any]:
    """Arm, shadow or switch off the guard (maintenance, admin). The stop is
    a supplementary stop, not a safety function."""
    role = api_guard(r, "guard.mode")
    reply = await _guard_call(r, "guard.set_mode", mode=body.mode, role=role)
    r.audit("guard.set_mode", "guard", body.mode)
    return reply


@router.post("/api/v1/guard/reset", tags=["guard"])
async def guard_reset(r: Req = ReqDep) -> dict[str, Any]:
    """Reset a tripped guard (releases the stop output)."""
    role = api_guard(r, "guard.reset")
    # The guard would trip again at once while its cause holds: say so instead of a short-lived "reset".
    cause = (await home_snapshot(r))["guard"].get("cause") or {}
    if cause.get("persists"):
        raise HTTPException(409, f"{cause.get('refuse')} {cause.get('text') or ''}".strip())
    reply = await _guard_call(r, "guard.reset", role=role)
    r.audit("guard.reset", "guard")
    # A cause the signals no longer show while the machine stands (a jam draws no current at rest) comes
    # back once it runs: watch a short while, so nobody is told "reset" when it stopped again.
    if (st := await tripped_again(r)) is not None:
        values = (await live_message(r)).get("values") or {}
        cause = live_view.cause_view(st, values, r.state.config, r.lang) or {}
        raise HTTPException(409, r._("The guard stopped the machine again right after the reset: "
                                     "the cause is still there. Remove it first.") + " " + (cause.get("text") or ""))
    return reply


@router.post("/guard/mode", include_in_schema=False)
async def guard_mode_form(mode: Annotated[Literal["off", "shadow", "armed"], Form()],
                          next: Annotated[str, Form()] = "/", confirm: Annotated[str, Form()] = "",
                          r: Req = ReqDep) -> Response:
    page_guard(r, "guard.mode")
    if mode == "armed" and confirm != "1":  # arming may stop the machine: ask first
        return r.redirect("/settings?confirm_arm=1#guard")
    reply = await guard_mode(GuardModeIn(mode=mode), r)
    now = reply.get("status", reply).get("mode", mode) if isinstance(reply, dict) else mode
    r.flash(r._("Guard mode: %(mode)s.") % {"mode": r._(fmt.GUARD_LABELS.get(now, now))})
    return r.redirect(next if next.startswith("/") and not next.startswith("//") else "/")


@router.post("/guard/reset", include_in_schema=False)
async def guard_reset_form(next: Annotated[str, Form()] = "/", r: Req = ReqDep) -> Response:
    page_guard(r, "guard.reset")
    try:
        await guard_reset(r)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        return r.redirect(next if next.startswith("/") and not next.startswith("//") else "/")
    r.flash(r._("Guard reset."))
    return r.redirect(next if next.startswith("/") and not next.startswith("//") else "/")
