"""The manifest that ships beside every ``model.tflite`` (``manifest.json``).

Strict: unknown keys are errors, every field is titled and bounded. The
runtime trusts nothing about a model file that the manifest does not state
and :func:`models.runtime.validate_model` has not checked.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models import features
from models.errors import ModelError

#: The models shipped in the package (one folder per model id, one per version).
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"

MODEL_ID_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
VERSION_PATTERN = r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"

ModelId = Annotated[str, Field(title="Model id", description="lower-case, digits, dashes; e.g. vibration-anomaly",
                               pattern=MODEL_ID_PATTERN)]
Version = Annotated[str, Field(title="Version", description="semantic version, e.g. 1.0.0",
                               pattern=VERSION_PATTERN)]



class StrictModel(BaseModel):
    """The manifest's strict base: unknown keys are errors (models owns its own
    base, as it imports neither drivers nor appliance)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

class InputSignal(StrictModel):
    name: str = Field(..., title="Input name", description="the key of this signal in the window passed to score()",
                      pattern=r"^[a-z][a-z0-9_]{0,62}$")
    kind: Literal["block", "scalar", "image"] = Field(
        ..., title="Signal kind", description="block = sample block (vibration), scalar = polled value, image = camera frame")
    unit: str | None = Field(None, title="Unit", max_length=16)
    sample_rate_hz: float | None = Field(None, title="Sample rate", description="Hz (block signals)", gt=0, le=1e6)


class Inputs(StrictModel):
    signals: list[InputSignal] = Field(..., title="Input signals, in the order the feature pipeline takes them",
                                       min_length=1, max_length=8)
    window: int = Field(..., title="Window length", description="samples of the block signal (1 for images)",
                        ge=1, le=1_000_000)
    hop: int = Field(..., title="Hop", description="samples between two inferences (1 for images: every frame)",
                     ge=1, le=1_000_000)
    sample_rate_hz: float | None = Field(None, title="Sample rate of the window", description="Hz; None for images",
                                         gt=0, le=1e6)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.signals]

    @property
    def hop_s(self) -> float | None:
        return self.hop / self.sample_rate_hz if self.sample_rate_hz else None


class TensorSpec(StrictModel):
    shape: list[int] = Field(..., title="Tensor shape", min_length=1, max_length=5)
    dtype: Literal["int8", "uint8", "float32", "int16", "int32"] = Field(..., title="Tensor dtype")


class VibParams(StrictModel):
    window: int = Field(..., title="Samples per window", ge=64, le=65536)
    sample_rate_hz: float = Field(..., title="Vibration sample rate", description="Hz", gt=0, le=1e6)
    n_bands: int = Field(..., title="Spectral bands", ge=2, le=128)
    f_low_hz: float = Field(..., title="Upper edge of the first band", description="Hz", gt=0)
    f_high_hz: float = Field(..., title="Upper edge of the last log band", description="Hz", gt=0)


class ImageParams(StrictModel):
    size: int = Field(..., title="Image side", description="pixels (square)", ge=8, le=1024)


class VibPreprocessing(StrictModel):
    pipeline: Literal["vib-bands-v1"] = Field(..., title="Feature pipeline id (models/features.py)")
    params: VibParams = Field(..., title="Pipeline parameters")
    feature_names: list[str] = Field(..., title="Names of the features, in order")
    mean: list[float] = Field(..., title="Normalisation mean per feature")
    std: list[float] = Field(..., title="Normalisation std per feature")
    residual_std: list[float] = Field(
        ..., title="Reconstruction residual std per feature",
        description="on normal validation data; score = mean(((reconstruction - x) / residual_std)^2)")

    @model_validator(mode="after")
    def _lengths(self) -> VibPreprocessing:
        n = self.params.n_bands + 4
        for key in ("feature_names", "mean", "std", "residual_std"):
            if len(getattr(self, key)) != n:
                raise ValueError(f"{key} must have {n} entries (n_bands + 4), has {len(getattr(self, key))}")
        if any(s <= 0 for s in self.std) or any(s <= 0 for s in self.residual_std):
            raise ValueError("every std and residual_std must be > 0")
        return self


