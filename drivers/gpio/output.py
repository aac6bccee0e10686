"""GPIO outputs: the guard's stop relay, a heartbeat and the stack light.

Each takes a ``pin_factory`` so the daemon can build one factory with
:func:`drivers.gpio.make_pin_factory` and hand the same object to the
:class:`~drivers.gpio.GpioSource`, these outputs and the simulator (with the
mock factory that is the only way they see each other's pins). Methods are
synchronous and thread-safe: the guard calls them from its own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from drivers.errors import DeviceError

from .config import GpioOutputConfig
from .config import StackLight as StackLightConfig

log = logging.getLogger(__name__)


class _Relay:
    """A relay coil on one pin: energised = the coil carries current.
    ``active_high`` says which pin level energises it (many opto-isolated
    relay boards energise on a *low* input: ``active_high = false``)."""

    def __init__(self, pin: int, *, active_high: bool, pin_factory: Factory) -> None:
        self.pin = pin
        self.active_high = active_high
        self.factory = pin_factory
        self.device: DigitalOutputDevice | None = None
        self.lock = threading.Lock()

    def open(self) -> None:
        with self.lock:
            if self.device is None:
                # Starts de-energised: the state a power cut also leaves.
                self.device = DigitalOutputDevice(
                    self.pin, active_high=self.active_high, initial_value=False, pin_factory=self.factory)

    def set(self, energised: bool, what: str) -> None:
        with self.lock:
            if self.device is None:
                raise DeviceError(f"{what} on GPIO{self.pin} is not open; call open() first")
            try:
                self.device.value = energised
                confirmed = bool(self.device.pin.state) == (energised == self.active_high)
            except Exception as exc:
                raise DeviceError(f"{what} on GPIO{self.pin} could not be switched: {exc}") from exc
            if not confirmed:
                raise DeviceError(f"{what} on GPIO{self.pin} did not take the new level; check the pin "
                                  "is not used by another program")

    @property
    def energised(self) -> bool:
        with self.lock:
            return bool(self.device is not None and self.device.value)

    def close(self) -> None:
        with self.lock:
            if self.device is not None:
                # De-energise explicitly: gpiozero's close() only turns the
                # line into an input, which leaves a relay board's input floating.
                try:
                    self.device.off()
                finally:
                    self.device.close()
                    self.device = None


class GpioStopOutput:
    """The guard's stop relay on a GPIO pin (implements ``drivers.base.StopOutput``).

    Two wirings (``run_permit``, guard config):

    - stop relay (``run_permit = false``): energised = stop. :meth:`fire`
      energises, :meth:`release` de-energises.
    - run permit (``run_permit = true``): the relay is energised only while
      the box is healthy and not tripped, and its contact sits in the
      machine's permit chain, so a dead box, a power cut or a pulled cable
      also stops the machine. :meth:`fire` de-energises, :meth:`release`
      energises. After :meth:`open` the relay is de-energised, i.e. the
      machine has no permit until the guard calls :meth:`release`.

    :meth:`energise` / :meth:`deenergise` switch the coil directly.
    A supplementary stop, not a safety function (DESIGN.md).
    """

    def __init__(self, name: str, *, pin: int, active_high: bool = True, run_permit: bool = False,
                 pin_factory: Factory) -> None:
        self.name = name
        self.run_permit = run_permit
        self._relay = _Relay(pin, active_high=active_high, pin_factory=pin_factory)

    @classmethod
    def from_config(cls, output: GpioOutputConfig, *, run_permit: bool, pin_factory: Factory) -> GpioStopOutput:
        if output.pin is None:
            raise DeviceError(f"guard output {output.name} has kind gpio but no pin; set its pin")
        return cls(output.name, pin=output.pin, active_high=output.active_high,
                   run_permit=run_permit, pin_factory=pin_factory)

    @property
    def pin(self) -> int:
        return self._relay.pin

    @property
    def energised(self) -> bool:
        return self._relay.energised

    @property
    def stopping(self) -> bool:
        """True while this output tells the machine to stop."""
        return self.energised != self.run_permit

    @property
    def connected(self) -> bool:
        return self._relay.device is not None

    def open(self) -> None:
        self._relay.open()

    def check(self) -> bool:
        """Keep-alive for the guard's output bank: True while the relay tells the machine to stop."""
        if self._relay.device is None:
            raise DeviceError(f"stop output {self.name} on GPIO{self.pin} is not open; call open() first")
        return self.stopping

    def energise(self) -> None:
        self._relay.set(True, f"stop output {self.name}")

    def deenergise(self) -> None:
        self._relay.set(False, f"stop output {self.name}")

    def fire(self) -> None:
        """Stop the machine."""
        if self.run_permit:
            self.deenergise()
        else:
            self.energise()

    def release(self) -> None:
        """Let the machine run again (after a reset)."""
        if self.run_permit:
            self.energise()
        else:
            self.deenergise()

    def close(self) -> None:
        """De-energises and frees the pin (a run permit drops: the machine stops)."""
        self._relay.close()


class GpioHeartbeat:
    """A pin the guard toggles every period, so an external watchdog relay
    (a retriggerable timer) drops the machine's permit when the guard thread
    hangs. :meth:`toggle` is called by the guard, not by a timer thread here:
    a heartbeat that ticks on its own would prove nothing."""

    def __init__(self, name: str, *, pin: int, active_high: bool = True, pin_factory: Factory) -> None:
        self.name = name
        self._relay = _Relay(pin, active_high=active_high, pin_factory=pin_factory)
        self._level = False
        self.toggles = 0

    def open(self) -> None:
        self._relay.open()

    def toggle(self) -> bool:
        """Flip the pin; returns the new level (True = active)."""
        self._level = not self._level
        self._relay.set(self._level, f"heartbeat {self.name}")
        self.toggles += 1
        return self._level

    def close(self) -> None:
        self._relay.close()


LightState = Literal["running", "attention", "stopped", "off"]
LIGHT_STATES: dict[str, tuple[bool, bool, bool]] = {
    # state: (green, amber, red)
    "running": (True, False, False),
    "attention": (False, True, False),
    "stopped": (False, False, True),
    "off": (False, False, False),
}


class StackLight:
    """Green = running, amber = attention (alert waiting, guard in shadow
    mode), red = stopped by the box. One lamp at a time. Use as a context
    manager or call :meth:`open` / :meth:`close`."""

    def __init__(self, cfg: StackLightConfig, *, pin_factory: Factory) -> None:
        self.cfg = cfg
        self._lamps = [
            _Relay(pin, active_high=cfg.active_high, pin_factory=pin_factory)
            for pin in (cfg.green_pin, cfg.amber_pin, cfg.red_pin)
        ]
        self._lock = threading.Lock()
        self.state: str = "off"

    def open(self) -> None:
        for lamp in self._lamps:
            lamp.open()

    def show(self, state: LightState) -> None:
        """Switch to ``running``, ``attention``, ``stopped`` or ``off``."""
        try:
            levels = LIGHT_STATES[state]
        except KeyError:
            raise ValueError(f"stack light state {state!r} unknown; use one of {', '.join(LIGHT_STATES)}") from None
        with self._lock:
            # Lamps going off first, so two never show together.
            for lamp, on in sorted(zip(self._lamps, levels, strict=True), key=lambda pair: pair[1]):
                lamp.set(on, "stack light")
            self.state = state

    def close(self) -> None:
        for lamp in self._lamps:
            lamp.close()

    def __enter__(self) -> StackLight:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
