"""Charts drawn on the server as SVG: no JavaScript library, no CDN.

Every chart is ``role="img"`` with a text label; sizes come from a viewBox so
it scales to the screen. Colours meet WCAG contrast on white.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

INK = "#111827"
MUTED = "#4b5563"
GRID = "#d1d5db"
BLUE = "#1d4ed8"
GREEN = "#0a6b2e"
RED = "#b3261e"
AMBER = "#8a5a00"


def _svg(w: int, h: int, label: str, body: str, cls: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>")


def _t(x: float, y: float, text: str, *, anchor: str = "start", size: int = 14, fill: str = INK,
       weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>')


def hbars(items: Sequence[tuple[str, float | None, str]], *, label: str, fmt: Callable[[float | None], str] | None = None,
          w: int = 380) -> Markup:
    """Horizontal 0..1 bars, e.g. availability / performance / quality."""
    row = 34
    h = row * len(items) + 4
    lw = 150
    body = []
    for i, (name, value, colour) in enumerate(items):
        y = i * row + 4
        body.append(_t(0, y + 20, name, size=16))
        body.append(f'<rect x="{lw}" y="{y + 4}" width="{w - lw - 70}" height="22" fill="{GRID}" rx="3"/>')
        if value is not None:
            bw = max(0.0, min(1.0, float(value))) * (w - lw - 70)
            body.append(f'<rect x="{lw}" y="{y + 4}" width="{bw:.1f}" height="22" fill="{colour}" rx="3"/>')
        txt = fmt(value) if fmt else ("–" if value is None else f"{value * 100:.0f}%")
        body.append(_t(w - 2, y + 21, txt, anchor="end", size=16, weight="bold"))
    return _svg(w, h, label, "".join(body), "chart chart-bars")


def line(points: Sequence[tuple[str, float | None]], *, label: str, y_max: float | None = None,
         y_fmt: Callable[[float], str] | None = None, colour: str = BLUE, w: int = 640, h: int = 220,
         target: float | None = None) -> Markup:
    """A line over labelled x positions (hours, shifts, days); gaps stay gaps."""
    left, right, top, bottom = 52, 10, 10, 34
    vals = [v for _, v in points if v is not None]
    if not points:
        return _svg(w, 60, label, _t(w / 2, 34, "–", anchor="middle"))
    ymax = y_max if y_max is not None else (max(vals) * 1.1 if vals and max(vals) > 0 else 1.0)
    pw, ph = w - left - right, h - top - bottom
    n = len(points)

    def px(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + ph - ph * max(0.0, min(v, ymax)) / ymax

    body = []
    for frac in (0, 0.5, 1):
        y = top + ph - ph * frac
        body.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        txt = y_fmt(ymax * frac) if y_fmt else f"{ymax * frac:.0f}"
        body.append(_t(left - 6, y + 5, txt, anchor="end", size=13, fill=MUTED))
    if target is not None:
        body.append(f'<line x1="{left}" x2="{w - right}" y1="{py(target):.1f}" y2="{py(target):.1f}" '
                    f'stroke="{AMBER}" stroke-dasharray="6 4" stroke-width="2"/>')
    seg: list[str] = []
    paths = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if len(seg) > 1:
                paths.append(seg)
            seg = []
            continue
        seg.append(f"{px(i):.1f},{py(v):.1f}")
        body.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3.5" fill="{colour}"/>')
    if len(seg) > 1:
        paths.append(seg)
    for s in paths:
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="3" points="{" ".join(s)}"/>')
    step = max(1, n // 8)
    for i, (name, _) in enumerate(points):
        if i % step == 0:
            body.append(_t(px(i), h - 10, name, anchor="middle", size=13, fill=MUTED))
    return _svg(w, h, label, "".join(body), "chart chart-line")


def pareto(items: Sequence[tuple[str, float]], *, label: str, v_fmt: Callable[[float | None], str] | None = None,
           w: int = 640) -> Markup:
    """Downtime per reason, largest first, with the cumulative share."""
    items = sorted(items, key=lambda it: it[1], reverse=True)
    if not items:
        return _svg(w, 60, label, _t(w / 2, 34, "–", anchor="middle"))
    row, lw = 32, 200
    h = row * len(items) + 8
    total = sum(v for _, v in items) or 1.0
    vmax = items[0][1] or 1.0
    body, cum = [], 0.0
    for i, (name, v) in enumerate(items):
        y = i * row + 4
        cum += v
        body.append(_t(0, y + 20, _short(name, 26), size=15))
        bw = (w - lw - 150) * v / vmax
        body.append(f'<rect x="{lw}" y="{y + 4}" width="{bw:.1f}" height="22" fill="{RED}" rx="3"/>')
        txt = v_fmt(v) if v_fmt else f"{v:.0f}"
        body.append(_t(w - 60, y + 21, txt, anchor="end", size=14))
        body.append(_t(w - 2, y + 21, f"{cum / total * 100:.0f}%", anchor="end", size=14, fill=MUTED))
    return _svg(w, h, label, "".join(body), "chart chart-pareto")


def _short(name: str, n: int) -> str:
    """A reason label that fits the bar's label column: "group / reason" keeps the reason
    (what was tapped) when the whole is too long; a word is never cut in half."""
    if len(name) <= n:
        return name
    if " / " in name:
        name = name.rsplit(" / ", 1)[1]
    if len(name) <= n:
        return name
    cut = name[: n - 1].rsplit(" ", 1)[0]
    return cut + "…"


def signal(values: Sequence[float], *, label: str, rate_hz: float | None = None, w: int = 640,
           h: int = 200, colour: str = BLUE, mark_at: float | None = None) -> Markup:
    """A raw signal window (e.g. the vibration that tripped an alert)."""
    left, right, top, bottom = 52, 8, 8, 26
    if not values:
        return _svg(w, 60, label, _t(w / 2, 34, "–", anchor="middle"))
    # At most ~600 points: min/max per bucket keeps peaks visible.
    n = len(values)
    buckets = min(n, 300)
    pts: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = values[b * n // buckets:(b + 1) * n // buckets] or [values[min(n - 1, b * n // buckets)]]
        pts += [(b, min(chunk)), (b + 0.5, max(chunk))]
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    if hi - lo < 1e-12:
        hi, lo = hi + 1, lo - 1
    pw, ph = w - left - right, h - top - bottom
    coords = " ".join(f"{left + pw * x / buckets:.1f},{top + ph - ph * (v - lo) / (hi - lo):.1f}" for x, v in pts)
    body = [f'<line x1="{left}" x2="{w - right}" y1="{top + ph}" y2="{top + ph}" stroke="{GRID}"/>',
            _t(left - 6, top + 12, f"{hi:.3g}", anchor="end", size=12, fill=MUTED),
            _t(left - 6, top + ph, f"{lo:.3g}", anchor="end", size=12, fill=MUTED),
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>']
    if rate_hz:
        body.append(_t(w - right, h - 6, f"{n / rate_hz:.2f} s", anchor="end", size=12, fill=MUTED))
    if mark_at is not None:
        x = left + pw * max(0.0, min(1.0, mark_at))
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="{RED}" stroke-width="2"/>')
    return _svg(w, h, label, "".join(body), "chart chart-signal")


def interval(rows: Sequence[tuple[str, float | None, float | None, float | None]], *, label: str,
             w: int = 640) -> Markup:
    """Change in % per KPI with its uncertainty interval (lo, value, hi), zero line in the middle."""
    row, lw = 34, 180
    h = row * max(1, len(rows)) + 24
    vals = [abs(x) for _, lo, v, hi in rows for x in (lo, v, hi) if x is not None]
    span = max(vals) * 1.15 if vals and max(vals) > 0 else 10.0
    pw = w - lw - 20
    zx = lw + pw / 2

    def px(v: float) -> float:
        return zx + pw / 2 * max(-1.0, min(1.0, v / span))

    body = [f'<line x1="{zx:.1f}" x2="{zx:.1f}" y1="0" y2="{h - 20}" stroke="{MUTED}"/>',
            _t(lw, h - 4, f"-{span:.0f}%", size=12, fill=MUTED),
            _t(w - 20, h - 4, f"+{span:.0f}%", anchor="end", size=12, fill=MUTED)]
    for i, (name, lo, v, hi) in enumerate(rows):
        y = i * row + 18
        body.append(_t(0, y + 5, name, size=15))
        if lo is not None and hi is not None:
            colour = GREEN if lo > 0 else (RED if hi < 0 else AMBER)
            body.append(f'<line x1="{px(lo):.1f}" x2="{px(hi):.1f}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="6"/>')
        if v is not None:
            body.append(f'<circle cx="{px(v):.1f}" cy="{y}" r="7" fill="{INK}"/>')
    return _svg(w, h, label, "".join(body), "chart chart-interval")


def trace(ts: Sequence[int], vs: Sequence[float], *, t0_ns: int, t1_ns: int, mark_ns: int, label: str,
          limit: float | None = None, limit_text: str = "", y_fmt: Callable[[float], str] | None = None,
          x_ticks_s: Sequence[int] = (-60, -30, 0, 10), w: int = 640, h: int = 200, colour: str = BLUE) -> Markup:
    """A signal over time (UTC ns) from ``t0_ns`` to ``t1_ns``: the recorded samples as a line, a guard
    rule's ``limit`` as a dashed red line with its text, ``mark_ns`` (the trip) as a grey line;
    x ticks in seconds from the mark ("-60 s", "0 s", "+10 s")."""
    left, right, top, bottom = 64, 10, 12, 28
    pw, ph = w - left - right, h - top - bottom
    ys = [float(v) for v in vs] + ([float(limit)] if limit is not None else [])
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
    lo, hi = lo - pad, hi + pad
    span = max(1, t1_ns - t0_ns)

    def px(t: float) -> float:
        return left + pw * max(0.0, min(1.0, (t - t0_ns) / span))

    def py(v: float) -> float:
        return top + ph - ph * (v - lo) / (hi - lo)

    yt = y_fmt or (lambda v: f"{v:.3g}")
    body = [f'<line x1="{left}" x2="{w - right}" y1="{top + ph}" y2="{top + ph}" stroke="{GRID}"/>',
            _t(left - 6, top + 12, yt(hi - pad), anchor="end", size=13, fill=MUTED),
            _t(left - 6, top + ph, yt(lo + pad), anchor="end", size=13, fill=MUTED)]
    for s in x_ticks_s:
        x = px(mark_ns + s * 1_000_000_000)
        edge = "end" if x > w - right - 24 else "start" if x < left + 24 else "middle"  # stays inside the picture
        body.append(_t(x, h - 8, f"{'+' if s > 0 else ''}{s} s", anchor=edge, size=13, fill=MUTED))
    if limit is not None:
        y = py(float(limit))
        body.append(f'<line class="trace-limit" data-limit="{float(limit)!r}" x1="{left}" x2="{w - right}" '
                    f'y1="{y:.1f}" y2="{y:.1f}" stroke="{RED}" stroke-dasharray="7 4" stroke-width="2"/>')
        if limit_text:
            body.append(_t(w - right - 2, y - 5, limit_text, anchor="end", size=13, fill=RED, weight="bold"))
    xm = px(mark_ns)
    body.append(f'<line class="trace-mark" x1="{xm:.1f}" x2="{xm:.1f}" y1="{top}" y2="{top + ph}" '
                f'stroke="{MUTED}" stroke-width="2"/>')
    coords = " ".join(f"{px(t):.1f},{py(float(v)):.1f}" for t, v in zip(ts, vs, strict=True))
    body.append(f'<polyline class="trace-line" data-points="{len(ts)}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5" points="{coords}"/>')
    return _svg(w, h, label, "".join(body), "chart chart-trace")
