"""The simulator backend: a MachineSim drives the mock pins the source reads."""

from __future__ import annotations

import asyncio

import pytest

from drivers.gpio import GpioSource
from drivers.gpio.config import GpioAnalog, GpioConfig, GpioInput
from drivers.gpio.sim import MachineSimPins, MockADC, mock_pin
from models.training.machine import MachineSim, MachineState, TimelineStep

from .conftest import wait_for

CFG = GpioConfig(
    pin_factory="mock",
    inputs=[
        GpioInput(name="part_count", pin=27, kind="counter", debounce_ms=5),
        GpioInput(name="door_open", pin=17, kind="state", debounce_ms=20),
    ],
    analog=[GpioAnalog(name="motor_current", channel=0, scale=30.0, unit="A", poll_interval_ms=5)],
)


def running_sim() -> MachineSim:
    return MachineSim(seed=1, timeline=[TimelineStep(at_s=0.0, state=MachineState.RUNNING)])


async def test_parts_door_and_current_follow_the_simulator(factory, clock, bus, recorder):
    sim = running_sim()
    adc = MockADC(pin_factory=factory)  # before the source opens the SPI pins
    pins = MachineSimPins.from_config(CFG, pin_factory=factory, clock=clock, adc=adc,
                                      adc_channels={0: ("motor_current", 3.3 / 30.0)})
    assert (pins.part_input.name, pins.door_input.name) == ("part_count", "door_open")
    async with GpioSource(CFG, bus, pin_factory=factory, clock=clock) as src:
        sim.advance(61.0)  # 12 s cycle: five parts in one step
        assert sim.part_events == 5
        for _ in range(40):  # 400 ms of 10 ms steps: pulses of 30 ms, gaps of 30 ms
            pins.step(sim)
            clock.advance_ms(10)
        assert sim.part_events == 0 and pins.backlog == 0 and pins.pulses == 5
        assert src.read("part_count") == sim.part_count == 5
        # gpiozero's own state history of the light-barrier pin: created
        # floating (low), pulled up by the input, then five pulses to GND.
        assert [s.state for s in mock_pin(factory, 27).states] == [False, True] + [False, True] * 5

        sim.door_open = True
        pins.step(sim)
        clock.advance_ms(25)
        assert src.read("door_open") is True
        await wait_for(lambda: recorder.values("door_open")[-1:] == [True])

        await wait_for(lambda: src.read("motor_current") is not None)
        assert src.read("motor_current") == pytest.approx(sim.values()["motor_current"], abs=0.1)
        await wait_for(lambda: recorder.values("part_count")[-1:] == [5])
    adc.close()


async def test_run_task_with_the_real_clock(factory, bus, recorder):
    sim = running_sim()
    cfg = GpioConfig(pin_factory="mock", inputs=[GpioInput(name="part_done", pin=22, kind="counter")])
    pins = MachineSimPins.from_config(cfg, pin_factory=factory, pulse_ms=15, gap_ms=15)
    async with GpioSource(cfg, bus, pin_factory=factory) as src:
        task = asyncio.create_task(pins.run(sim, period_s=0.005))
        sim.advance(36.5)  # three parts
        await wait_for(lambda: recorder.values("part_done")[-1:] == [3])
        assert src.read("part_done") == 3
        task.cancel()


async def test_values_from_a_simulator_in_another_process(factory, clock, bus):
    """The simulator runs in its own process; its control channel reports values()."""
    pins = MachineSimPins.from_config(CFG, pin_factory=factory, clock=clock)
    async with GpioSource(CFG, bus, pin_factory=factory, clock=clock) as src:
        reports = [{"part_count": 0xFFFFFFFE, "door_open": False},  # first report: a baseline
                   {"part_count": 0xFFFFFFFF, "door_open": False},
                   {"part_count": 1, "door_open": True},  # wrapped: two more parts
                   {"part_count": 0, "door_open": True}]  # simulator restarted: no parts
        for values in reports:
            for _ in range(10):
                pins.step_values(values)
                clock.advance_ms(10)
        for _ in range(20):
            pins.step_values(reports[-1])
            clock.advance_ms(10)
        assert src.read("part_count") == 3
        assert src.read("door_open") is True


def test_pulse_shorter_than_debounce_is_refused(factory):
    with pytest.raises(ValueError, match="debounce"):
        MachineSimPins.from_config(CFG, pin_factory=factory, pulse_ms=5)


def test_mock_pin_needs_the_mock_factory():
    with pytest.raises(TypeError, match="MockFactory"):
        mock_pin(object(), 17)  # type: ignore[arg-type]
