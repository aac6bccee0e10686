"""The programme hub's FastAPI app: ``POST /api/v1/batches`` and the box list.

Every refused request gets a 4xx with ``{"detail": ...}`` and changes nothing
(an idempotency row for a refused body is kept so the same retry gets the
same answer). Overload (more than ``max_inflight`` requests at once, or no
database connection free) is 503 + ``Retry-After``: the box keeps the batch.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..schema import Batch, Receipt
from . import store
from .db import Database, HubError, Overloaded

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="the box's hub token (`werkvloer hub token create BOX`)")


def create_app(db: Database, *, max_inflight: int = 32, retry_after_s: int = 5,
               stale_after_s: float = store.STALE_IN_PROGRESS_S) -> FastAPI:
    app = FastAPI(title="Werkvloer programme hub", version="1",
                  description="Receives anonymised KPI batches from Werkvloer boxes, exactly once, in order.")
    app.state.db = db
    slots = threading.BoundedSemaphore(max_inflight)

    def busy() -> JSONResponse:
        return JSONResponse({"detail": "the hub is busy; send again later"}, status_code=503,
                            headers={"Retry-After": str(retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "invalid request", "errors": [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return busy()

    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        log.error("hub: %s", exc)
        return busy()

    @app.get("/api/v1/health", summary="The hub is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/api/v1/batches", summary="Deliver one sealed KPI batch",
        response_model=Receipt,
        responses={400: {"description": "Idempotency-Key missing"}, 401: {"description": "no or unknown token"},
                   403: {"description": "loan belongs to another box"},
                   409: {"description": "the same key is still in progress"},
                   413: {"description": "batch too large"},
                   422: {"description": "not a valid batch, or key reused with another body"},
                   503: {"description": "busy: send again after Retry-After"}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Batch"}}}}},
    )
    async def post_batch(request: Request,
                         idempotency_key: str | None = Header(None, alias="Idempotency-Key",
                                                              description="'<loan>:<seq>' of the batch"),
                         ) -> Any:
        creds: HTTPAuthorizationCredentials | None = await bearer(request)
        if not slots.acquire(blocking=False):
            return busy()
        try:
            body = await request.body()
            box = await run_in_threadpool(store.box_for_token, db, creds.credentials if creds else None)
            if box is None:
                return JSONResponse({"detail": "no valid hub token: send 'Authorization: Bearer <token>'"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
            ans = await run_in_threadpool(store.ingest, db, box=box, key=idempotency_key, body=body,
                                          stale_after_s=stale_after_s)
            return JSONResponse(ans.body, status_code=ans.status, headers=ans.headers)
        finally:
            slots.release()

    from . import pages

    pages.mount(app, db)

    # The Batch schema in the OpenAPI document (the body is read raw, so FastAPI does not add it itself).
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = original()
        defs = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
        comps = doc.setdefault("components", {}).setdefault("schemas", {})
        comps.update(defs.pop("$defs", {}))
        comps["Batch"] = defs
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app
