"""A tiny replay-folder generator for tests and demos: synthetic parts on a
conveyor (a bright disc on a dark belt), optionally with a defect (a dark
scratch), written as PNG (Pillow) or PGM/PPM (numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .frames import write_image


def part_image(index: int, *, width: int = 160, height: int = 120, color: bool = False,
               defect: bool = False) -> np.ndarray:
    """One synthetic frame; ``index`` moves the part and changes its brightness."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.full((height, width), 30, dtype=np.float64)
    img += 10 * ((xx // 8) % 2)  # belt texture
    cx = width * (0.3 + 0.4 * ((index * 7) % 10) / 10)
    cy = height / 2
    r = min(width, height) * 0.3
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[disc] = 180 + (index * 13) % 60
    if defect:
        scratch = disc & (np.abs((yy - cy) - 0.5 * (xx - cx)) < 2)
        img[scratch] = 40
    gray = np.clip(img, 0, 255).astype(np.uint8)
    if not color:
        return gray
    return np.stack([gray, (gray * 0.8).astype(np.uint8), (gray * 0.6).astype(np.uint8)], axis=-1)


def write_replay_folder(folder: str | Path, *, count: int = 5, width: int = 160, height: int = 120,
                        suffix: str = ".png", color: bool = False, defect_every: int = 0) -> list[Path]:
    """``count`` frames named frame_0000.png, ... in ``folder``; every
    ``defect_every``-th part (1-based, 0 = none) has a scratch."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        defect = bool(defect_every) and (i + 1) % defect_every == 0
        frame = part_image(i, width=width, height=height, color=color, defect=defect)
        paths.append(write_image(out / f"frame_{i:04d}{suffix}", frame))
    return paths
