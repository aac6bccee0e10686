"""A light barrier on a (mock) GPIO pin triggers the camera: two real drivers on one bus."""

from __future__ import annotations

from drivers.camera import CameraSource
from drivers.camera.config import CameraConfig
from drivers.gpio import GpioSource, make_pin_factory
from drivers.gpio.config import GpioConfig, GpioInput
from drivers.gpio.sim import drive

from .conftest import wait_for


async def test_part_present_on_gpio_captures_one_frame_per_part(replay, bus, recorder):
    factory = make_pin_factory("mock", env={})
    gpio_cfg = GpioConfig(pin_factory="mock", inputs=[
        GpioInput(name="part_present", pin=23, kind="state", debounce_ms=0)])
    cam_cfg = CameraConfig(name="inspection", backend="replay", replay_path=str(replay),
                           trigger_signal="part_present", width=48, height=48)
    async with GpioSource(gpio_cfg, bus, pin_factory=factory), CameraSource(cam_cfg, bus) as cam:
        for part in range(1, 4):
            drive(factory, 23, active=True)
            await wait_for(lambda part=part: len(recorder.of("inspection")) == part)
            drive(factory, 23, active=False)
            await wait_for(lambda: recorder.of("part_present")[-1].value is False)
        assert [s.value for s in recorder.of("inspection")] == [1, 2, 3]
        assert cam.latest.shape == (48, 48)
    factory.close()
