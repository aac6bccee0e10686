"""Models (maintenance, admin): list versions, install (upload .tflite + manifest.json,
validated by models.runtime), run a candidate in shadow, compare, activate, roll back.

The registry (``appliance.models.registry``) does the work and writes the audit rows;
after each slot change the core is asked to apply it (IPC ``models.reload``).
When the core is down the change takes effect at its next start.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.errors import ModelError, PermissionDenied

from .. import services
from ..access import api_guard, page_guard
from ..context import Req, ReqDep
from ..corelink import CoreDown
from .core import guard_status

router = APIRouter()

MAX_MODEL_BYTES = 50 * 1024 * 1024  # a Werkvloer model is kilobytes; this only stops a wrong file
MAX_MANIFEST_BYTES = 1024 * 1024


def _registry(r: Req) -> Any:
    try:
        return services.model_registry(r.db, r.state.config)
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


async def ask_core_reload(r: Req) -> dict[str, Any]:
    """Ask the core to apply the registry's slots now; say what happened."""
    try:
        reply = await r.state.link.request("models.reload")
    except CoreDown:
        return {"applied": False, "pending": False, "models": [], "core_running": False,
                "message": r._("The core is not running: the change takes effect at its next start.")}
    except (PermissionError, ValueError) as exc:
        return {"applied": False, "pending": False, "models": [], "core_running": True,
                "message": r._("The core could not apply the change now: %(error)s") % {"error": str(exc)}}
    models = reply.get("models", [])
    errors = [m["error"] for m in models if m.get("error")]
    if reply.get("pending"):
        msg = r._("The core is loading the new model; the guard status shows when it runs.")
    elif errors:
        msg = r._("The guard kept its previous model: %(error)s") % {"error": "; ".join(errors)}
    else:
        msg = r._("The guard runs the new model now.")
    return {"applied": not errors and not reply.get("pending"), "pending": bool(reply.get("pending")),
            "models": models, "core_running": True, "message": msg}


async def _save_upload(upload: UploadFile, dest: Path, limit: int, r: Req) -> None:
    size = 0
    with dest.open("wb") as fh:
        while chunk := await upload.read(1 << 16):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, r._("The file is too large for a model (at most %(mb)s MB).")
                                    % {"mb": limit // (1024 * 1024)})
            fh.write(chunk)
    if size == 0:
        raise HTTPException(422, r._("Choose both files: the model (.tflite) and its manifest.json."))


async def install_upload(r: Req, role: str, model: UploadFile, manifest: UploadFile) -> dict[str, Any]:
    """Validate and register an uploaded model as a candidate; HTTPException 422 says what is wrong."""
    reg = _registry(r)
    staging = Path(r.state.config.box.data_dir) / "models"
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=staging))
    try:
        await _save_upload(model, tmp / "model.tflite", MAX_MODEL_BYTES, r)
        await _save_upload(manifest, tmp / "manifest.json", MAX_MANIFEST_BYTES, r)
        try:
            mv = reg.install(tmp / "model.tflite", tmp / "manifest.json", by_role=role)
        except PermissionDenied as exc:
            raise HTTPException(403, str(exc)) from exc
        except (ModelError, ValueError, OSError) as exc:
            raise HTTPException(422, r._("The model was not installed: %(error)s") % {"error": str(exc)}) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"installed": {"model": mv.model_id, "version": mv.version, "sha256": mv.sha256},
            "model": services.model_view(reg, mv.model_id)}


