"""Simulator backend of the GPIO driver: drive gpiozero mock pins from a
:class:`~models.training.machine.MachineSim`, and a mock MCP3008/MCP3208
on the mock SPI pins.

The mock factory is a real backend (its pins keep a state history and fire
the same callbacks as real pins); this module only decides *what* to drive.
Test verbs are gpiozero's own, on the pins: ``drive_high()``,
``drive_low()``, ``states``, ``assert_states([...])``. :func:`mock_pin`
returns such a pin; :func:`drive` drives one by meaning (active/inactive).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory, MockPin, MockSPIDevice

from .config import GpioConfig, GpioInput
from .source import SPI0_CLOCK, SPI0_MISO, SPI0_MOSI, SPI0_SELECT


def mock_pin(factory: MockFactory, pin: int) -> MockPin:
    """The mock pin with BCM number ``pin`` (created if not used yet)."""
    if not isinstance(factory, MockFactory):
        raise TypeError("simulated pins need gpiozero's MockFactory (pin_factory = \"mock\")")
    return factory.pin(pin)


def drive(factory: MockFactory, pin: int, *, active: bool, pull_up: bool = True) -> None:
    """Drive an input to its active or idle level. With a pull-up the input is
    active low (a switch to GND), as :class:`gpiozero.DigitalInputDevice` reads it."""
    p = mock_pin(factory, pin)
    if active != pull_up:
        p.drive_high()
    else:
        p.drive_low()


class MockADC(MockSPIDevice):
    """The SPI side of an MCP3008 (10 bit) or MCP3208 (12 bit), single-ended.

    Set ``volts[channel]``; gpiozero's MCP3008/MCP3208 classes on the same
    mock factory read them back (software SPI over the mock pins).

    Protocol (datasheets, section 5/6): after the select line goes low the
    chip waits for a start bit 1, then reads the single/differential bit and
    three channel bits, then clocks out a null bit and the result, MSB first.
    The master aligns its request so the result ends on the last clocked bit.
    """

    rx_buf: list[int]  # set by MockSPIDevice

    def __init__(self, *, pin_factory: MockFactory, chip: str = "MCP3008", spi_device: int = 0,
                 vref: float = 3.3) -> None:
        if chip not in ("MCP3008", "MCP3208"):
            raise ValueError("chip must be MCP3008 or MCP3208")
        super().__init__(SPI0_CLOCK, SPI0_MOSI, SPI0_MISO, SPI0_SELECT[spi_device], pin_factory=pin_factory)
        self.bits = 10 if chip == "MCP3008" else 12
        self.vref = vref
        self.volts = [0.0] * 8
        self._after_start: int | None = None  # bits received since the start bit

    def counts(self, channel: int) -> int:
        full = (1 << self.bits) - 1
        v = min(max(self.volts[channel], 0.0), self.vref)
        return int(v / self.vref * full + 0.5)

    def on_start(self) -> None:
        super().on_start()
        self._after_start = None

    def on_bit(self) -> None:
        if self._after_start is None:
            if self.rx_buf[-1]:
                self._after_start = 0
                self.rx_buf = []
            return
        self._after_start += 1
        if self._after_start == 4:  # single/diff bit + 3 channel bits
            channel = self.rx_word() & 0b111
            # The master reads one don't-care bit (the chip is still
            # sampling) and the null bit before the result, MSB first.
            self.tx_word(self.counts(channel), self.bits + 2)


class MachineSimPins:
    """Drives mock input pins from a MachineSim: one part-done pulse per
    completed part (``sim.part_events``, consumed), and the door switch from
    ``sim.door_open``. Optionally feeds ADC channels from ``sim.values()``.

    Call :meth:`step` often (every 10 ms; :meth:`run` does) after advancing
    the simulator. Pulses last ``pulse_ms`` with ``gap_ms`` between them, so
    they pass the driver's debounce like a real light barrier; a backlog
    (several parts in one step) is worked off one pulse at a time.
    """

    def __init__(self, *, pin_factory: MockFactory, part_input: GpioInput | None = None,
                 door_input: GpioInput | None = None, pulse_ms: float = 30.0, gap_ms: float = 30.0,
                 adc: MockADC | None = None, adc_channels: dict[int, tuple[str, float]] | None = None,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.factory = pin_factory
        self.part_input = part_input
        self.door_input = door_input
        for inp in (part_input, door_input):
            if inp is not None and pulse_ms <= inp.debounce_ms:
                raise ValueError(f"pulse_ms ({pulse_ms}) must exceed {inp.name}.debounce_ms ({inp.debounce_ms})")
        self.pulse_ns = int(pulse_ms * 1e6)
        self.gap_ns = int(gap_ms * 1e6)
        self.adc = adc
        self.adc_channels = adc_channels or {}  # channel -> (sim value name, volts per unit)
        self.clock = clock
        self.backlog = 0
        self.pulses = 0  # pulses completed
        self._last_part_count: int | None = None
        self._pulse_started: int | None = None
        self._idle_since = clock() - self.gap_ns
        for inp in (part_input, door_input):
            if inp is not None:
                mock_pin(pin_factory, inp.pin)

    @classmethod
    def from_config(cls, gpio_cfg: GpioConfig, *, pin_factory: MockFactory, **kwargs: object) -> MachineSimPins:
        """Part input = the counter named ``part_done`` (else the first counter);
        door input = the state input named ``door_open`` (else the first whose
        name starts with ``door``)."""
        counters = [i for i in gpio_cfg.inputs if i.kind == "counter"]
        part = next((i for i in counters if i.name == "part_done"), counters[0] if counters else None)
        states = [i for i in gpio_cfg.inputs if i.kind == "state"]
        door = next((i for i in states if i.name == "door_open"),
                    next((i for i in states if i.name.startswith("door")), None))
        return cls(pin_factory=pin_factory, part_input=part, door_input=door, **kwargs)  # type: ignore[arg-type]

    def step(self, sim: object) -> None:
        """Bring the pins up to date with ``sim`` (a MachineSim in this process)."""
        self.backlog += int(sim.part_events)  # type: ignore[attr-defined]
        sim.part_events = 0  # type: ignore[attr-defined]
        self._drive(bool(sim.door_open), sim.values)  # type: ignore[attr-defined]

    def step_values(self, values: dict[str, object]) -> None:
        """Same as :meth:`step` from ``MachineSim.values()`` as another process
        reports them (the simulator's control channel): new parts are the
        increase of ``part_count`` since the last call (32-bit wrap handled)."""
        count = int(values["part_count"])  # type: ignore[call-overload]
        if self._last_part_count is not None:
            delta = (count - self._last_part_count) & 0xFFFFFFFF
            # A huge jump is the simulator restarting (counter reset), not parts.
            self.backlog += delta if delta <= 10_000 else 0
        self._last_part_count = count
        self._drive(bool(values.get("door_open", False)), lambda: values)

    def _drive(self, door_open: bool, values: Callable[[], dict[str, object]]) -> None:
        now = self.clock()
        part = self.part_input
        if part is None:
            self.backlog = 0
        elif self._pulse_started is not None:
            if now - self._pulse_started >= self.pulse_ns:
                drive(self.factory, part.pin, active=False, pull_up=part.pull_up)
                self._pulse_started = None
                self._idle_since = now
                self.pulses += 1
        elif self.backlog and now - self._idle_since >= self.gap_ns:
            drive(self.factory, part.pin, active=True, pull_up=part.pull_up)
            self._pulse_started = now
            self.backlog -= 1
        door = self.door_input
        if door is not None:
            drive(self.factory, door.pin, active=door_open, pull_up=door.pull_up)
        if self.adc is not None and self.adc_channels:
            current = values()
            for channel, (name, volts_per_unit) in self.adc_channels.items():
                self.adc.volts[channel] = float(current[name]) * volts_per_unit  # type: ignore[arg-type]

    async def run(self, sim: object, *, period_s: float = 0.01) -> None:
        """Step forever (cancel to stop). The caller advances ``sim``."""
        while True:
            self.step(sim)
            await asyncio.sleep(period_s)
