"""GPIO driver (gpiozero): digital state inputs, part counters, MCP3008/MCP3208
analog inputs, the stop relay, heartbeat and stack light.

Build one pin factory with :func:`make_pin_factory` and pass it to the source
and the outputs; ``drivers.gpio.sim`` drives the mock pins from the machine
simulator. See README.md beside this file for wiring.
"""

from typing import TYPE_CHECKING

from drivers.lazy import lazy_getattr

if TYPE_CHECKING:
    from .factory import PinFactoryError, make_pin_factory, pins_present
    from .output import GpioHeartbeat, GpioStopOutput, StackLight
    from .source import GpioSource

# Lazy: the config schema imports drivers.gpio.config; gpiozero loads only
# when pins are used (the ui process never needs it).
_LAZY = {"PinFactoryError": "factory", "make_pin_factory": "factory", "pins_present": "factory",
         "GpioHeartbeat": "output", "GpioStopOutput": "output", "StackLight": "output",
         "GpioSource": "source"}


__all__ = [
    "GpioHeartbeat",
    "GpioSource",
    "GpioStopOutput",
    "PinFactoryError",
    "StackLight",
    "make_pin_factory",
    "pins_present",
]

__getattr__ = lazy_getattr(__name__, _LAZY)
