"""gpiozero's MockFactory with a software SPI that stays on its own factory.

gpiozero 2.0.1's software SPI has two global couplings that break "one pin
factory per source, no global state":

- ``SPISoftwareBus.__init__`` calls ``Device.__init__()`` without the
  ``pin_factory`` it was given, so it builds (and assigns) the *global*
  default factory first; on a PC without pins that raises
  ``BadPinFactory`` even though every pin comes from the mock factory.
- shared SPI objects are cached in ``SharedMixin._instances``, one dict for
  the whole process, keyed by pin numbers only, so two mock factories would
  share one bus object.

:class:`MockPinFactory` returns SPI classes that pass the factory through and
key their cache by factory. Real factories are unaffected (lgpio's hardware
SPI passes the factory correctly).
"""

from __future__ import annotations

from threading import RLock

from gpiozero.devices import Device, SharedMixin
from gpiozero.input_devices import InputDevice
from gpiozero.output_devices import OutputDevice
from gpiozero.pins import SPI
from gpiozero.pins.mock import MockFactory
from gpiozero.pins.spi import SPISoftware, SPISoftwareBus


class _SoftwareBus(SPISoftwareBus):
    _instances: dict = {}  # our own cache, keyed by factory too

    def __init__(self, clock_pin, mosi_pin, miso_pin, *, pin_factory):  # noqa: D107
        self.lock = None
        self.clock = None
        self.mosi = None
        self.miso = None
        Device.__init__(self, pin_factory=pin_factory)  # the fix: pass the factory
        self.lock = RLock()
        try:
            self.clock = OutputDevice(clock_pin, active_high=True, pin_factory=pin_factory)
            if mosi_pin is not None:
                self.mosi = OutputDevice(mosi_pin, pin_factory=pin_factory)
            if miso_pin is not None:
                self.miso = InputDevice(miso_pin, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise

    @classmethod
    def _shared_key(cls, clock_pin, mosi_pin, miso_pin, *, pin_factory=None):
        return (id(pin_factory), clock_pin, mosi_pin, miso_pin)


class _SoftwareSPI(SPISoftware):
    def __init__(self, clock_pin, mosi_pin, miso_pin, select_pin, *, pin_factory):  # noqa: D107
        self._bus = None
        self._select = None
        SPI.__init__(self, pin_factory=pin_factory)
        try:
            self._clock_phase = False
            self._lsb_first = False
            self._bits_per_word = 8
            self._bus = _SoftwareBus(clock_pin, mosi_pin, miso_pin, pin_factory=pin_factory)
            self._select = OutputDevice(select_pin, active_high=False, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise


class _SoftwareSPIShared(SharedMixin, _SoftwareSPI):
    _instances: dict = {}

    @classmethod
    def _shared_key(cls, clock_pin, mosi_pin, miso_pin, select_pin, pin_factory):
        return (id(pin_factory), clock_pin, select_pin)


class MockPinFactory(MockFactory):
    """gpiozero's MockFactory (same pins, same test verbs) whose software SPI
    uses only this factory. Build mock SPI peripherals
    (:class:`drivers.gpio.sim.MockADC`) on it *before* the devices that talk
    to them, so their clock and select pins get the mock SPI pin classes."""

    def _get_spi_class(self, shared, hardware):
        return _SoftwareSPIShared if shared else _SoftwareSPI
