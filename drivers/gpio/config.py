"""Config model of GPIO inputs and outputs. Owned by drivers.gpio."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import SignalBase, StrictModel


class GpioInput(SignalBase):
    pin: int = Field(..., title="BCM pin number", ge=0, le=53)
    kind: Literal["state", "counter"] = Field("state", title="State signal or pulse counter")
    pull_up: bool = Field(True, title="Internal pull-up")
    debounce_ms: float = Field(5.0, title="Debounce time", description="ms", ge=0, le=10_000)


class GpioAnalog(SignalBase):
    chip: Literal["MCP3008", "MCP3208"] = Field("MCP3008", title="ADC chip")
    channel: int = Field(..., title="ADC channel", ge=0, le=7)
    poll_interval_ms: int = Field(100, title="Poll interval", description="ms", ge=1, le=3_600_000)


class StackLight(StrictModel):
    green_pin: int = Field(..., title="Green lamp pin (running)", ge=0, le=53)
    amber_pin: int = Field(..., title="Amber lamp pin (attention)", ge=0, le=53)
    red_pin: int = Field(..., title="Red lamp pin (stopped)", ge=0, le=53)


class GpioConfig(StrictModel):
    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "native"] = Field(
        "auto", title="Pin factory", description="auto = real pins when present, else mock (env GPIOZERO_PIN_FACTORY wins)")
    inputs: list[GpioInput] = Field(default_factory=list, title="Digital inputs")
    analog: list[GpioAnalog] = Field(default_factory=list, title="Analog inputs (ADC)")
    stack_light: StackLight | None = Field(None, title="Stack light")

    @property
    def signals(self) -> list[SignalBase]:
        return [*self.inputs, *self.analog]
