"""GPIO driver (gpiozero): digital state inputs, part counters, MCP3008/MCP3208
analog inputs, the stop relay, heartbeat and stack light.

Build one pin factory with :func:`make_pin_factory` and pass it to the source
and the outputs; ``drivers.gpio.sim`` drives the mock pins from the machine
simulator. See README.md beside this file for wiring.
"""

from .factory import PinFactoryError, make_pin_factory, pins_present
from .output import GpioHeartbeat, GpioStopOutput, StackLight
from .source import GpioSource

__all__ = [
    "GpioHeartbeat",
    "GpioSource",
    "GpioStopOutput",
    "PinFactoryError",
    "StackLight",
    "make_pin_factory",
    "pins_present",
]
