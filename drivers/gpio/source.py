"""GPIO inputs as a Source: digital state signals, part counters, ADC channels.

Threads (explicit, see STYLE.md item 4):

- gpiozero calls our edge callbacks in its own thread (lgpio/RPi.GPIO event
  thread; with the mock factory, the thread that drives the pin). There we
  only feed the debouncer under a per-input lock, run the guard's
  ``on_edge`` hooks, and hand the rest to the event loop with
  ``loop.call_soon_threadsafe``.
- On the event loop: confirm debounced changes (a ``call_later`` timer when a
  level still has to hold), publish samples, poll the ADC channels (the SPI
  transfer itself runs in a worker thread).
- Any thread (the guard's): :meth:`GpioSource.read` returns the debounced
  state or count right now, computed from the clock, without the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from gpiozero import MCP3008, MCP3208, DigitalInputDevice
from gpiozero.pins import Factory

from drivers.base import SourceHealth
from drivers.convert import convert
from drivers.samples import Quality, Sample, SampleSink

from .config import GpioAnalog, GpioConfig, GpioInput
from .debounce import Debouncer
from .factory import make_pin_factory

log = logging.getLogger(__name__)

Clock = Callable[[], int]
EdgeHook = Callable[[str, bool, int], None]

# Hardware SPI0 pins (BCM); gpiozero picks hardware SPI for these when spidev
# is present, and bit-bangs them on the mock factory.
SPI0_CLOCK, SPI0_MOSI, SPI0_MISO = 11, 10, 9
SPI0_SELECT = {0: 8, 1: 7}
_ADC_CLASS = {"MCP3008": MCP3008, "MCP3208": MCP3208}


class _Input:
    """One digital input: its device, debouncer and count, guarded by a lock."""

    def __init__(self, cfg: GpioInput, device: DigitalInputDevice, now_ns: int) -> None:
        self.cfg = cfg
        self.device = device
        self.lock = threading.Lock()
        self.debouncer = Debouncer(
            bool(device.is_active), hold_ns=int(cfg.debounce_ms * 1_000_000), now_ns=now_ns)
        self.count = 0
        self.unpublished: list[Sample] = []
        self.timer: asyncio.TimerHandle | None = None

    def apply(self, changes: list[tuple[bool, int]], clock_now: int) -> None:
        """Record confirmed changes (caller holds the lock)."""
        for level, since_ns in changes:
            if self.cfg.kind == "counter":
                if not level:
                    continue
                self.count += 1
                value: bool | int = self.count
            else:
                value = level
            # The change happened at since_ns on our clock; give UTC the same age.
            utc_ns = time.time_ns() - max(0, clock_now - since_ns)
            self.unpublished.append(Sample(self.cfg.name, value, mono_ns=since_ns, utc_ns=utc_ns))

    def current(self) -> bool | int:
        return self.count if self.cfg.kind == "counter" else self.debouncer.level


class _Analog:
    def __init__(self, cfg: GpioAnalog, device: MCP3008 | MCP3208) -> None:
        self.cfg = cfg
        self.device: MCP3008 | MCP3208 | None = device
        self.value: float | None = None
        self.failing = False


class GpioSource:
    """Digital and analog GPIO inputs published on the bus.

    ``pin_factory``: share one factory with the stop relay and stack light
    (build it with :func:`drivers.gpio.make_pin_factory`); when omitted the
    source builds its own from ``gpio_cfg.pin_factory`` and closes it on exit.
    ``clock``: monotonic nanoseconds (tests inject a controlled clock to test
    debounce).
    """

    kind = "gpio"

    def __init__(self, gpio_cfg: GpioConfig, bus: SampleSink, *, pin_factory: Factory | None = None,
                 clock: Clock = time.monotonic_ns, name: str = "gpio") -> None:
        self.cfg = gpio_cfg
        self.bus = bus
        self.name = name
        self.health = SourceHealth(name=name, kind=self.kind)
        self.clock = clock
        self._factory = pin_factory
        self._own_factory = pin_factory is None
        self._inputs: dict[str, _Input] = {}
        self._analog: dict[str, _Analog] = {}
        self._spi_lock = threading.Lock()
        self._edge_hooks: list[EdgeHook] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # ----- public ------------------------------------------------------------
    @property
    def pin_factory(self) -> Factory:
        if self._factory is None:
            raise RuntimeError("the pin factory exists once the source is started (async with)")
        return self._factory

    def read(self, signal: str) -> bool | int | float | None:
        """Debounced state (bool), part count (int) or last ADC value (float,
        None before the first good read). Thread-safe; never waits on the
        event loop, so the guard may call it on its fast path."""
        inp = self._inputs.get(signal)
        if inp is not None:
            with inp.lock:
                now = self.clock()
                change = inp.debouncer.advance(now)
                if change is not None:
                    # Published by the loop timer that is already scheduled.
                    inp.apply([change], now)
                return inp.current()
        analog = self._analog.get(signal)
        if analog is not None:
            return analog.value
        raise KeyError(f"{signal!r} is not a GPIO signal of this source; known: {', '.join(self.signals)}")

    @property
    def signals(self) -> list[str]:
        return [*self._inputs, *self._analog] or [s.name for s in self.cfg.signals]

    def on_edge(self, callback: EdgeHook) -> None:
        """Run ``callback(signal, active, mono_ns)`` on every raw edge, in
        gpiozero's thread, before debounce (the guard latches a stop, so a
        bounce cannot hurt it). It must not block."""
        self._edge_hooks = [*self._edge_hooks, callback]

    # ----- lifecycle ----------------------------------------------------------
    async def __aenter__(self) -> GpioSource:
        self._loop = asyncio.get_running_loop()
        if self._factory is None:
            self._factory = make_pin_factory(self.cfg.pin_factory)
        try:
            self._open_devices()
        except BaseException:
            self._close_devices()
            raise
        now = self.clock()
        for inp in self._inputs.values():
            self.bus.publish(Sample(inp.cfg.name, inp.current(), mono_ns=now))
        for analog in self._analog.values():
            self._tasks.append(asyncio.create_task(self._poll(analog), name=f"gpio-adc-{analog.cfg.name}"))
        self.health.state = "ok"
        self.health.available = True
        self.health.last_good_utc_ns = time.time_ns()
        log.info("GPIO source %s started: %d inputs, %d analog", self.name, len(self._inputs), len(self._analog))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self._close_devices()
        self.health.state = "stopped"
        self.health.available = False

    def _open_devices(self) -> None:
        factory = self.pin_factory
        now = self.clock()
        for cfg in self.cfg.inputs:
            device = DigitalInputDevice(cfg.pin, pull_up=cfg.pull_up, bounce_time=None, pin_factory=factory)
            inp = _Input(cfg, device, now)
            self._inputs[cfg.name] = inp
            # gpiozero calls these in its event thread; bind the name now.
            device.when_activated = self._edge_callback(cfg.name, True)
            device.when_deactivated = self._edge_callback(cfg.name, False)
        for acfg in self.cfg.analog:
            self._analog[acfg.name] = _Analog(acfg, self._open_adc(acfg))

    def _open_adc(self, acfg: GpioAnalog) -> MCP3008 | MCP3208:
        return _ADC_CLASS[acfg.chip](
            channel=acfg.channel, clock_pin=SPI0_CLOCK, mosi_pin=SPI0_MOSI,
            miso_pin=SPI0_MISO, select_pin=SPI0_SELECT[acfg.spi_device], pin_factory=self.pin_factory)

    def _close_devices(self) -> None:
        for inp in self._inputs.values():
            if inp.timer is not None:
                inp.timer.cancel()
            inp.device.when_activated = None
            inp.device.when_deactivated = None
            inp.device.close()
        for analog in self._analog.values():
            if analog.device is not None:
                analog.device.close()
        if self._own_factory and self._factory is not None:
            self._factory.close()

    # ----- digital: gpiozero thread -> loop -----------------------------------
    def _edge_callback(self, signal: str, active: bool) -> Callable[[], None]:
        def on_edge() -> None:
            self._edge(signal, active)

        return on_edge

    def _edge(self, signal: str, active: bool) -> None:
        """In gpiozero's thread."""
        inp = self._inputs[signal]
        now = self.clock()
        # The hooks first: the guard decides and switches its relay before our own bookkeeping (issue 11).
        for hook in self._edge_hooks:
            try:
                hook(signal, active, now)
            except Exception:  # a broken hook must not stop edge delivery
                log.exception("GPIO edge hook %r failed on %s", hook, signal)
        with inp.lock:
            inp.apply(inp.debouncer.feed(active, now), now)
        loop = self._loop
        if loop is not None and not self._closed:
            try:
                loop.call_soon_threadsafe(self._settle, signal)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _settle(self, signal: str) -> None:
        """On the loop: confirm what has held, publish, re-arm the timer."""
        if self._closed:
            return
        inp = self._inputs[signal]
        with inp.lock:
            now = self.clock()
            change = inp.debouncer.advance(now)
            if change is not None:
                inp.apply([change], now)
            samples, inp.unpublished = inp.unpublished, []
            due = inp.debouncer.due_ns()
        for sample in samples:
            self.bus.publish(sample)
        if samples:
            self.health.last_good_utc_ns = time.time_ns()
        if inp.timer is not None:
            inp.timer.cancel()
            inp.timer = None
        if due is not None and self._loop is not None:
            # At least 1 ms: with an injected clock that does not move, this
            # re-checks at a bounded rate instead of spinning.
            delay_s = max(due - now, 1_000_000) / 1e9
            inp.timer = self._loop.call_later(delay_s, self._settle, signal)

    # ----- analog: polled --------------------------------------------------------
    def _read_fraction(self, analog: _Analog) -> float:
        """In a worker thread. After a failure the device is closed and
        opened again on the next poll (spidev may need a fresh handle)."""
        with self._spi_lock:
            if analog.device is None:
                analog.device = self._open_adc(analog.cfg)
            try:
                return float(analog.device.value)  # 0..1 of Vref
            except Exception:
                device, analog.device = analog.device, None
                try:
                    device.close()
                except Exception:  # already broken; the reopen decides
                    pass
                raise

    async def _poll(self, analog: _Analog) -> None:
        cfg = analog.cfg
        interval_s = cfg.poll_interval_ms / 1000
        next_at = time.monotonic()
        while True:
            sample = await self._poll_once(analog)
            self.bus.publish(sample)
            next_at += interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (slow SPI, busy loop): skip, do not burst
                next_at = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def _poll_once(self, analog: _Analog) -> Sample:
        cfg = analog.cfg
        try:
            raw = await asyncio.to_thread(self._read_fraction, analog)
        except Exception as exc:
            if not analog.failing:
                log.error("GPIO ADC %s (%s channel %d) cannot be read: %s; check SPI wiring and "
                          "that SPI is enabled (raspi-config)", cfg.name, cfg.chip, cfg.channel, exc)
                analog.failing = True
            self.health.available = False
            self.health.last_error = f"{cfg.name}: {exc}"
            return Sample(cfg.name, None, Quality.BAD)
        if analog.failing:
            log.info("GPIO ADC %s reads again", cfg.name)
            analog.failing = False
            self.health.available = not any(a.failing for a in self._analog.values())
        value, problem = convert(cfg, raw)
        self.health.last_good_utc_ns = time.time_ns()
        if problem is not None:
            log.debug("GPIO ADC %s: %s", cfg.name, problem)
            return Sample(cfg.name, value, Quality.BAD)
        analog.value = value
        return Sample(cfg.name, value)
