"""Choosing the pin factory: config, env, auto."""

from __future__ import annotations

import logging

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import PinFactoryError, make_pin_factory, pins_present


@pytest.mark.skipif(pins_present(), reason="this machine has GPIO pins")
def test_auto_is_mock_without_pins(caplog):
    caplog.set_level(logging.INFO, logger="drivers.gpio")
    factory = make_pin_factory("auto", env={})
    assert isinstance(factory, MockFactory)
    assert "mock (no GPIO pins" in caplog.text
    factory.close()


def test_env_wins_over_config():
    factory = make_pin_factory("lgpio", env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert isinstance(factory, MockFactory)
    factory.close()


@pytest.mark.skipif(pins_present(), reason="this machine has GPIO pins")
def test_real_factory_that_cannot_load_says_what_to_do():
    with pytest.raises(PinFactoryError, match='pin_factory = "mock"') as err:
        make_pin_factory("native", env={})
    assert isinstance(err.value, ConnectionError)  # a DeviceError


def test_unknown_factory_from_env_is_refused():
    with pytest.raises(PinFactoryError, match="unknown pin factory 'pigpoi'"):
        make_pin_factory("auto", env={"GPIOZERO_PIN_FACTORY": "pigpoi"})


def test_each_call_is_a_new_factory():
    a, b = make_pin_factory("mock", env={}), make_pin_factory("mock", env={})
    assert a is not b
    a.pin(17).drive_high()
    assert a.pin(17).state is True
    assert b.pin(17) is not a.pin(17)
    assert b.pin(17).state is False  # driving a's pin left b's alone
    a.close()
    b.close()
