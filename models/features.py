"""Feature code shared by training and the runtime, so the two cannot drift.

Both ``models.training.*`` and ``models.runtime.LoadedModel.score`` call
:func:`compute_features` with the pipeline id and parameters from the model's
manifest; nothing else turns a window of signals into model input.

Pipelines
---------
``vib-bands-v1`` (vibration block + motor current -> float32 vector)
    A window of ``window`` vibration samples (m/s^2, ``sample_rate_hz``) is
    Hann-windowed; its power spectrum (rfft) is summed into ``n_bands``
    logarithmically spaced bands between ``f_low_hz`` and ``f_high_hz`` (the
    first band also takes everything below ``f_low_hz``), and each band energy
    becomes ``log10(energy + eps)``. Then four time-domain figures:
    ``log10(rms + eps)``, ``log10(kurtosis)``, the crest factor (peak / rms)
    and the mean motor current (A) over the window. The vector is normalised
    with the manifest's ``mean`` / ``std``.
``gray96-v1`` (camera frame -> 96x96 uint8)
    A 2-D uint8 frame (any size; 3-D RGB is converted with the ITU-R BT.601
    weights) is box-resized to ``size`` x ``size``. The runtime quantizes it
    with the model's input quantization (for the shipped model
    scale 1/255, zero point -128, i.e. ``int8 = uint8 - 128``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

VIB_PIPELINE = "vib-bands-v1"
IMAGE_PIPELINE = "gray96-v1"
PIPELINES = (VIB_PIPELINE, IMAGE_PIPELINE)

_EPS = 1e-9


class FeatureInputError(ValueError):
    """The window does not fit the pipeline (wrong length, missing signal)."""


# ----- vibration -----------------------------------------------------------

def band_edges_hz(*, n_bands: int, f_low_hz: float, f_high_hz: float) -> np.ndarray:
    """Band edges (n_bands + 1 values), first edge 0 Hz."""
    edges = np.geomspace(f_low_hz, f_high_hz, n_bands + 1)
    edges[0] = 0.0
    return edges


def vibration_feature_names(*, n_bands: int, f_low_hz: float, f_high_hz: float) -> list[str]:
    edges = band_edges_hz(n_bands=n_bands, f_low_hz=f_low_hz, f_high_hz=f_high_hz)
    names = [f"band_{edges[i]:.0f}_{edges[i + 1]:.0f}hz" for i in range(n_bands)]
    return names + ["log_rms", "log_kurtosis", "crest_factor", "current_mean"]


class _VibPlan:
    """Precomputed Hann window and bin->band assignment for one parameter set."""

    __slots__ = ("window", "hann", "band_of_bin", "n_bands", "n_features")

    def __init__(self, *, window: int, sample_rate_hz: float, n_bands: int,
                 f_low_hz: float, f_high_hz: float) -> None:
        self.window = window
        self.n_bands = n_bands
        self.n_features = n_bands + 4
        self.hann = np.hanning(window).astype(np.float64)
        freqs = np.fft.rfftfreq(window, 1.0 / sample_rate_hz)
        edges = band_edges_hz(n_bands=n_bands, f_low_hz=f_low_hz, f_high_hz=f_high_hz)
        # Bins above f_high_hz (up to Nyquist) go into the last band.
        self.band_of_bin = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, n_bands - 1)


_PLANS: dict[tuple, _VibPlan] = {}


def _plan(window: int, sample_rate_hz: float, n_bands: int, f_low_hz: float, f_high_hz: float) -> _VibPlan:
    key = (window, sample_rate_hz, n_bands, f_low_hz, f_high_hz)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _VibPlan(window=window, sample_rate_hz=sample_rate_hz, n_bands=n_bands,
                                      f_low_hz=f_low_hz, f_high_hz=f_high_hz)
    return plan


def vibration_features(vibration: np.ndarray, motor_current: np.ndarray | float, *,
                       window: int, sample_rate_hz: float, n_bands: int,
                       f_low_hz: float, f_high_hz: float) -> np.ndarray:
    """Raw (not normalised) feature vector, float32, length n_bands + 4."""
    v = np.asarray(vibration, dtype=np.float64).reshape(-1)
    if v.shape[0] != window:
        raise FeatureInputError(
            f"vibration window has {v.shape[0]} samples, the model needs {window}; "
            "feed exactly the manifest's window length")
    cur = np.asarray(motor_current, dtype=np.float64).reshape(-1)
    if cur.size == 0:
        raise FeatureInputError("motor_current window is empty; feed at least one sample")
    plan = _plan(window, sample_rate_hz, n_bands, f_low_hz, f_high_hz)
    out = np.empty(plan.n_features, dtype=np.float64)
    spec = np.fft.rfft((v - v.mean()) * plan.hann)
    power = (spec.real ** 2 + spec.imag ** 2) / window
    out[:n_bands] = np.log10(np.bincount(plan.band_of_bin, weights=power, minlength=n_bands) + _EPS)
    centred = v - v.mean()
    var = float(np.dot(centred, centred)) / window
    rms = math.sqrt(float(np.dot(v, v)) / window)
    out[n_bands] = math.log10(rms + _EPS)
    # Kurtosis of a sine is 1.5, of noise 3; bearing impacts push it up.
    kurt = (float(np.mean(centred ** 4)) / (var * var)) if var > _EPS else 1.0
    out[n_bands + 1] = math.log10(max(kurt, _EPS))
    out[n_bands + 2] = float(np.max(np.abs(v))) / (rms + _EPS) if rms > 1e-6 else 0.0
    out[n_bands + 3] = float(cur.mean())
    return out.astype(np.float32)


# ----- camera --------------------------------------------------------------

def to_gray(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] in (3, 4):
        f = (f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114)
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[..., 0]
    if f.ndim != 2:
        raise FeatureInputError(f"camera frame has shape {f.shape}; feed a 2-D grayscale or HxWx3 frame")
    return f.astype(np.uint8, copy=False)


def image_features(frame: np.ndarray, *, size: int) -> np.ndarray:
    """Grayscale ``size`` x ``size`` uint8 image (box filter resize, numpy only)."""
    g = to_gray(frame)
    h, w = g.shape
    if (h, w) == (size, size):
        return g
    if h < 1 or w < 1:
        raise FeatureInputError("camera frame is empty")
    # Box resize: average the source pixels that fall in each target cell
    # (a cell is at least one pixel wide when upscaling).
    ys = np.floor(np.linspace(0, h, size + 1)).astype(np.int64)
    xs = np.floor(np.linspace(0, w, size + 1)).astype(np.int64)
    y0, x0 = ys[:-1], xs[:-1]
    y1, x1 = np.maximum(ys[1:], y0 + 1), np.maximum(xs[1:], x0 + 1)
    csum = np.pad(g.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    y0, y1, x0, x1 = y0[:, None], y1[:, None], x0[None, :], x1[None, :]
    area = (y1 - y0) * (x1 - x0)
    total = csum[y1, x1] - csum[y0, x1] - csum[y1, x0] + csum[y0, x0]
    return np.clip(np.rint(total / area), 0, 255).astype(np.uint8)


def image_to_unit(img: np.ndarray) -> np.ndarray:
    """uint8 image -> float32 in 0..1 (what the vision network sees before quantization)."""
    return np.asarray(img, dtype=np.float32) / np.float32(255.0)


# ----- one entry point -----------------------------------------------------

def compute_features(pipeline: str, params: Mapping[str, float | int], window: Mapping[str, np.ndarray],
                     signals: Sequence[str]) -> np.ndarray:
    """Window of signals -> un-normalised model features (what training also uses).

    ``signals`` are the manifest's input names in order: for ``vib-bands-v1``
    (vibration block, motor current), for ``gray96-v1`` (camera frame).
    """
    missing = [s for s in signals if s not in window]
    if missing:
        raise FeatureInputError(
            f"window lacks signal(s) {', '.join(missing)}; the model needs {', '.join(signals)}")
    if pipeline == VIB_PIPELINE:
        return vibration_features(
            window[signals[0]], window[signals[1]],
            window=int(params["window"]), sample_rate_hz=float(params["sample_rate_hz"]),
            n_bands=int(params["n_bands"]), f_low_hz=float(params["f_low_hz"]),
            f_high_hz=float(params["f_high_hz"]))
    if pipeline == IMAGE_PIPELINE:
        return image_features(window[signals[0]], size=int(params["size"]))
    raise FeatureInputError(f"unknown feature pipeline {pipeline!r}; known: {', '.join(PIPELINES)}")


def normalise(x: np.ndarray, mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.float32) - np.asarray(mean, dtype=np.float32))
            / np.asarray(std, dtype=np.float32)).astype(np.float32)


def reconstruction_error(x_norm: np.ndarray, recon: np.ndarray,
                         residual_std: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Anomaly score of an autoencoder: mean squared error over the features (last axis).

    With ``residual_std`` (the per-feature residual on normal data) each
    error is measured in units of its normal spread, so a feature the
    network predicts tightly (current for a given spindle speed) counts more
    than a band that is mostly noise. Normal windows then score about 1.
    """
    d: np.ndarray = np.asarray(recon, dtype=np.float32) - np.asarray(x_norm, dtype=np.float32)
    if residual_std is not None:
        d = d / np.asarray(residual_std, dtype=np.float32)
    return np.mean(d * d, axis=-1)
