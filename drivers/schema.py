"""Shared building blocks for the strict config schema.

Every option is a titled, bounded ``Field``; unknown keys are errors
(``extra="forbid"``, as Frigate does). Driver config models live beside the
driver and build on these.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SIGNAL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

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
