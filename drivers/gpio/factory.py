"""Choosing a gpiozero pin factory without touching ``Device.pin_factory``.

Every device in this package takes its factory as an argument, so a test or
the daemon builds one factory and hands the same object to the source, the
stop relay and the stack light (a mock factory only sees the pins of the
devices built on it). Nothing here assigns the global default factory, so
there is nothing for tests to reset.
"""

from __future__ import annotations

import glob
import logging
import os

from gpiozero.pins import Factory

from drivers.errors import DeviceError

log = logging.getLogger(__name__)

ENV_VAR = "GPIOZERO_PIN_FACTORY"

# Preferred order on a real Pi: lgpio works on every model (Pi 5 included) from
# user space; RPi.GPIO does not support the Pi 5; native is pure Python.
_REAL = {
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    "native": ("gpiozero.pins.native", "NativeFactory"),
}
_HINT = {
    "lgpio": "install it (apt install python3-lgpio, or pip install lgpio)",
    "rpigpio": "install it (apt install python3-rpi.gpio); it does not support the Pi 5",
    "native": "it needs a Raspberry Pi (/dev/gpiomem)",
}


class PinFactoryError(DeviceError):
    """The requested pin factory cannot be loaded on this machine."""


def pins_present() -> bool:
    """True when this machine has GPIO character devices or /dev/gpiomem."""
    return bool(glob.glob("/dev/gpiochip*")) or os.path.exists("/dev/gpiomem")


def _load(name: str) -> Factory:
    if name == "mock":
        from .mockspi import MockPinFactory

        return MockPinFactory()
    if name not in _REAL:
        raise PinFactoryError(
            f"unknown pin factory {name!r}; use one of auto, mock, {', '.join(_REAL)}")
    module_name, class_name = _REAL[name]
    try:
        module = __import__(module_name, fromlist=[class_name])
        return getattr(module, class_name)()
    except Exception as exc:  # ImportError, PinUnknownPi, OSError from the chip
        raise PinFactoryError(
            f"pin factory {name!r} cannot be used here ({exc}); {_HINT[name]}, "
            f"or set sources.gpio.pin_factory = \"mock\" on a machine without pins") from exc


def make_pin_factory(name: str = "auto", *, env: dict[str, str] | None = None) -> Factory:
    """A new pin factory. ``GPIOZERO_PIN_FACTORY`` in ``env`` (default: the
    process environment) wins over ``name``; ``auto`` = real pins when this
    machine has them, else gpiozero's MockFactory.

    Raises :class:`PinFactoryError` when a real factory is asked for (or pins
    are present under ``auto``) but none loads: a box whose stop relay would
    silently be a mock must not start.
    """
    environ = os.environ if env is None else env
    chosen = environ.get(ENV_VAR, "").strip().lower() or name
    if chosen != "auto":
        factory = _load(chosen)
        log.info("GPIO pin factory: %s (%s)", chosen, "from " + ENV_VAR if chosen != name else "from config")
        return factory
    if not pins_present():
        log.info("GPIO pin factory: mock (no GPIO pins on this machine)")
        return _load("mock")
    errors = []
    for candidate in _REAL:
        try:
            factory = _load(candidate)
        except PinFactoryError as exc:
            errors.append(str(exc))
            continue
        log.info("GPIO pin factory: %s (real pins)", candidate)
        return factory
    raise PinFactoryError(
        "this machine has GPIO pins but no pin library loads; install python3-lgpio "
        "(or set sources.gpio.pin_factory = \"mock\"). Tried: " + " | ".join(errors))


def is_mock(factory: Factory) -> bool:
    from gpiozero.pins.mock import MockFactory

    return isinstance(factory, MockFactory)
