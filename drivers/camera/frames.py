"""Frames as numpy arrays: normalising, resizing for models, image files.

numpy only, so the box runs without Pillow or OpenCV; PGM/PPM files are read
and written here, PNG/JPEG through Pillow (or OpenCV) when installed. The box
resize is the same average-of-the-cell filter as ``models.features`` uses for
``gray96-v1``, so a frame already at model size passes through unchanged.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from drivers.errors import WerkvloerError

NETPBM_SUFFIXES = (".pgm", ".ppm", ".pnm")
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
IMAGE_SUFFIXES = NETPBM_SUFFIXES + PILLOW_SUFFIXES


class CameraLibraryMissing(WerkvloerError, ImportError):
    """An optional library the configured camera feature needs is not installed."""


def require(module: str, *, extra: str | None, package: str, why: str) -> object:
    """Import ``module`` or raise :class:`CameraLibraryMissing` naming what to install."""
    try:
        return __import__(module)
    except ImportError as exc:
        how = f"pip install 'werkvloer[{extra}]'" if extra else f"pip install {package}"
        raise CameraLibraryMissing(
            f"{why} needs the Python package {package}, which is not installed; install it with: {how}") from exc


# ----- arrays ------------------------------------------------------------------

def normalise(frame: np.ndarray) -> np.ndarray:
    """uint8, HxW (gray) or HxWx3 (RGB). Drops alpha, scales 16-bit down."""
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[..., 0]
    elif f.ndim == 3 and f.shape[2] == 4:
        f = f[..., :3]
    if f.ndim not in (2, 3) or (f.ndim == 3 and f.shape[2] != 3) or f.size == 0:
        raise ValueError(f"a camera frame must be HxW or HxWx3, got shape {f.shape}")
    if f.dtype == np.uint16:
        f = (f >> 8).astype(np.uint8)
    elif f.dtype != np.uint8:
        f = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return f


def to_gray(frame: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB frame (a gray frame is returned as is)."""
    f = normalise(frame)
    if f.ndim == 2:
        return f
    luma = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def _cells(n_in: int, n_out: int) -> np.ndarray:
    """Start index of each output cell; cells are contiguous when shrinking."""
    return np.linspace(0, n_in, n_out + 1).astype(np.intp)[:-1]


