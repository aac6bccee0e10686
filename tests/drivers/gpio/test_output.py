"""Stop relay, heartbeat and stack light: what the pins did, from the mock
pins' own state history (gpiozero's ``states`` / ``assert_states``)."""

from __future__ import annotations

import threading

import pytest

from appliance.errors import DeviceError
from drivers.base import StopOutput
from drivers.gpio import GpioHeartbeat, GpioStopOutput, StackLight
from drivers.gpio.config import GpioOutputConfig
from drivers.gpio.config import StackLight as StackLightConfig
from drivers.gpio.sim import mock_pin


def history(factory, pin: int) -> list[bool]:
    return [s.state for s in mock_pin(factory, pin).states]


def test_stop_relay_energises_on_fire(factory):
    out = GpioStopOutput("stop_relay", pin=16, active_high=True, pin_factory=factory)
    as_protocol: StopOutput = out  # type-checked against drivers.base.StopOutput
    assert all(callable(getattr(as_protocol, m)) for m in ("open", "fire", "release", "close"))
    out.open()
    assert not out.stopping
    out.fire()
    assert out.energised and out.stopping
    out.fire()  # idempotent: no extra edge
    out.release()
    assert not out.stopping
    out.close()
    mock_pin(factory, 16).assert_states([False, True, False])
    assert history(factory, 16) == [False, True, False]


def test_active_low_relay_board_is_driven_low_to_energise(factory):
    out = GpioStopOutput("stop_relay", pin=16, active_high=False, pin_factory=factory)
    out.open()
    assert mock_pin(factory, 16).state is True  # de-energised = high on such boards
    out.fire()
    assert mock_pin(factory, 16).state is False
    out.close()


def test_run_permit_is_energised_only_while_healthy(factory):
    out = GpioStopOutput("run_permit", pin=20, run_permit=True, pin_factory=factory)
    out.open()
    assert out.stopping  # no permit until the guard says healthy
    out.release()
    assert out.energised and not out.stopping
    out.fire()
    assert not out.energised and out.stopping
    out.release()
    out.close()  # closing drops the permit
    assert history(factory, 20) == [False, True, False, True, False]


def test_from_guard_config_and_errors(factory):
    cfg = GpioOutputConfig(name="stop_relais", kind="gpio", pin=16, active_high=True)
    out = GpioStopOutput.from_config(cfg, run_permit=False, pin_factory=factory)
    assert (out.name, out.pin) == ("stop_relais", 16)
    with pytest.raises(DeviceError, match="open"):
        out.fire()


def test_stop_output_from_another_thread(factory):
    """The guard drives the relay from its own thread on a pre-opened handle."""
    out = GpioStopOutput("stop_relay", pin=16, pin_factory=factory)
    out.open()
    t = threading.Thread(target=out.fire)
    t.start()
    t.join()
    assert mock_pin(factory, 16).state is True
    out.close()


def test_heartbeat_toggles_only_when_called(factory):
    hb = GpioHeartbeat("watchdog", pin=21, pin_factory=factory)
    hb.open()
    levels = [hb.toggle() for _ in range(4)]
    assert levels == [True, False, True, False]
    hb.close()
    assert history(factory, 21) == [False, True, False, True, False]


def test_stack_light_shows_one_lamp_per_state(factory):
    cfg = StackLightConfig(green_pin=5, amber_pin=6, red_pin=13)
    with StackLight(cfg, pin_factory=factory) as light:
        for state in ("running", "attention", "stopped", "off", "running"):
            light.show(state)
            lamps = tuple(mock_pin(factory, p).state for p in (5, 6, 13))
            assert lamps == {"running": (True, False, False), "attention": (False, True, False),
                             "stopped": (False, False, True), "off": (False, False, False)}[state]
        assert light.state == "running"
        with pytest.raises(ValueError, match="attention"):
            light.show("blinking")
    assert history(factory, 5) == [False, True, False, True, False]
    assert history(factory, 6) == [False, True, False]
    assert history(factory, 13) == [False, True, False]


def test_stack_light_on_active_low_relays(factory):
    cfg = StackLightConfig(green_pin=5, amber_pin=6, red_pin=13, active_high=False)
    with StackLight(cfg, pin_factory=factory) as light:
        light.show("stopped")
        assert [mock_pin(factory, p).state for p in (5, 6, 13)] == [True, True, False]


def test_source_and_outputs_share_one_factory(factory):
    """The same mock factory serves the relay and the pins the source reads;
    a pin used twice is refused, as on a real Pi."""
    from gpiozero.exc import GPIOPinInUse

    out = GpioStopOutput("stop_relay", pin=16, pin_factory=factory)
    out.open()
    other = GpioStopOutput("second", pin=16, pin_factory=factory)
    with pytest.raises(GPIOPinInUse):
        other.open()
    out.close()
