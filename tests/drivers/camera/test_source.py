"""CameraSource end to end over the replay backend: interval and trigger
capture, snapshots, a missing camera that comes back, missing libraries."""

from __future__ import annotations

import importlib.util
import logging
import threading

import numpy as np
import pytest
from pydantic import ValidationError

from appliance.errors import DeviceError
from drivers.camera import CameraLibraryMissing, CameraSource
from drivers.camera.config import CameraConfig
from drivers.camera.frames import read_image
from drivers.camera.replay import write_replay_folder
from drivers.samples import Quality, Sample

from .conftest import wait_for


def _cam(folder, **kwargs) -> CameraConfig:
    base = {"name": "inspection", "backend": "replay", "replay_path": str(folder), "width": 32, "height": 24}
    return CameraConfig(**(base | kwargs))


async def test_interval_capture_delivers_resized_gray_frames_and_loops(replay, bus, recorder):
    async with CameraSource(_cam(replay, interval_ms=10), bus) as cam:
        await wait_for(lambda: len(recorder.of("inspection")) >= 7)
        assert cam.health.available and cam.health.state == "ok"
    frames = recorder.of("inspection")
    assert [s.value for s in frames[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.seq for s in frames[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert all(s.block.shape == (24, 32) and s.block.dtype == np.uint8 for s in frames)
    assert not np.array_equal(frames[0].block, frames[1].block)
    assert np.array_equal(frames[5].block, frames[0].block)  # the replay started again
    assert cam.health.state == "stopped"


async def test_color_frames_when_grayscale_is_off(tmp_path, bus, recorder):
    folder = tmp_path / "rgb"
    write_replay_folder(folder, count=2, color=True, suffix=".ppm")  # numpy-only reader
    async with CameraSource(_cam(folder, interval_ms=10, grayscale=False), bus):
        await wait_for(lambda: len(recorder.of("inspection")) >= 1)
    frame = recorder.of("inspection")[0].block
    assert frame.shape == (24, 32, 3)
    assert frame[..., 0].mean() > frame[..., 2].mean()  # red stays red (RGB order)


async def test_trigger_signal_rising_edges_capture_one_frame_each(replay, bus, recorder):
    async with CameraSource(_cam(replay, trigger_signal="part_present"), bus) as cam:
        def light_barrier() -> None:  # publishes from its own thread, like a GPIO callback
            for value, quality in [(False, Quality.GOOD), (True, Quality.GOOD), (True, Quality.GOOD),
                                   (False, Quality.GOOD), (True, Quality.BAD), (False, Quality.GOOD),
                                   (True, Quality.GOOD)]:
                bus.publish(Sample("part_present", value, quality))

        t = threading.Thread(target=light_barrier)
        t.start()
        t.join()
        cam.trigger()  # a marker: triggers are served in order, so this is frame 3
        await wait_for(lambda: len(recorder.of("inspection")) == 3)
        assert [s.value for s in recorder.of("inspection")] == [1, 2, 3]
        assert cam.latest is recorder.of("inspection")[-1].block
        assert cam.triggers_dropped == 0


async def test_snapshot_keeps_full_resolution_frame(replay, bus, recorder, tmp_path):
    async with CameraSource(_cam(replay, trigger_signal="part_present"), bus) as cam:
        with pytest.raises(DeviceError, match="no frame yet"):
            cam.snapshot(tmp_path / "none.jpg")
        cam.trigger()
        await wait_for(lambda: len(recorder.of("inspection")) == 1)
        full = cam.snapshot(tmp_path / "alerts" / "42.jpg")
        small = cam.snapshot(tmp_path / "alerts" / "42-model.png", processed=True)
    assert read_image(full).shape == (120, 160)
    assert np.array_equal(read_image(small), recorder.of("inspection")[0].block)


async def test_replay_without_loop_stops_at_its_end(replay, bus, recorder, caplog):
    caplog.set_level(logging.INFO, logger="drivers.camera")
    async with CameraSource(_cam(replay, interval_ms=10, replay_loop=False), bus) as cam:
        await wait_for(lambda: cam.health.state == "stopped")
        assert len(recorder.of("inspection")) == 5
    assert "has ended" in caplog.text


async def test_missing_camera_is_retried_until_it_appears(tmp_path, bus, recorder, caplog):
    caplog.set_level(logging.INFO, logger="drivers.camera")
    folder = tmp_path / "later"
    async with CameraSource(_cam(folder, interval_ms=10), bus, retry_min_s=0.01, retry_max_s=0.05) as cam:
        assert not cam.health.available and cam.health.state == "unavailable"
        assert "does not exist" in cam.health.last_error
        await wait_for(lambda: caplog.text.count("failed") >= 1)
        write_replay_folder(folder, count=2)  # the camera is plugged in
        await wait_for(lambda: len(recorder.of("inspection")) >= 2)
        assert cam.health.available
    assert caplog.text.count("failed") == 1  # ERROR once, not per retry
    assert "is back" in caplog.text


async def test_frame_read_error_is_a_bad_sample_then_recovers(replay, bus, recorder):
    (replay / "frame_0002.png").write_bytes(b"not a png")  # a corrupt frame
    async with CameraSource(_cam(replay, interval_ms=10), bus, retry_min_s=0.01) as cam:
        await wait_for(lambda: any(s.quality is Quality.BAD for s in recorder.of("inspection")))
        await wait_for(lambda: len([s for s in recorder.of("inspection") if s.good]) >= 3)
        assert cam.health.last_error


@pytest.mark.skipif(importlib.util.find_spec("cv2") is not None, reason="OpenCV is installed here")
@pytest.mark.parametrize("cfg, extra, package", [
    ({"backend": "opencv", "device": "0"}, "camera-cv", "opencv-python-headless"),
    ({"backend": "replay", "replay_path": "line3.mp4"}, "camera-cv", "opencv-python-headless"),
])
async def test_missing_opencv_names_the_extra(bus, cfg, extra, package):
    config = CameraConfig(name="usb_camera", interval_ms=100, **cfg)
    with pytest.raises(CameraLibraryMissing) as err:
        async with CameraSource(config, bus):
            pass
    assert extra in str(err.value) and package in str(err.value)
    assert isinstance(err.value, ImportError)


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
async def test_missing_picamera2_names_the_extra(bus):
    config = CameraConfig(name="pi_camera", backend="picamera2", interval_ms=100)
    with pytest.raises(CameraLibraryMissing, match="camera-pi"):
        async with CameraSource(config, bus):
            pass


def test_config_says_what_is_missing():
    with pytest.raises(ValidationError, match="replay_path"):
        CameraConfig(name="c", backend="replay", interval_ms=100)
    with pytest.raises(ValidationError, match="trigger_signal"):
        CameraConfig(name="c", backend="opencv")
    with pytest.raises(ValidationError, match="extra"):
        CameraConfig(name="c", backend="opencv", interval_ms=100, fps=3)
