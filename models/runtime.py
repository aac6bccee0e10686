"""Model runtime on LiteRT (``ai-edge-litert``), falling back to ``tflite-runtime``.

TensorFlow is never imported here: the box only has the interpreter. The
default op resolver of both packages applies the XNNPACK delegate, which runs
the int8 models of ``models/shipped`` on the Pi's NEON units; ``num_threads``
comes from the guard config (``guard.models[].threads``).

A :class:`LoadedModel` owns one interpreter and is confined to one thread
(the LiteRT interpreter is not thread-safe): the guard thread loads its own,
a shadow model gets its own, the bench gets its own.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from models import features
from models.errors import ModelError
from models.manifest import Manifest, VibPreprocessing, load_manifest

log = logging.getLogger(__name__)

TFLITE_IDENTIFIER = b"TFL3"
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError:
            raise ModelError("no LiteRT interpreter installed; install 'ai-edge-litert' "
                             "(pip install ai-edge-litert) or 'tflite-runtime'") from None
    return Interpreter


def runtime_name() -> str:
    """Which interpreter package is in use (for the status page)."""
    try:
        import ai_edge_litert

        return f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}"
    except ImportError:
        try:
            import tflite_runtime

            return f"tflite-runtime {getattr(tflite_runtime, '__version__', '?')}"
        except ImportError:
            return "none"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def model_paths(path_or_dir: str | Path) -> tuple[Path, Path]:
    """(model.tflite, manifest.json) for a model folder or a .tflite file."""
    p = Path(path_or_dir)
    if p.is_dir():
        return p / MODEL_FILE, p / MANIFEST_FILE
    return p, p.with_name(MANIFEST_FILE)


class LoadedModel:
    """One validated model with its interpreter. Use from one thread only."""

    def __init__(self, tflite_path: str | Path, manifest: Manifest, *, num_threads: int = 1) -> None:
        self.path = Path(tflite_path)
        self.manifest = manifest
        self.num_threads = num_threads
        self._owner: int | None = None
        self._interp = _make_interpreter(self.path, num_threads=num_threads)
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ModelError(f"{self.path}: the model has {len(inp)} inputs and {len(out)} outputs; "
                             "Werkvloer models have exactly one of each")
        self._in, self._out = inp[0], out[0]
        self._in_index = int(self._in["index"])
        self._out_index = int(self._out["index"])
        self._in_shape = tuple(int(d) for d in self._in["shape"])
        self._in_dtype = np.dtype(self._in["dtype"])
        self._out_dtype = np.dtype(self._out["dtype"])
        self._in_scale, self._in_zp = _quant(self._in)
        self._out_scale, self._out_zp = _quant(self._out)
        pre = manifest.preprocessing
        self._pipeline = pre.pipeline
        self._params = pre.params.model_dump()
        self._signals = manifest.inputs.names
        self._mean: np.ndarray | None
        self._std: np.ndarray | None
        self._res_std: np.ndarray | None
        if isinstance(pre, VibPreprocessing):
            self._mean = np.asarray(pre.mean, dtype=np.float32)
            self._std = np.asarray(pre.std, dtype=np.float32)
            self._res_std = np.asarray(pre.residual_std, dtype=np.float32)
        else:
            self._mean = self._std = self._res_std = None
        self._good_index = (manifest.output.classes.index(manifest.output.good_class)
                            if manifest.output.classes and manifest.output.good_class else None)
        if self._in_dtype.kind in "iu":
            info = np.iinfo(self._in_dtype)
            self._in_lo, self._in_hi = info.min, info.max

    # ----- properties --------------------------------------------------
    @property
    def id(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def input_names(self) -> list[str]:
        return list(self._signals)

    @property
    def default_threshold(self) -> float:
        return self.manifest.default_threshold

    # ----- inference ---------------------------------------------------
    def _check_thread(self) -> None:
        me = threading.get_ident()
        if self._owner != me:
            if self._owner is None:
                self._owner = me
            else:
                raise ModelError(f"model {self.id} was used from another thread; "
                                 "load one LoadedModel per thread (the interpreter is not thread-safe)")

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Raw inference: ``x`` in the input tensor's dtype and shape (batch of 1)."""
        self._check_thread()
        arr = np.asarray(x)
        if arr.dtype != self._in_dtype:
            raise ModelError(f"model {self.id} takes {self._in_dtype} input, got {arr.dtype}; quantize first "
                             "or use score()")
        if arr.shape != self._in_shape:
            arr = arr.reshape(self._in_shape)
        self._interp.set_tensor(self._in_index, arr)
        self._interp.invoke()
        return self._interp.get_tensor(self._out_index)

    def features(self, window: Mapping[str, np.ndarray]) -> np.ndarray:
        """The shared feature step alone (un-normalised), for benchmarks and datasets."""
        try:
            return features.compute_features(self._pipeline, self._params, window, self._signals)
        except features.FeatureInputError as exc:
            raise ModelError(f"model {self.id}: {exc}") from None

    def quantize(self, x: np.ndarray) -> np.ndarray:
        if self._in_dtype == np.float32:
            return np.asarray(x, dtype=np.float32).reshape(self._in_shape)
        q = np.rint(np.asarray(x, dtype=np.float32) / self._in_scale + self._in_zp)
        return np.clip(q, self._in_lo, self._in_hi).astype(self._in_dtype).reshape(self._in_shape)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        if self._out_dtype == np.float32:
            return np.asarray(y, dtype=np.float32)
        return (y.astype(np.float32) - self._out_zp) * self._out_scale

    def model_input(self, feats: np.ndarray) -> np.ndarray:
        """Features -> the float tensor the network sees (normalised / scaled to 0..1)."""
        if self._mean is not None:
            std = cast(np.ndarray, self._std)  # set together with _mean
            return features.normalise(feats, self._mean, std)
        return features.image_to_unit(feats)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Model input (float, see :meth:`model_input`) -> dequantized output, 1-D."""
        return self.dequantize(self.infer(self.quantize(x))).reshape(-1)

    def score_features(self, feats: np.ndarray) -> float:
        """Score from already computed features (see :meth:`features`)."""
        x = self.model_input(feats)
        y = self.reconstruct(x)
        if self._mean is not None:
            # Compare with the unclipped input: a fault far outside the
            # calibration range saturates the int8 input, not the score.
            return float(features.reconstruction_error(x.reshape(-1), y, self._res_std))
        if self._good_index is not None:
            return float(1.0 - _probabilities(y)[self._good_index])
        return float(y[0])

    def score(self, window: Mapping[str, np.ndarray]) -> float:
        """Anomaly score (autoencoder) or defect probability (vision). Higher = worse.

        ``window`` maps the manifest's input names to arrays (a vibration
        block of exactly ``inputs.window`` samples and the motor-current
        samples of the same span; or one camera frame). Returns NaN if the
        window holds NaN or inf values: the caller decides what a bad sample
        means (the guard counts it as a bad input, not as a trip).
        """
        feats = self.features(window)
        if not np.all(np.isfinite(feats)):
            return math.nan
        return self.score_features(feats)

    def classify(self, frame: np.ndarray) -> dict[str, float]:
        """Class probabilities of a vision model for one camera frame."""
        classes = self.manifest.output.classes
        if not classes:
            raise ModelError(f"model {self.id} is not a classifier")
        feats = self.features({self._signals[0]: frame})
        y = self.dequantize(self.infer(self.quantize(self.model_input(feats)))).reshape(-1)
        p = _probabilities(y)
        return {c: float(p[i]) for i, c in enumerate(classes)}


def _probabilities(y: np.ndarray) -> np.ndarray:
    # The shipped classifier ends in softmax; renormalise the int8 rounding.
    y = np.clip(y, 0.0, None)
    s = float(y.sum())
    return y / s if s > 0 else np.full_like(y, 1.0 / len(y))


def _quant(detail: Mapping[str, Any]) -> tuple[float, int]:
    scale, zp = detail.get("quantization", (0.0, 0))
    return float(scale) or 1.0, int(zp)


def _make_interpreter(path: Path, *, num_threads: int) -> Any:
    Interpreter = _interpreter_class()
    try:
        interp = Interpreter(model_path=str(path), num_threads=num_threads)
        interp.allocate_tensors()
    except ModelError:
        raise
    except Exception as exc:  # the interpreter raises ValueError/RuntimeError for bad flatbuffers
        raise ModelError(f"{path} could not be loaded by LiteRT ({str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__}); "
                         "the file is corrupt or truncated: copy it again or reinstall the model") from None
    return interp


def _synthetic_window(manifest: Manifest) -> dict[str, np.ndarray]:
    """A plausible quiet window to prove the model runs end to end."""
    rng = np.random.default_rng(0)
    names = manifest.inputs.names
    if manifest.kind == "vision":
        return {names[0]: np.full((96, 96), 128, dtype=np.uint8)}
    n = manifest.inputs.window
    rate = manifest.inputs.sample_rate_hz or 1.0
    t = np.arange(n) / rate
    vib = (0.05 * np.sin(2 * np.pi * 25.0 * t) + rng.normal(0, 0.02, n)).astype(np.float32)
    return {names[0]: vib, names[1]: np.full(4, 2.0, dtype=np.float32)}


def validate_model(tflite_path: str | Path, manifest_path: str | Path, *, num_threads: int = 1) -> Manifest:
    """Check a model file against its manifest before anything uses it.

    Checks, in order: the flatbuffer identifier ("TFL3" at bytes 4..8), that
    LiteRT can load it, the SHA-256 in the manifest, the input/output shapes
    and dtypes, and one test inference through the feature pipeline. Every
    failure raises :class:`ModelError` saying what to do.
    """
    manifest = load_manifest(manifest_path)
    p = Path(tflite_path)
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ModelError(f"model file {p} not found; give the path of the .tflite file") from None
    except OSError as exc:
        raise ModelError(f"model file {p} is not readable ({exc}); check its permissions") from None
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{p} is not a TFLite model (no 'TFL3' identifier at bytes 4..8); "
                         "export the model as .tflite with the training recipe")
    interp = _make_interpreter(p, num_threads=num_threads)
    digest = sha256_file(p)
    if digest != manifest.sha256:
        raise ModelError(f"{p} has SHA-256 {digest[:12]}…, the manifest says {manifest.sha256[:12]}…; "
                         "the file was changed or belongs to another manifest: copy both files again "
                         "from the same training run")
    for label, details, spec in (("input", interp.get_input_details(), manifest.input_tensor),
                                 ("output", interp.get_output_details(), manifest.output_tensor)):
        if len(details) != 1:
            raise ModelError(f"{p} has {len(details)} {label} tensors; Werkvloer models have exactly one")
        shape = [int(d) for d in details[0]["shape"]]
        dtype = np.dtype(details[0]["dtype"]).name
        if shape != list(spec.shape) or dtype != spec.dtype:
            raise ModelError(f"{p}: {label} tensor is {dtype}{shape}, the manifest says {spec.dtype}{list(spec.shape)}; "
                             "the manifest does not belong to this model: export both again")
    if isinstance(manifest.preprocessing, VibPreprocessing):
        n = manifest.preprocessing.params.n_bands + 4
        if spec_len(manifest.input_tensor.shape) != n:
            raise ModelError(f"{p}: input tensor holds {spec_len(manifest.input_tensor.shape)} values but the "
                             f"pipeline makes {n} features; fix preprocessing.params.n_bands or re-export")
    elif manifest.input_tensor.shape[1:3] != [manifest.preprocessing.params.size] * 2:
        raise ModelError(f"{p}: input tensor {manifest.input_tensor.shape} does not take "
                         f"{manifest.preprocessing.params.size}x{manifest.preprocessing.params.size} images")
    del interp
    model = LoadedModel(p, manifest, num_threads=num_threads)
    try:
        score = model.score(_synthetic_window(manifest))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{p}: test inference failed ({exc}); the model does not run on this box's LiteRT: "
                         "re-export it with the training recipe") from None
    if not math.isfinite(score):
        raise ModelError(f"{p}: test inference gave a non-finite score; check the manifest's normalisation constants")
    return manifest


def spec_len(shape: list[int]) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def load_model(path_or_dir: str | Path, *, num_threads: int = 1) -> LoadedModel:
    """Validate and load a model folder (model.tflite + manifest.json) or .tflite file."""
    tflite, manifest_path = model_paths(path_or_dir)
    manifest = validate_model(tflite, manifest_path, num_threads=num_threads)
    return LoadedModel(tflite, manifest, num_threads=num_threads)
