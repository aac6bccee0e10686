"""Model runtime status (``/models/status``): per guard model binding the live score against its
threshold (the guard's ``status`` over IPC, then live on the SSE stream), the inference latency
(p50 / p99 and a small histogram from the guard's fixed buckets), gaps (windows missed while the
model was busy, gaps and bad blocks in the signal, windows with bad values, a hung or failed
inference) and the shadow model against the active one."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from .. import charts, fmt, labels
from ..access import api_guard, page_guard
from ..context import Req, ReqDep
from ..i18n import N_
from .core import guard_status

router = APIRouter()

STATES = {"ok": N_("Running"), "hung": N_("Inference hangs (watchdog)"), "failed": N_("Failed: rules only"),
          "no_model": N_("No model loaded"), "degraded": N_("Degraded: not scoring")}
GATE_LOST = N_("Not scoring: the signal \"%(signal)s\", which tells when the machine runs, has had no good value "
               "for %(duration)s. Check its source (PLC connection, cable, sensor). The rules keep watching.")


def quantile_ms(edges: list[float], counts: list[int], q: float) -> float | None:
    """The upper edge of the bucket holding quantile ``q`` (None without inferences; inf above the last edge)."""
    total = sum(counts)
    if not total:
        return None
    need, seen = q * total, 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= need and c:
            return edges[i] if i < len(edges) else math.inf
    return math.inf


def binding_view(b: dict[str, Any], config: Any, lang: str, t: Any) -> dict[str, Any]:
    f = fmt.Formatter(lang, config.box.timezone)
    hist = b.get("latency_hist") or {}
    edges, counts = list(hist.get("edges_ms") or []), list(hist.get("counts") or [])

    def ms(v: float | None) -> str:
        if v is None:
            return "–"
        if math.isinf(v):
            return t.gettext(N_("over %(ms)s ms")) % {"ms": labels.value_text(edges[-1], None, f)}
        return t.gettext(N_("at most %(ms)s ms")) % {"ms": labels.value_text(v, None, f)}

    p50, p99 = quantile_ms(edges, counts, 0.5), quantile_ms(edges, counts, 0.99)
    picture = None
    if counts and sum(counts):
        names = [f"≤ {labels.value_text(e, None, f)} ms" for e in edges] + [f"> {labels.value_text(edges[-1], None, f)} ms"]
        total = sum(counts)
        items = [(n, c / total, charts.BLUE) for n, c in zip(names, counts, strict=True) if c]
        picture = charts.hbars(items, label=t.gettext(N_("Share of inferences per latency band")),
                               fmt=lambda v: f.pct(v, 0))
    cfg = next((m for m in config.guard.models if m.name == b.get("name")), None)
    sh = b.get("shadow")
    shadow = None
    if sh:
        shadow = {"version": sh.get("version"), "windows": sh.get("windows"),
                  "agreement": f.pct(sh.get("agreement"), 0), "correlation": f.num(sh.get("correlation"), 2),
                  "trips": f"{sh.get('shadow_trips', 0)} / {sh.get('active_trips', 0)}"}
    score, thr = b.get("last_score"), b.get("threshold")
    # A gate whose signal has had no good value for while_signal_timeout_s: the model cannot watch
    # (the guard's state is degraded then; appliance/guard/bindings.py, notes in its README).
    gate = b.get("gate") or {}
    lost = bool(gate.get("lost"))
    state = "degraded" if lost and b.get("state") == "ok" else b.get("state")
    # The page's script fills in the duration live ({d}) from the stream's guard status.
    gate_template = t.gettext(GATE_LOST) % {
        "signal": labels.signal_label(config, str(gate.get("signal")), lang), "duration": "{d}"} if gate else ""
    gate_text = gate_template.replace("{d}", f.duration(gate.get("no_good_value_s"))) if lost else ""
    return {
        "name": b.get("name"), "model": b.get("model"), "version": b.get("version"),
        "state": state, "state_text": t.gettext(STATES.get(str(state), N_("Unknown"))),
        "gate_lost": lost, "gate_signal": gate.get("signal"), "gate_text": gate_text, "gate_template": gate_template,
        "ok_state_text": t.gettext(STATES["ok"]),
        "degraded_text": t.gettext(STATES["degraded"]),
        "no_good_value_s": gate.get("no_good_value_s") if lost else None,
        # A hung model in words (the guard's own text is English); another error is the runtime's
        # or the loader's message, shown as code and marked stored.
        "error": None if state == "hung" else b.get("error"),
        "hung_text": t.gettext(N_("No answer within %(ms)s ms; the rules keep watching.")) % {
            "ms": labels.value_text(config.guard.inference_timeout_ms, None, f)} if state == "hung" else "",
        "alarm": bool(b.get("alarm")),
        "score": score, "threshold": thr, "score_text": f.num(score, 2), "threshold_text": f.num(thr, 2),
        "share": None if score is None or not thr else max(0.0, min(1.0, float(score) / (2 * float(thr)))),
        "inputs": [labels.signal_label(config, s, lang) for s in (getattr(cfg, "inputs", None) or [])],
        "trip": f"{b.get('trip_n')} / {b.get('trip_m')}",
        "windows": b.get("windows", 0), "skipped": b.get("skipped_hops", 0), "gaps": b.get("gaps", 0),
        "bad_blocks": b.get("bad_blocks", 0), "nan_scores": b.get("nan_scores", 0),
        "inferences": sum(counts), "p50": p50, "p99": p99, "p50_text": ms(p50), "p99_text": ms(p99),
        "last_ms_text": "–" if b.get("last_inference_ms") is None
        else f"{labels.value_text(b['last_inference_ms'], None, f)} ms",
        "latency": {"edges_ms": edges, "counts": counts}, "picture": picture, "shadow": shadow,
    }


async def status_views(r: Req) -> dict[str, Any]:
    st = await guard_status(r, fresh=True)
    if not st.get("available"):
        return {"available": False, "bindings": []}
    return {"available": True, "mode": st.get("mode"),
            "bindings": [binding_view(b, r.state.config, r.lang, r.t) for b in st.get("models") or []]}


@router.get("/models/status", include_in_schema=False)
async def model_status_page(r: Req = ReqDep) -> Response:
    page_guard(r, "models")
    return r.render("model_status.html", status=await status_views(r))


@router.get("/api/v1/models/status", tags=["models"])
async def api_model_status(r: Req = ReqDep) -> dict[str, Any]:
    """Per guard model binding: live score and threshold, inference latency (p50/p99 in ms as the upper
    edge of the histogram bucket, and the histogram), windows missed, signal gaps, shadow comparison."""
    api_guard(r, "models")
    out = await status_views(r)
    for b in out["bindings"]:
        for k in ("picture", "gate_template", "ok_state_text", "degraded_text"):
            b.pop(k, None)
        for k in ("p50", "p99"):  # above the last bucket edge: no number, the text says "over ..."
            if b[k] is not None and math.isinf(b[k]):
                b[k] = None
    return out