def change(r: Req, role: str, model_id: str, action: str, *, version: str | None = None,
           slot: str = "active") -> Any:
    """shadow | activate | rollback | shadow-clear through the registry (audited there)."""
    reg = _registry(r)
    if model_id not in reg.model_ids():
        raise HTTPException(404, r._("No model %(model)s on this box.") % {"model": model_id})
    try:
        if action == "shadow":
            reg.activate(model_id, str(version), slot="shadow", by_role=role)
        elif action == "activate":
            reg.activate(model_id, str(version), slot="active", by_role=role)
        elif action == "rollback":
            reg.rollback(model_id, slot="shadow" if slot == "shadow" else "active", by_role=role)
        elif action == "shadow-clear":
            reg.clear_shadow(model_id, by_role=role)
        else:
            raise HTTPException(404, action)
    except PermissionDenied as exc:
        raise HTTPException(403, str(exc)) from exc
    except (ModelError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return reg


# ----- JSON API -------------------------------------------------------------------
class VersionIn(BaseModel):
    version: str = Field(..., title="Model version", min_length=1, max_length=64)


class RollbackIn(BaseModel):
    slot: Literal["active", "shadow"] = Field("active", title="Slot to roll back")


@router.get("/api/v1/models", tags=["models"])
async def api_models(r: Req = ReqDep) -> dict[str, Any]:
    """Every model with its versions (active, shadow, candidate, shipped), the evaluation figures
    from each manifest and the shadow comparison (agreement, correlation) the guard reported."""
    api_guard(r, "models")
    gs = await guard_status(r)
    try:
        return {"models": services.models_list(r.db, r.state.config, gs if gs.get("available") else None)}
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


@router.post("/api/v1/models", tags=["models"], status_code=201)
async def api_install(model: Annotated[UploadFile, File(description="The model file (.tflite)")],
                      manifest: Annotated[UploadFile, File(description="Its manifest.json")],
                      r: Req = ReqDep) -> dict[str, Any]:
    """Install a model as a candidate (multipart: ``model`` + ``manifest``). Validated first:
    flatbuffer identifier, SHA-256 from the manifest, tensor shapes, a test inference."""
    role = api_guard(r, "models")
    return await install_upload(r, role, model, manifest)


async def _api_change(r: Req, model_id: str, action: str, **kw: Any) -> dict[str, Any]:
    role = api_guard(r, "models")
    reg = change(r, role, model_id, action, **kw)
    return {"model": services.model_view(reg, model_id), "core": await ask_core_reload(r)}


@router.post("/api/v1/models/{model_id}/shadow", tags=["models"])
async def api_shadow(model_id: str, body: VersionIn, r: Req = ReqDep) -> dict[str, Any]:
    """Run a version in shadow beside the active one (it never stops the machine)."""
    return await _api_change(r, model_id, "shadow", version=body.version)


@router.post("/api/v1/models/{model_id}/shadow/clear", tags=["models"])
async def api_shadow_clear(model_id: str, r: Req = ReqDep) -> dict[str, Any]:
    """Stop running a shadow version."""
    return await _api_change(r, model_id, "shadow-clear")


@router.post("/api/v1/models/{model_id}/activate", tags=["models"])
async def api_activate(model_id: str, body: VersionIn, r: Req = ReqDep) -> dict[str, Any]:
    """Make a version the active one (promoting the shadow empties the shadow slot)."""
    return await _api_change(r, model_id, "activate", version=body.version)


@router.post("/api/v1/models/{model_id}/rollback", tags=["models"])
async def api_rollback(model_id: str, body: RollbackIn, r: Req = ReqDep) -> dict[str, Any]:
    """Undo the last change of a slot (active falls back down to the shipped model)."""
    return await _api_change(r, model_id, "rollback", slot=body.slot)


# ----- Settings page forms -----------------------------------------------------------
def _back(r: Req) -> Response:
    return r.redirect("/settings#models")


@router.post("/settings/models/install", include_in_schema=False)
async def form_install(model: Annotated[UploadFile, File()], manifest: Annotated[UploadFile, File()],
                       r: Req = ReqDep) -> Response:
    page_guard(r, "models")
    assert r.role is not None
    try:
        got = await install_upload(r, r.role, model, manifest)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        return _back(r)
    r.flash(r._("Model %(model)s %(version)s installed as a candidate. Run it in shadow to compare.")
            % {"model": got["installed"]["model"], "version": got["installed"]["version"]})
    return _back(r)


@router.post("/settings/models/{model_id}/{action}", include_in_schema=False)
async def form_change(model_id: str, action: Literal["shadow", "activate", "rollback", "shadow-clear"],
                      version: Annotated[str, Form()] = "", slot: Annotated[str, Form()] = "active",
                      r: Req = ReqDep) -> Response:
    page_guard(r, "models")
    assert r.role is not None
    try:
        change(r, r.role, model_id, action, version=version or None, slot=slot)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        return _back(r)
    done = {"shadow": r._("%(model)s %(version)s runs in shadow."),
            "activate": r._("%(model)s %(version)s is now active."),
            "rollback": r._("%(model)s rolled back."),
            "shadow-clear": r._("%(model)s runs without a shadow.")}[action] % {"model": model_id, "version": version}
    core = await ask_core_reload(r)
    r.flash(f"{done} {core['message']}", "ok" if core["applied"] else "warn")
    return _back(r)
