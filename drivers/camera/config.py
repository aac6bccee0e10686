"""Config model of a camera. Owned by drivers.camera."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import SignalName, StrictModel


class CameraConfig(StrictModel):
    name: SignalName = Field(..., title="Camera name (also the signal name of its frames)")
    backend: Literal["picamera2", "opencv", "replay"] = Field("replay", title="Backend")
    device: str | None = Field(None, title="OpenCV device or GStreamer pipeline")
    replay_path: str | None = Field(None, title="Folder of images or a video file (replay backend)")
    trigger_signal: str | None = Field(None, title="Capture when this signal goes true (part present)")
    interval_ms: int | None = Field(None, title="Capture interval when no trigger", description="ms", ge=10, le=3_600_000)
    width: int = Field(96, title="Frame width given to models", ge=8, le=4096)
    height: int = Field(96, title="Frame height given to models", ge=8, le=4096)
    grayscale: bool = Field(True, title="Convert to grayscale")

    @property
    def signals(self) -> list[object]:
        return []
