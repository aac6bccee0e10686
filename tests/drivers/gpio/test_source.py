"""GpioSource over gpiozero's mock pins: states, counters, debounce with a
controlled clock, thread hand-over to the loop, ADC channels over mock SPI."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from drivers.gpio import GpioSource
from drivers.gpio.config import GpioAnalog, GpioConfig, GpioInput
from drivers.gpio.sim import MockADC, drive, mock_pin
from drivers.samples import Quality

from .conftest import wait_for


def _cfg(**kwargs) -> GpioConfig:
    return GpioConfig(pin_factory="mock", **kwargs)


DOOR = GpioInput(name="door_open", pin=17, kind="state", pull_up=True, debounce_ms=20)
PARTS = GpioInput(name="part_done", pin=27, kind="counter", pull_up=True, debounce_ms=5)


async def test_state_input_publishes_initial_and_debounced_changes(factory, clock, bus, recorder):
    async with GpioSource(_cfg(inputs=[DOOR]), bus, pin_factory=factory, clock=clock) as src:
        assert recorder.values("door_open") == [False]  # idle high with pull-up = inactive
        assert src.read("door_open") is False

        drive(factory, 17, active=True)  # switch closes to GND
        assert mock_pin(factory, 17).state is False  # pin low = active
        clock.advance_ms(19)
        assert src.read("door_open") is False  # not held 20 ms yet
        clock.advance_ms(1)
        assert src.read("door_open") is True
        await wait_for(lambda: recorder.values("door_open") == [False, True])

        drive(factory, 17, active=False)
        clock.advance_ms(25)
        await wait_for(lambda: recorder.values("door_open") == [False, True, False])
        assert src.read("door_open") is False
        assert src.health.available and src.health.state == "ok"
    assert src.health.state == "stopped"


async def test_counter_counts_pulses_and_ignores_bounce_and_glitches(factory, clock, bus, recorder):
    async with GpioSource(_cfg(inputs=[PARTS]), bus, pin_factory=factory, clock=clock) as src:
        pin = mock_pin(factory, 27)
        for _ in range(3):  # three clean 30 ms pulses
            pin.drive_low()
            clock.advance_ms(30)
            pin.drive_high()
            clock.advance_ms(30)
        assert src.read("part_done") == 3

        # One part whose contact bounces three times, then holds.
        pin.drive_low()
        clock.advance_ms(1)
        pin.drive_high()
        clock.advance_ms(1)
        pin.drive_low()
        clock.advance_ms(4)
        assert src.read("part_done") == 3  # 4 ms since the last bounce < 5 ms
        clock.advance_ms(1)
        assert src.read("part_done") == 4
        pin.drive_high()
        clock.advance_ms(10)

        # A 2 ms glitch (EMI) is not a part.
        pin.drive_low()
        clock.advance_ms(2)
        pin.drive_high()
        clock.advance_ms(50)
        assert src.read("part_done") == 4

        await wait_for(lambda: recorder.values("part_done") == [0, 1, 2, 3, 4])
        # Samples carry the time the level began, not when it was confirmed.
        stamps = [s.mono_ns for s in recorder.of("part_done")[1:]]
        assert stamps == sorted(stamps) and stamps[1] - stamps[0] == 60_000_000


async def test_edges_from_another_thread_reach_the_loop(factory, bus, recorder):
    """gpiozero calls back in its own thread; samples must be published on the loop."""
    inputs = [GpioInput(name="part_done", pin=27, kind="counter", debounce_ms=0)]
    raw_edges: list[tuple[str, bool, int]] = []
    async with GpioSource(_cfg(inputs=inputs), bus, pin_factory=factory) as src:
        edge_threads: list[int] = []
        src.on_edge(lambda sig, active, ns: (raw_edges.append((sig, active, ns)),
                                             edge_threads.append(threading.get_ident())))

        def light_barrier() -> None:
            pin = mock_pin(factory, 27)
            for _ in range(5):
                pin.drive_low()
                pin.drive_high()

        worker = threading.Thread(target=light_barrier)
        worker.start()
        await asyncio.to_thread(worker.join)
        await wait_for(lambda: recorder.values("part_done")[-1:] == [5])
        assert src.read("part_done") == 5
        loop_thread = threading.get_ident()
        assert set(recorder.threads) == {loop_thread}
        # The guard's hook ran on the raw edges, in the pin's thread.
        assert [active for _, active, _ in raw_edges] == [True, False] * 5
        assert set(edge_threads) == {worker.ident}


async def test_broken_edge_hook_does_not_stop_delivery(factory, bus, recorder, caplog):
    async with GpioSource(_cfg(inputs=[PARTS]), bus, pin_factory=factory) as src:
        src.on_edge(lambda *args: 1 / 0)
        pin = mock_pin(factory, 27)
        pin.drive_low()
        await wait_for(lambda: src.read("part_done") == 1)
        assert "edge hook" in caplog.text


async def test_read_of_unknown_signal_names_the_known_ones(factory, bus):
    async with GpioSource(_cfg(inputs=[DOOR]), bus, pin_factory=factory) as src:
        with pytest.raises(KeyError, match="door_open"):
            src.read("spindle_speed")


async def test_analog_channels_over_mock_spi(factory, bus, recorder):
    adc0 = MockADC(pin_factory=factory, chip="MCP3008", spi_device=0)
    adc1 = MockADC(pin_factory=factory, chip="MCP3208", spi_device=1)
    adc0.volts[0] = 1.65
    adc0.volts[3] = 0.66  # 4 mA through a 165 ohm shunt
    adc1.volts[7] = 3.3
    analog = [
        # raw = fraction of Vref (0..1), then scale/offset: 0..1 -> -0.5..9.5 bar
        GpioAnalog(name="air_pressure", chip="MCP3008", channel=0, scale=10.0, offset=-0.5, poll_interval_ms=5),
        # 4..20 mA through a 165 ohm shunt = 0.66..3.3 V = raw 0.2..1.0
        GpioAnalog(name="loop_current", chip="MCP3008", channel=3, scale=20.0, unit="mA", poll_interval_ms=5),
        GpioAnalog(name="coolant_level", chip="MCP3208", channel=7, spi_device=1, max_value=0.9,
                   poll_interval_ms=5),
    ]
    async with GpioSource(_cfg(analog=analog), bus, pin_factory=factory) as src:
        await wait_for(lambda: all(len(recorder.of(a.name)) >= 2 for a in analog))
        assert src.read("air_pressure") == pytest.approx(0.5 * 10 - 0.5, abs=10 / 1023)
        assert recorder.of("loop_current")[-1].value == pytest.approx(4.0, abs=0.03)
        level = recorder.of("coolant_level")[-1]
        assert level.quality is Quality.BAD and level.value == pytest.approx(1.0)
        assert src.read("coolant_level") is None  # no good value yet

        adc1.volts[7] = 1.0
        await wait_for(lambda: recorder.of("coolant_level")[-1].good)
        assert src.read("coolant_level") == pytest.approx(1.0 / 3.3, abs=1 / 4095)
        adc0.close()
        adc1.close()


async def test_adc_failure_is_a_bad_sample_and_recovers(factory, bus, recorder, caplog):
    caplog.set_level(logging.INFO, logger="drivers.gpio")
    adc = MockADC(pin_factory=factory)
    adc.volts[1] = 2.0
    analog = [GpioAnalog(name="air_pressure", channel=1, poll_interval_ms=5)]
    async with GpioSource(_cfg(analog=analog), bus, pin_factory=factory) as src:
        await wait_for(lambda: len(recorder.of("air_pressure")) >= 1)
        # The ADC's SPI device goes away under the driver (as spidev does when
        # the overlay is unloaded): the next read raises.
        src._analog["air_pressure"].device.close()
        await wait_for(lambda: recorder.of("air_pressure")[-1].quality is Quality.BAD)
        assert not src.health.available
        # The driver opens it again on the next poll.
        await wait_for(lambda: recorder.of("air_pressure")[-1].good)
        assert recorder.of("air_pressure")[-1].value == pytest.approx(2.0 / 3.3, abs=0.01)
        assert src.health.available
    assert caplog.text.count("cannot be read") == 1
    assert "reads again" in caplog.text


async def test_source_builds_and_closes_its_own_factory(bus, recorder):
    async with GpioSource(_cfg(inputs=[DOOR]), bus) as src:
        factory = src.pin_factory
        drive(factory, 17, active=True)
        await wait_for(lambda: recorder.values("door_open") == [False, True])
    assert not factory.pins  # closed


async def test_two_sources_on_two_factories_do_not_share_pins(bus, recorder):
    from drivers.gpio import make_pin_factory

    f1, f2 = make_pin_factory("mock", env={}), make_pin_factory("mock", env={})
    a1, a2 = MockADC(pin_factory=f1), MockADC(pin_factory=f2)
    a1.volts[0], a2.volts[0] = 1.0, 2.0
    cfg_a = _cfg(analog=[GpioAnalog(name="line_a", channel=0, poll_interval_ms=5)])
    cfg_b = _cfg(analog=[GpioAnalog(name="line_b", channel=0, poll_interval_ms=5)])
    async with GpioSource(cfg_a, bus, pin_factory=f1) as sa, GpioSource(cfg_b, bus, pin_factory=f2) as sb:
        await wait_for(lambda: sa.read("line_a") is not None and sb.read("line_b") is not None)
        assert sa.read("line_a") == pytest.approx(1.0 / 3.3, abs=0.01)
        assert sb.read("line_b") == pytest.approx(2.0 / 3.3, abs=0.01)
    f1.close()
    f2.close()