def _box_sum(f: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and pixel count of each cell (shrinking along both axes)."""
    h, w = f.shape[:2]
    ys, xs = _cells(h, height), _cells(w, width)
    acc = np.uint32 if h * w <= (1 << 24) else np.uint64  # 255 * pixels must fit
    # Columns first: reducing the long axis of uint8 rows is the cheap direction.
    sums = np.add.reduceat(np.add.reduceat(f, xs, axis=1, dtype=acc), ys, axis=0)
    area = np.diff(np.append(ys, h))[:, None] * np.diff(np.append(xs, w))[None, :]
    return sums, area


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Box resize: each output pixel is the mean of the input pixels in its
    cell (nearest pixel along an axis that is enlarged). Gray or RGB, uint8."""
    f = normalise(frame)
    h, w = f.shape[:2]
    if (h, w) == (height, width):
        return f
    if height > h:  # enlarge rows by repetition so every cell holds >= 1 pixel
        f = f[np.arange(height) * h // height]
    if width > w:
        f = f[:, np.arange(width) * w // width]
    sums, area = _box_sum(f, height, width)
    if f.ndim == 3:
        area = area[..., None]
    return ((sums + area // 2) // area).astype(np.uint8)


def prepare(frame: np.ndarray, *, width: int, height: int, grayscale: bool) -> np.ndarray:
    """What consumers get in ``Sample.block``: resized, gray when configured,
    C-contiguous. Shrinks first, then converts to gray (luma is linear, so
    this matches gray-then-shrink within 1 grey level at a fraction of the
    work on a full-HD frame)."""
    f = normalise(frame)
    if grayscale and f.ndim == 3 and f.shape[0] >= height and f.shape[1] >= width:
        sums, area = _box_sum(f, height, width)
        luma = (sums[..., 0] * 0.299 + sums[..., 1] * 0.587 + sums[..., 2] * 0.114) / area
        return np.ascontiguousarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8))
    f = to_gray(f) if grayscale else f
    return np.ascontiguousarray(resize(f, width, height))


# ----- files -------------------------------------------------------------------

def _netpbm_tokens(data: bytes, count: int) -> tuple[list[int], int]:
    """The first ``count`` header integers and the offset of the pixel data."""
    values: list[int] = []
    i = 2  # after the magic
    n = len(data)
    while len(values) < count:
        while i < n and data[i:i + 1].isspace():
            i += 1
        if i < n and data[i:i + 1] == b"#":
            while i < n and data[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        start = i
        while i < n and data[i:i + 1].isdigit():
            i += 1
        if start == i:
            raise ValueError("malformed PGM/PPM header")
        values.append(int(data[start:i]))
    return values, i + 1  # one whitespace byte ends the header


def read_netpbm(path: str | Path) -> np.ndarray:
    """Binary PGM (P5) or PPM (P6), 8 or 16 bit."""
    data = Path(path).read_bytes()
    magic = data[:2]
    if magic not in (b"P5", b"P6"):
        raise ValueError(f"{path}: not a binary PGM/PPM file (P5/P6); convert it or use PNG")
    (width, height, maxval), offset = _netpbm_tokens(data, 3)
    channels = 1 if magic == b"P5" else 3
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    count = width * height * channels
    pixels = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    frame = pixels.reshape((height, width, channels) if channels == 3 else (height, width))
    if maxval > 255:
        return (frame.astype(np.uint32) * 255 // maxval).astype(np.uint8)
    if maxval != 255:
        return (frame.astype(np.uint16) * 255 // maxval).astype(np.uint8)
    return frame.copy()


def encode_netpbm(frame: np.ndarray) -> bytes:
    f = normalise(frame)
    magic = b"P5" if f.ndim == 2 else b"P6"
    return magic + f"\n{f.shape[1]} {f.shape[0]}\n255\n".encode() + f.tobytes()


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 HxW or HxWx3 (RGB)."""
    p = Path(path)
    if p.suffix.lower() in NETPBM_SUFFIXES:
        return read_netpbm(p)
    require("PIL", extra=None, package="pillow", why=f"reading {p.suffix} images")
    from PIL import Image

    with Image.open(p) as opened:
        img = opened if opened.mode in ("L", "RGB") else opened.convert(
            "RGB" if opened.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA") else "L")
        return normalise(np.asarray(img))


def write_image(path: str | Path, frame: np.ndarray, *, quality: int = 90) -> Path:
    """Write a frame as PNG, JPEG (Pillow, else OpenCV) or PGM/PPM, atomically
    (a reader never sees half a file)."""
    p = Path(path)
    suffix = p.suffix.lower()
    f = normalise(frame)
    tmp = p.with_name(f".{p.name}.tmp")
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        if suffix in NETPBM_SUFFIXES:
            tmp.write_bytes(encode_netpbm(f))
        elif suffix in PILLOW_SUFFIXES:
            _write_with_library(tmp, suffix, f, quality)
        else:
            raise ValueError(f"{p.name}: unknown image type {suffix!r}; use .jpg, .png or .pgm")
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


def _write_with_library(tmp: Path, suffix: str, frame: np.ndarray, quality: int) -> None:
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, suffix[1:].upper())
    if importlib.util.find_spec("PIL") is not None:
        from PIL import Image

        img = Image.fromarray(frame)
        if fmt == "JPEG":
            img.save(tmp, format=fmt, quality=quality)
        else:
            img.save(tmp, format=fmt)
        return
    try:
        import cv2
    except ImportError:
        require("PIL", extra=None, package="pillow", why=f"writing {suffix} snapshots")
        raise
    bgr = frame if frame.ndim == 2 else frame[..., ::-1]
    ok, buf = cv2.imencode(suffix, bgr, [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "JPEG" else [])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {suffix} image")
    tmp.write_bytes(buf.tobytes())
