"""Home: the operator's screen."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.errors import PermissionDenied

from .. import labels, services, trends_view
from ..access import api_guard, page_guard
from ..context import Req, ReqDep
from .core import home_snapshot

router = APIRouter()


def attempt(fn: Any, *args: Any) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except services.NotAvailable as exc:
        return None, str(exc)


def configured_signals(cfg: Any, lang: str = "nl") -> list[dict[str, Any]]:
    out = []
    for s in labels.signals(cfg).values():
        if getattr(s, "type", None) == "block":
            continue  # vibration blocks: a chart, not a number
        out.append({"name": s.name, "unit": labels.display_unit(s.unit), "label": labels.signal_label(cfg, s.name, lang)})
    return out


async def home_data(r: Req) -> dict[str, Any]:
    cfg = r.state.config
    db = r.db
    home = await home_snapshot(r)
    step, err = attempt(services.next_step, db, cfg, r.lang, home["guard"].get("mode"))
    product = None
    if cfg.machine.products:
        product, _ = attempt(services.product_choice, db, cfg)
    sparks = {s["name"]: s for s in trends_view.sparkline_signals(cfg, r.lang)}
    return {"home": home, "next_step": {"error": err, **(step or {})}, "signals": configured_signals(cfg, r.lang),
            "product": product, "sparks": sparks}


@router.get("/", include_in_schema=False)
async def home(r: Req = ReqDep) -> Response:
    page_guard(r, "view")
    return r.render("home.html", **(await home_data(r)))


@router.get("/api/v1/trends", tags=["live"])
def api_trends(window_s: Annotated[int, Query(ge=10, le=3600, description="seconds of history")] = trends_view.WINDOW_S,
               signal: Annotated[str | None, Query(max_length=63, description="one signal (default: all)")] = None,
               r: Req = ReqDep) -> dict[str, Any]:
    """Home's sparklines: per numeric signal its recorded values of the last ``window_s``
    (``t`` UTC ns, ``v``; at most 300 points, the newest always kept), its label and unit in the
    session's language, and the limits of the guard rules that watch it."""
    api_guard(r, "view")
    return trends_view.history(r.db, r.state.config, r.lang, window_s=window_s, signal=signal)


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
