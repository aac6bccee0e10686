"""Generated camera images of a machined flange, good and defective (numpy only).

A flange (round plate, central bore, four bolt holes on a bolt circle) lies on
a dark conveyor under uneven light. Pose (position, rotation, scale), light
level, light gradient, blur-like soft edges and sensor noise are random per
image. Defects:

- ``scratch``: a thin bright or dark line across the face;
- ``missing_hole``: one bolt hole not drilled;
- ``burr``: a small lump of material standing out of the outer edge.

``generate(n, seed)`` gives the same images for the same seed. Frames are
128x128 uint8 (a camera crop); the model's pipeline (``gray96-v1``) resizes
them to 96x96, exactly as on the box.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("good", "scratch", "missing_hole", "burr")
FRAME = 128


def _soft(d: np.ndarray, edge: float = 0.7) -> np.ndarray:
    """Signed distance (negative inside) -> coverage 0..1 with an anti-aliased edge."""
    return 1.0 / (1.0 + np.exp(np.clip(d / edge, -30, 30)))


def draw_part(rng: np.random.Generator, defect: str = "good", *, size: int = FRAME) -> np.ndarray:
    if defect not in CLASSES:
        raise ValueError(f"unknown defect {defect!r}; choose one of {', '.join(CLASSES)}")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cx = size / 2 + rng.uniform(-8, 8)
    cy = size / 2 + rng.uniform(-8, 8)
    scale = size / 128 * rng.uniform(0.9, 1.08)
    ang = rng.uniform(0, 2 * np.pi)
    ca, sa = np.cos(ang), np.sin(ang)
    # Part coordinates (u, v) in "design pixels" of a 128 frame.
    dx, dy = (xx - cx) / scale, (yy - cy) / scale
    u = ca * dx + sa * dy
    v = -sa * dx + ca * dy
    r = np.hypot(u, v)

    r_outer, r_bore, r_bolt, r_hole = 44.0, 11.0, 30.0, 5.0
    part = _soft(r - r_outer)
    holes = _soft(r - r_bore)  # central bore
    missing = int(rng.integers(0, 4)) if defect == "missing_hole" else -1
    for k in range(4):
        if k == missing:
            continue
        hu, hv = r_bolt * np.cos(k * np.pi / 2), r_bolt * np.sin(k * np.pi / 2)
        holes = np.maximum(holes, _soft(np.hypot(u - hu, v - hv) - r_hole))
    if defect == "burr":
        phi = rng.uniform(0, 2 * np.pi)
        bu, bv = (r_outer + 1.5) * np.cos(phi), (r_outer + 1.5) * np.sin(phi)
        lump = rng.uniform(3.0, 5.0)
        part = np.maximum(part, _soft(np.hypot(u - bu, v - bv) - lump))
    face = part * (1.0 - holes)

    bg = rng.uniform(25, 80)
    metal = rng.uniform(150, 215)
    # Light gradient across the frame and a darker chamfer ring near the edge.
    g_ang = rng.uniform(0, 2 * np.pi)
    grad = 1.0 + rng.uniform(0.0, 0.25) * ((xx - size / 2) * np.cos(g_ang) + (yy - size / 2) * np.sin(g_ang)) / size
    shade = metal * (1.0 - 0.18 * _soft(r_outer - 3.0 - r, 1.5))
    img = bg * (1 - face) + shade * face
    # Machining marks: faint concentric rings on the face (normal texture).
    img += face * rng.uniform(2, 6) * np.sin(r * rng.uniform(1.2, 1.8))
    if defect == "scratch":
        rho, th = rng.uniform(16, 32), rng.uniform(0, 2 * np.pi)
        t0 = (rho * np.cos(th), rho * np.sin(th))
        phi = rng.uniform(0, np.pi)
        length = rng.uniform(24, 48)
        d_u, d_v = np.cos(phi), np.sin(phi)
        # Distance from the segment centred at t0.
        pu, pv = u - t0[0], v - t0[1]
        along = np.clip(pu * d_u + pv * d_v, -length / 2, length / 2)
        dist = np.hypot(pu - along * d_u, pv - along * d_v)
        width = rng.uniform(0.6, 1.3)
        contrast = rng.choice([-1.0, 1.0]) * rng.uniform(45, 90)
        img += face * contrast * _soft(dist - width, 0.5)
    img *= grad
    img += rng.normal(0, rng.uniform(2, 8), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def generate(n_per_class: int, seed: int, *, size: int = FRAME) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 [N, size, size], labels int [N]) with classes in CLASSES order, shuffled."""
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for ci, name in enumerate(CLASSES):
        for _ in range(n_per_class):
            frames.append(draw_part(rng, name, size=size))
            labels.append(ci)
    order = rng.permutation(len(frames))
    return np.stack(frames)[order], np.asarray(labels, dtype=np.int64)[order]
