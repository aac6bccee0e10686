"""The API reference at /api/v1/docs, drawn on the server from the app's own OpenAPI
document: no CDN, no script (Swagger UI from a CDN stayed blank offline, and the
pip-packaged Swagger UI 4 cannot read OpenAPI 3.1). The document itself is /openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

router = APIRouter()
METHODS = ("get", "post", "put", "patch", "delete")


def _params(op: dict[str, Any]) -> str:
    names = [f"{p['name']} ({p.get('in', '')}{', required' if p.get('required') else ''})"
             for p in op.get("parameters", [])]
    if "requestBody" in op:
        names.append("JSON body" if "application/json" in op["requestBody"].get("content", {}) else "form body")
    return ", ".join(names)


@router.get("/api/v1/docs", include_in_schema=False)
def docs_page(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    groups: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            tag = (op.get("tags") or ["other"])[0]
            desc = escape((op.get("description") or "").strip()).replace("\n", "<br>")
            groups.setdefault(tag, []).append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code></td>"
                f"<td><strong>{escape(op.get('summary', ''))}</strong><br>{desc}</td><td>{escape(_params(op))}</td></tr>")
    body = "".join(f"<h2 id='{escape(tag)}'>{escape(tag)}</h2><table><tr><th>method</th><th>path</th><th>what</th>"
                   f"<th>parameters</th></tr>{''.join(rows)}</table>" for tag, rows in sorted(groups.items()))
    info = spec.get("info", {})
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(info.get('title', 'API'))}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='stylesheet' href='/static/app.css'>"
        f"</head><body><main id='main' class='card api-docs'><h1 class='api-title'>{escape(info.get('title', ''))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p><p><a href='/openapi.json'>/openapi.json</a> "
        f"(OpenAPI {escape(spec.get('openapi', ''))})</p>{body}</main></body></html>")
