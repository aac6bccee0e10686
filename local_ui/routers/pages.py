"""Home: the operator's screen."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.errors import PermissionDenied

from .. import charts, fmt, services
from ..app import api_guard, page_guard
from ..context import Req, ReqDep
from .core import guard_status

router = APIRouter()


def attempt(fn: Any, *args: Any) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except services.NotAvailable as exc:
        return None, str(exc)


def configured_signals(cfg: Any) -> list[dict[str, Any]]:
    out = []
    for dev in [*cfg.sources.modbus, *cfg.sources.opcua]:
        for s in dev.signals:
            if getattr(s, "type", None) == "block":
                continue  # vibration blocks: a chart, not a number
            out.append({"name": s.name, "unit": s.unit, "label": s.description or s.name.replace("_", " ")})
    if cfg.sources.gpio is not None:
        for s in [*cfg.sources.gpio.inputs, *cfg.sources.gpio.analog]:
            out.append({"name": s.name, "unit": getattr(s, "unit", None), "label": s.description or s.name.replace("_", " ")})
    return out


async def home_data(r: Req) -> dict[str, Any]:
    cfg = r.state.config
    f = fmt.Formatter(r.lang, cfg.box.timezone)
    db = r.db
    live = r.state.hub.latest
    state = live.get("state") if live.get("core") == "up" else None
    key = fmt.state_key((state or {}).get("state"))
    if key == "unknown" and live.get("core") == "up":
        # The KPI engine's state when it runs, else the PLC's own state word.
        st = live.get("state") or {}
        vals = live.get("values") or {}
        if "state" in st:
            key = fmt.state_key(st["state"])
        elif "machine_state" in vals:
            key = fmt.state_key(vals["machine_state"].get("v"))
        elif "running" in vals:
            key = "running" if vals["running"].get("v") else "idle"
    machine = {"key": key, "label": fmt.STATE_LABELS[key],
               "since": f.time((state or {}).get("since_utc_ns")) if state else None}

    oee, err = attempt(services.oee_today, db, cfg)
    oee_ctx: dict[str, Any] = {"error": err}
    rate_ctx: dict[str, Any] = {"error": err}
    if oee:
        oee_ctx["oee"] = oee.get("oee")
        oee_ctx["bars"] = charts.hbars(
            [(r._("Availability"), oee.get("availability"), charts.GREEN),
             (r._("Performance"), oee.get("performance"), charts.BLUE),
             (r._("Quality"), oee.get("quality"), charts.AMBER)],
            label=r._("OEE parts"), fmt=lambda v: f.pct(v, 0))
        rate_ctx = {"error": None, "parts_per_hour": oee.get("parts_per_hour"),
                    "good": oee.get("good"), "scrap": oee.get("scrap")}

    current, err = attempt(services.current_stop, db, cfg, r.lang)
    needing, _ = attempt(services.stops_needing_reason, db, cfg, r.lang)
    stop_ctx: dict[str, Any] = {"error": err, "current": None, "needing": len(needing or [])}
    if current:
        stop_ctx["current"] = {"duration": f.duration(current.get("duration_s")), "reason": current.get("reason_label")}

    gs = await guard_status(r)
    cause = gs.get("cause") if gs.get("tripped") else None
    if isinstance(cause, dict):  # {kind, name, signal, ts} from the guard
        cause = f"{cause.get('name') or cause.get('kind') or ''}" + (f" ({cause['signal']})" if cause.get("signal") else "")
    key = fmt.guard_key(gs)
    guard = {"key": key, "cause": cause, "label": fmt.GUARD_LABELS[key]}

    step, err = attempt(services.next_step, db, cfg, r.lang, gs.get("mode"))
    product = None
    if cfg.machine.products:
        product, _ = attempt(services.product_choice, db, cfg)
    return {"machine": machine, "oee": oee_ctx, "rate": rate_ctx, "stop": stop_ctx, "guard": guard,
            "next_step": {"error": err, **(step or {})}, "signals": configured_signals(cfg), "product": product}


@router.get("/", include_in_schema=False)
async def home(r: Req = ReqDep) -> Response:
    page_guard(r, "view")
    return r.render("home.html", **(await home_data(r)))


# ----- product chooser (ideal cycle time per product, ISO 22400 PRI) ----------------------
class ProductIn(BaseModel):
    product: str | None = Field(..., title="Product id from machine.products (null = none chosen)", max_length=63)


def _set_product(r: Req, product_id: str | None) -> dict[str, Any]:
    cfg = r.state.config
    if not cfg.machine.products:
        raise HTTPException(409, r._("No products are configured (machine.products)."))
    try:
        services.set_product(r.db, cfg, product_id=product_id, role=r.role or "operator")
    except PermissionDenied as exc:
        raise HTTPException(403, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return services.product_choice(r.db, cfg)  # type: ignore[no-any-return]


@router.get("/api/v1/product", tags=["kpi"])
def api_product(r: Req = ReqDep) -> dict[str, Any]:
    """The configured products, the one the operator chose, and whether a PLC signal decides."""
    api_guard(r, "view")
    try:
        return services.product_choice(r.db, r.state.config)  # type: ignore[no-any-return]
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


@router.post("/api/v1/product", tags=["kpi"])
def api_set_product(body: ProductIn, r: Req = ReqDep) -> dict[str, Any]:
    """Choose the product being made (its ideal cycle time counts from the KPI engine's next write).
    Every role may (the operator at the machine); audited."""
    api_guard(r, "stops")
    return _set_product(r, body.product)


@router.post("/product", include_in_schema=False)
def product_form(product: Annotated[str, Form()], r: Req = ReqDep) -> Response:
    page_guard(r, "stops")
    try:
        chosen = _set_product(r, product or None)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        return r.redirect("/")
    name = next((p["name"] for p in chosen["products"] if p["id"] == chosen["current"]), product)
    r.flash(r._("Product: %(name)s") % {"name": name})
    return r.redirect("/")