class ImagePreprocessing(StrictModel):
    pipeline: Literal["gray96-v1"] = Field(..., title="Feature pipeline id (models/features.py)")
    params: ImageParams = Field(..., title="Pipeline parameters")


class Output(StrictModel):
    meaning: str = Field(..., title="What the output tensor is", max_length=500)
    score: str = Field(..., title="What score() returns", max_length=500)
    classes: list[str] | None = Field(None, title="Class names (classifiers), index order", max_length=64)
    good_class: str | None = Field(None, title="The class that is not a defect (classifiers)")


class Training(StrictModel):
    recipe: str = Field(..., title="Training recipe", description="module or command that reproduces the model",
                        max_length=300)
    seed: int = Field(..., title="Random seed", ge=0)
    data: str = Field(..., title="Training data", max_length=500)
    framework: str = Field(..., title="Framework used for training and conversion", max_length=100)
    dataset: str | None = Field(None, title="Extra dataset folder used (retraining)", max_length=500)


class Manifest(StrictModel):
    schema_version: Literal[1] = Field(1, title="Manifest format version")
    name: ModelId
    version: Version
    sha256: str = Field(..., title="SHA-256 of model.tflite", pattern=r"^[0-9a-f]{64}$")
    kind: Literal["anomaly", "vision"] = Field(..., title="Model kind")
    description: str = Field("", title="One-line description", max_length=300)
    inputs: Inputs = Field(..., title="Inputs")
    input_tensor: TensorSpec = Field(..., title="Model input tensor")
    output_tensor: TensorSpec = Field(..., title="Model output tensor")
    preprocessing: Annotated[VibPreprocessing | ImagePreprocessing, Field(discriminator="pipeline")] = Field(
        ..., title="Preprocessing")
    output: Output = Field(..., title="Output meaning")
    default_threshold: float = Field(..., title="Default trip threshold on score()", ge=0)
    scores_only_while_running: bool = Field(
        False, title="Scores only a machine at work",
        description="true: the model learnt steady running and false-alarms on a machine at rest or spinning "
                    "up; bind it with guard.models[].while_signal (check-config warns when it is not)")
    evaluation: dict[str, Any] = Field(default_factory=dict, title="Evaluation figures from training")
    created: dt.date = Field(..., title="Date the model was built")
    training: Training = Field(..., title="Training recipe reference")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        pipe = self.preprocessing.pipeline
        if self.kind == "anomaly" and pipe != features.VIB_PIPELINE:
            raise ValueError(f"kind 'anomaly' needs pipeline {features.VIB_PIPELINE}")
        if self.kind == "vision" and pipe != features.IMAGE_PIPELINE:
            raise ValueError(f"kind 'vision' needs pipeline {features.IMAGE_PIPELINE}")
        if isinstance(self.preprocessing, VibPreprocessing):
            if len(self.inputs.signals) != 2:
                raise ValueError("vib-bands-v1 takes two inputs: vibration block, motor current")
            if self.inputs.window != self.preprocessing.params.window:
                raise ValueError("inputs.window must equal preprocessing.params.window")
        if self.kind == "vision":
            if not self.output.classes or self.output.good_class not in self.output.classes:
                raise ValueError("a vision model names its classes and which one is good (output.good_class)")
        return self

    @property
    def id(self) -> str:
        return self.name

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest.json; ModelError says which key is wrong."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"manifest {p} not found; put manifest.json beside model.tflite") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"manifest {p} is not readable JSON ({exc}); export it again from the training recipe") from None
    return parse_manifest(raw, source=str(p))


def parse_manifest(raw: Any, *, source: str = "manifest") -> Manifest:
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"{source} is not a valid model manifest: {problems}; "
                         "fix the manifest (see models/README.md, 'Manifest format')") from None
