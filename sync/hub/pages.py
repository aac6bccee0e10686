"""The hub's coordinator pages (Dutch default, English): boxes and last
contact, KPIs per box, roll-ups per sector x size class (cells < 10 firms
suppressed), baseline vs pilot per firm and the programme's effect, CSV
export (also Dutch Excel). A coordinator logs in with a coordinator token
(``werkvloer hub token create NAME --coordinator``) and gets a session: a
random id in an HttpOnly, SameSite=Strict cookie, its hash in
``hub_sessions`` (8 h; revoking the token ends it too). Log out deletes it.

Every form post (log in, log out) must come from the hub's own page: an
``Origin`` (or ``Referer``) of another site is refused, and the form's CSRF
token must equal the ``werkvloer_hub_csrf`` cookie the page set (double
submit; SameSite=Strict keeps that cookie off another site's posts). So no
other site can log a coordinator's browser into someone else's session or out
of their own."""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import analysis, store
from .db import Database

HERE = Path(__file__).parent
COOKIE = "werkvloer_hub"
CSRF_COOKIE = "werkvloer_hub_csrf"
NAV = [("/", "Boxes"), ("/rollups", "Roll-ups"), ("/effect", "Effect")]

NL = {
    "Werkvloer programme hub": "Werkvloer programmahub", "Boxes": "Boxen", "Roll-ups": "Overzichten",
    "Effect": "Effect", "Log in": "Inloggen", "Coordinator token": "Token van de coördinator",
    "A coordinator token: werkvloer hub token create NAME --coordinator":
        "Een token voor een coördinator: werkvloer hub token create NAAM --coordinator",
    "Box": "Box", "Batches": "Batches", "Last seq": "Laatste volgnummer", "Last contact (UTC)": "Laatste contact (UTC)",
    "Loan": "Uitleen", "sector": "sector", "Day (UTC)": "Dag (UTC)", "Phase": "Fase", "baseline": "nulmeting",
    "pilot": "pilot", "none": "geen", "Roll-ups per sector and size class": "Overzicht per sector en grootteklasse",
    "A cell with fewer than 10 firms is not shown (x), so that no company can be recognised.":
        "Een cel met minder dan 10 bedrijven wordt niet getoond (x), zodat geen bedrijf herkenbaar is.",
    "Sector": "Sector", "Size class": "Grootteklasse", "Firms": "Bedrijven", "OEE baseline": "OEE nulmeting",
    "OEE pilot": "OEE pilot", "Change": "Verandering", "Effect of the programme": "Effect van het programma",
    "Staggered difference-in-differences (Callaway & Sant'Anna 2021): firms whose pilot has not started yet are "
    "the comparison group; 95% interval from resampling whole firms.":
        "Verschil-in-verschillen met gespreide start (Callaway & Sant'Anna 2021): bedrijven waarvan de pilot nog "
        "niet begonnen is vormen de vergelijkingsgroep; 95%-interval door hele bedrijven opnieuw te trekken.",
    "Not enough firms with a baseline and a later pilot yet.":
        "Nog niet genoeg bedrijven met een nulmeting en een latere pilot.",
    "Estimate": "Schatting", "95% interval": "95%-interval", "OEE, relative": "OEE, relatief",
    "OEE, points": "OEE, procentpunten", "with a pilot": "met pilot", "drop-outs": "uitvallers",
    "resamples": "trekkingen", "Baseline vs pilot per firm": "Nulmeting en pilot per bedrijf",
    "Log out": "Uitloggen", "Unknown or revoked coordinator token.": "Onbekend of ingetrokken token van een coördinator.",
    "This form is out of date or came from another site: log in again here.":
        "Dit formulier is verlopen of kwam van een andere site: log hier opnieuw in.",
}


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def mount(app: FastAPI, db: Database) -> None:
    env = _env()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def lang_of(request: Request) -> str:
        q = request.query_params.get("lang")
        if q in ("nl", "en"):
            return q
        c = request.cookies.get("werkvloer_hub_lang")
        return c if c in ("nl", "en") else "nl"

    def render(request: Request, name: str, title: str, *, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)

        def t(s: str) -> str:
            return NL.get(s, s) if lang == "nl" else s

        csrf = request.cookies.get(CSRF_COOKIE) or ""
        fresh = len(csrf) < 32
        if fresh:
            csrf = secrets.token_urlsafe(32)
        html = env.get_template(name).render(lang=lang, t=t, title=t(title), nav=NAV, path=request.url.path,
                                             pct=_pct, cell=_cell, day=_day, csrf=csrf, **ctx)
        resp = HTMLResponse(html, status_code=status)
        if fresh:
            resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        if request.query_params.get("lang") in ("nl", "en"):
            resp.set_cookie("werkvloer_hub_lang", lang, httponly=True, samesite="strict")
        return resp

    async def coordinator(request: Request) -> str | None:
        return await run_in_threadpool(store.session_coordinator, db, request.cookies.get(COOKIE))

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    def form_ok(request: Request, csrf: str) -> bool:
        """Posted from the hub's own page: same origin, and the form's token is the page's cookie."""
        here = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        for header in ("origin", "referer"):
            came = request.headers.get(header)
            if came is not None:
                u = urlsplit(came)
                if f"{u.scheme}://{u.netloc}".lower() != here:
                    return False
                break  # the Origin decides; a Referer only when a browser sent no Origin
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        return len(cookie) >= 32 and hmac.compare_digest(csrf.encode(), cookie.encode())

    def refused(request: Request) -> HTMLResponse:
        resp = render(request, "login.html", "Log in", status=403,
                      error="This form is out of date or came from another site: log in again here.")
        return resp

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        return render(request, "login.html", "Log in")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request, token: str = Form(...), csrf: str = Form("")) -> Response:
        if not form_ok(request, csrf):
            return refused(request)
        who = await run_in_threadpool(store.box_for_token, db, token, role="coordinator")
        if who is None:
            return render(request, "login.html", "Log in", status=401, error="Unknown or revoked coordinator token.")
        sid = await run_in_threadpool(store.open_session, db, who)
        resp = RedirectResponse("/", status_code=303)
        secure = request.url.scheme == "https"
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure)
        # A new form token for the new session: one learnt before the login is worth nothing after it.
        resp.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="strict", secure=secure)
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        if not form_ok(request, csrf):
            return refused(request)
        await run_in_threadpool(store.close_session, db, request.cookies.get(COOKIE))
        resp = to_login()
        resp.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return resp

    @app.get("/", include_in_schema=False)
    async def boxes_page(request: Request) -> Response:
        if not await coordinator(request):
            return to_login()
        return render(request, "boxes.html", "Boxes", boxes=await run_in_threadpool(store.boxes, db))

    @app.get("/box/{box}", include_in_schema=False)
    async def box_page(request: Request, box: str) -> Response:
        if not await coordinator(request):
            return to_login()
        firms = [f for f in await run_in_threadpool(analysis.load_firms, db) if f.box == box]
        return render(request, "box.html", "Box", box=box, firms=firms)

    def _changes() -> list[dict[str, Any]]:
        now = int(time.time())
        return [analysis.firm_change(f, now) for f in analysis.load_firms(db)]

    @app.get("/rollups", include_in_schema=False)
    async def rollups_page(request: Request) -> Response:
        if not await coordinator(request):
            return to_login()
        rows = analysis.rollups(await run_in_threadpool(_changes))
        return render(request, "rollups.html", "Roll-ups", rows=rows)

    def _effect() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        firms = analysis.load_firms(db)
        now = int(time.time())
        return analysis.did_effect(firms), [analysis.firm_change(f, now) for f in firms]

    @app.get("/effect", include_in_schema=False)
    async def effect_page(request: Request) -> Response:
        if not await coordinator(request):
            return to_login()
        effect, firms = await run_in_threadpool(_effect)
        return render(request, "effect.html", "Effect", e=effect, firms=firms,
                      dropouts=sum(bool(f["drop_out"]) for f in firms))

    @app.get("/export.csv", include_in_schema=False)
    async def export(request: Request, what: str = "firms", dialect: str = "en") -> Response:
        if not await coordinator(request):
            return to_login()
        changes = await run_in_threadpool(_changes)
        rows = analysis.rollups(changes) if what == "rollups" else changes
        return Response(to_csv(rows, dutch=dialect == "nl"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="werkvloer-hub-{what}.csv"'})


def to_csv(rows: list[dict[str, Any]], *, dutch: bool = False) -> str:
    """CSV; ``dutch``: semicolons, decimal commas and a BOM (what Dutch Excel opens as is)."""
    buf = io.StringIO()
    if not rows:
        return ""
    w = csv.writer(buf, delimiter=";" if dutch else ",", lineterminator="\r\n")
    w.writerow(list(rows[0]))
    for r in rows:
        w.writerow([_csv_value(v, dutch) for v in r.values()])
    return ("\ufeff" if dutch else "") + buf.getvalue()


def _csv_value(v: Any, dutch: bool) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        s = f"{v:.6g}"
        return s.replace(".", ",") if dutch else s
    return str(v)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f} %"


def _cell(v: Any, scale: float = 1.0) -> str:
    if v is None:
        return "—"
    if v == "x":
        return "x"
    return f"{float(v) * scale:.1f}"


def _day(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()
