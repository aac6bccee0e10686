"""Config model of GPIO inputs and outputs. Owned by drivers.gpio."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drivers.schema import OutputBase, SignalBase, StrictModel


class GpioInput(SignalBase):
    pin: int = Field(..., title="BCM pin number", ge=0, le=53)
    kind: Literal["state", "counter"] = Field(
        "state", title="State signal or pulse counter",
        description="state = true while active; counter = counts activations (part-done light barrier)")
    pull_up: bool = Field(
        True, title="Internal pull-up",
        description="true: idle high, active when pulled low (switch to GND); false: pull-down, active high")
    debounce_ms: float = Field(
        5.0, title="Debounce time", description="ms; a new level counts once it has held this long", ge=0, le=10_000)


class GpioAnalog(SignalBase):
    """Raw value = fraction of the ADC reference (0..1; volts = raw x Vref),
    then value = raw * scale + offset."""

    chip: Literal["MCP3008", "MCP3208"] = Field("MCP3008", title="ADC chip")
    channel: int = Field(..., title="ADC channel", ge=0, le=7)
    spi_device: int = Field(
        0, title="SPI chip select", description="0 = CE0 (GPIO8), 1 = CE1 (GPIO7) on SPI0", ge=0, le=1)
    poll_interval_ms: int = Field(100, title="Poll interval", description="ms", ge=1, le=3_600_000)


class StackLight(StrictModel):
    green_pin: int = Field(..., title="Green lamp pin (running)", ge=0, le=53)
    amber_pin: int = Field(..., title="Amber lamp pin (attention)", ge=0, le=53)
    red_pin: int = Field(..., title="Red lamp pin (stopped)", ge=0, le=53)
    active_high: bool = Field(
        True, title="Lamp on = pin high", description="false for relay boards that switch on a low input")


class GpioConfig(StrictModel):
    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "native"] = Field(
        "auto", title="Pin factory", description="auto = real pins when present, else mock (env GPIOZERO_PIN_FACTORY wins)")
    inputs: list[GpioInput] = Field(default_factory=list, title="Digital inputs")
    analog: list[GpioAnalog] = Field(default_factory=list, title="Analog inputs (ADC)")
    stack_light: StackLight | None = Field(None, title="Stack light")
    simulator: str | None = Field(
        None, title="Drive mock pins from a simulator",
        description="host:port of `werkvloer simulate`'s control port; only with mock pins (demo, tests)",
        pattern=r"^[\w.-]+:\d{1,5}$")

    @property
    def signals(self) -> list[SignalBase]:
        return [*self.inputs, *self.analog]


class GpioOutputConfig(OutputBase):
    """A stop relay on a GPIO pin (``guard.outputs`` entry with ``kind = "gpio"``)."""

    NEEDS = ("pin",)

    kind: Literal["gpio"] = Field(..., title="Output kind")
    pin: int | None = Field(None, title="BCM pin (gpio)", ge=0, le=53)
    active_high: bool = Field(True, title="Relay energised = high (gpio)")
