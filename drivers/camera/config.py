"""Config model of a camera. Owned by drivers.camera."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from drivers.schema import SignalName, StrictModel


class CameraConfig(StrictModel):
    name: SignalName = Field(..., title="Camera name (also the signal name of its frames)")
    backend: Literal["picamera2", "opencv", "replay"] = Field(
        "replay", title="Backend",
        description="picamera2 = Pi camera (extra camera-pi); opencv = USB/V4L2/GStreamer (extra camera-cv); "
                    "replay = a folder of images or a video file")
    device: str | None = Field(
        None, title="OpenCV device or GStreamer pipeline",
        description="index (0), path (/dev/video0) or a pipeline ending in appsink; picamera2: camera number",
        max_length=1000)
    replay_path: str | None = Field(None, title="Folder of images or a video file (replay backend)", max_length=1000)
    replay_loop: bool = Field(True, title="Start the replay again at its end")
    trigger_signal: str | None = Field(None, title="Capture when this signal goes true (part present)")
    interval_ms: int | None = Field(None, title="Capture interval when no trigger", description="ms", ge=10, le=3_600_000)
    width: int = Field(96, title="Frame width given to models", ge=8, le=4096)
    height: int = Field(96, title="Frame height given to models", ge=8, le=4096)
    grayscale: bool = Field(True, title="Convert to grayscale")
    capture_width: int | None = Field(
        None, title="Sensor capture width", description="px; default: the backend's own", ge=16, le=8192)
    capture_height: int | None = Field(
        None, title="Sensor capture height", description="px; default: the backend's own", ge=16, le=8192)

    @model_validator(mode="after")
    def _needs(self) -> CameraConfig:
        if self.backend == "replay" and not self.replay_path:
            raise ValueError("backend 'replay' needs replay_path (a folder of images or a video file)")
        if self.trigger_signal is None and self.interval_ms is None:
            raise ValueError("set trigger_signal (capture when a part is present) or interval_ms (or both)")
        return self

    @property
    def signals(self) -> list[object]:
        return []
