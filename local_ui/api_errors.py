"""One error body for the whole JSON API, and every error status documented (issue 16).

Every API error is ``{"detail": "what went wrong and what to do", "problems": [...]}``
(``problems``: one line per invalid field on a 422, else empty), with a 4xx
status: 400 malformed request or unknown Host, 401 not logged in with a role
that may, 403 the role may not / no CSRF token / foreign Origin, 404 not
found, 409 conflicts (first start: no admin PIN yet), 413 too large, 422
invalid input, 429 locked out after wrong PINs; 503 only when the core is
not running. ``install(app)`` documents these on every ``/api/`` operation,
with this body instead of FastAPI's default 422 schema, and makes an
unexpected exception a logged 500 with the same body, never a bare traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


# A row id as SQLite stores it: a larger one is a documented 422, not an OverflowError (issue 16).
DbId = Annotated[int, Path(ge=1, le=2**63 - 1, description="id (1 .. 2^63-1)")]


class ApiError(BaseModel):
    detail: str = Field(..., title="What went wrong and what to do")
    problems: list[str] = Field(default_factory=list, title="One line per invalid field (422)")


ERRORS: dict[int, str] = {
    400: "Malformed request, or a Host this box does not answer to",
    401: "Not logged in with a role that may do this",
    403: "The role may not do this, the CSRF token is missing, or the request came from another site",
    404: "Not found",
    409: "Conflict with the box's state (first start: set the admin PIN at the box)",
    413: "Too large",
    422: "Invalid input; `problems` names each field",
    429: "Locked out after too many wrong PINs; try again later",
    503: "The core is not running (values and guard commands need it)",
}


def error_response(status: int, detail: Any, *, problems: list[str] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    if isinstance(detail, list):  # an HTTPException raised with a list of problems
        problems, detail = [str(p) for p in detail], "; ".join(str(p) for p in detail)
    body = ApiError(detail=str(detail), problems=problems or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers) if headers else None)


def validation_problems(errors: Any) -> list[str]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "input")
        out.append(f"{where}: {e.get('msg', 'invalid')}")
    return out


def install(app: FastAPI) -> None:
    """Document the error responses of every API operation and catch the unexpected."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ApiError"] = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
            ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}
            for path, ops in schema.get("paths", {}).items():
                if not path.startswith("/api/"):
                    continue
                for op in ops.values():
                    responses = op.setdefault("responses", {})
                    for status, text in ERRORS.items():
                        responses[str(status)] = {"description": text, **ref}
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("ui: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc,
                  exc_info=exc)
        return error_response(500, "internal error; the box logged it (journalctl -u werkvloer-ui)")
