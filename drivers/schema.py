"""Shared building blocks for the strict config schema.

Every option is a titled, bounded ``Field``; unknown keys are errors
(``extra="forbid"``, as Frigate does). Driver config models live beside the
driver and build on these.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

SIGNAL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
# Tags of a union chosen by a key (e.g. the guard's outputs by ``kind``): pydantic puts the tag in
# an error's location; the config's error paths leave it out (appliance.config).
TAG_PREFIX = "kind="

SignalName = Annotated[
    str,
    Field(
        title="Signal name",
        description="Lower-case shop-floor name such as spindle_speed (letters, digits, _).",
        pattern=SIGNAL_NAME_PATTERN,
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SignalBase(StrictModel):
    """What every signal has, whatever its source."""

    name: SignalName
    unit: str | None = Field(None, title="Unit", description="SI unit unless stated (e.g. rpm, A, degC, kWh)", max_length=16)
    description: str | None = Field(None, title="Description", max_length=200)
    label_nl: str | None = Field(None, title="Name on Dutch screens", max_length=40)
    label_en: str | None = Field(None, title="Name on English screens", max_length=40)
    scale: float = Field(1.0, title="Scale factor", description="value = raw * scale + offset")
    offset: float = Field(0.0, title="Offset", description="value = raw * scale + offset")
    min_value: float | None = Field(None, title="Lowest plausible value", description="Values below are stored as bad quality")
    max_value: float | None = Field(None, title="Highest plausible value", description="Values above are stored as bad quality")


class OutputBase(StrictModel):
    """What every stop output's config has. Each driver's own class (``drivers/*/config.py``)
    adds ``kind`` (a one-value Literal, the key the guard's union is tagged on) and its fields;
    ``NEEDS`` names the fields that are optional in the schema but required for that kind."""

    NEEDS: ClassVar[tuple[str, ...]] = ()

    name: SignalName = Field(..., title="Output name")
    kind: str = Field(..., title="Output kind")
    value: float = Field(1, title="Value written on trip")
    timeout_ms: float = Field(50, title="Confirmation timeout", description="ms", gt=0, le=5000)

    @model_validator(mode="after")
    def _kind_fields(self) -> OutputBase:
        missing = [k for k in self.NEEDS if getattr(self, k) is None]
        if missing:
            raise ValueError(f"output kind {self.kind!r} needs {', '.join(missing)}")
        return self
