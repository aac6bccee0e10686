"""Camera backends: each opens a device and returns frames as numpy arrays
(uint8, HxW gray or HxWx3 RGB). Calls block; the source runs them in a
worker thread. picamera2 and OpenCV are optional extras, imported only when
their backend is configured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from drivers.errors import DeviceError, DeviceUnavailable

from .config import CameraConfig
from .frames import IMAGE_SUFFIXES, normalise, read_image, require

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".mjpeg", ".mjpg", ".webm")


class Backend(Protocol):
    description: str

    def open(self) -> None: ...

    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...


class ReplayImages:
    """A folder of images, in file-name order (tests and demos)."""

    def __init__(self, folder: Path, *, loop: bool) -> None:
        self.folder = folder
        self.loop = loop
        self.files: list[Path] = []
        self.position = 0
        self.description = f"replay of {folder}"

    def open(self) -> None:
        if not self.folder.is_dir():
            raise DeviceUnavailable(f"replay folder {self.folder} does not exist; check replay_path")
        self.files = sorted(p for p in self.folder.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise DeviceUnavailable(
                f"replay folder {self.folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.position = 0

    def read(self) -> np.ndarray:
        if self.position >= len(self.files):
            if not self.loop:
                raise EOFError(f"replay of {self.folder} has ended ({len(self.files)} images)")
            self.position = 0
        path = self.files[self.position]
        self.position += 1
        return read_image(path)

    def close(self) -> None:
        self.files = []


class OpenCVCapture:
    """cv2.VideoCapture: a USB camera (V4L2), a GStreamer pipeline (Jetson
    CSI cameras: nvarguscamerasrc ... ! appsink) or a video file (replay)."""

    def __init__(self, source: str, *, loop: bool = False, width: int | None = None,
                 height: int | None = None, why: str = "the opencv camera backend") -> None:
        self.source = source
        self.loop = loop
        self.width = width
        self.height = height
        self.why = why
        self.cap = None
        self.description = f"OpenCV {source}"

    def open(self) -> None:
        require("cv2", extra="camera-cv", package="opencv-python-headless", why=self.why)
        import cv2

        src = self.source
        if src.isdigit():
            cap = cv2.VideoCapture(int(src), cv2.CAP_V4L2)
        elif "!" in src:
            cap = cv2.VideoCapture(src, cv2.CAP_GSTREAMER)
        else:
            cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(
                f"camera {src!r} cannot be opened; check the cable, that the device exists "
                "(ls /dev/video*) and that no other program uses it")
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.cap = cap

    def read(self) -> np.ndarray:
        if self.cap is None:
            raise DeviceError("camera is not open")
        ok, frame = self.cap.read()
        if not ok and self.loop:
            import cv2

            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
        if not ok or frame is None:
            raise DeviceUnavailable(f"camera {self.source!r} returned no frame")
        frame = normalise(frame)
        return frame if frame.ndim == 2 else frame[..., ::-1]  # OpenCV gives BGR

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class Picamera2Capture:
    """The Raspberry Pi camera (libcamera) through picamera2. picamera2 comes
    with Raspberry Pi OS (apt install python3-picamera2); the venv must see
    system site packages, or install the extra camera-pi."""

    def __init__(self, *, camera_num: int = 0, width: int | None = None, height: int | None = None) -> None:
        self.camera_num = camera_num
        self.size = (width or 640, height or 480)
        self.cam = None
        self.description = f"picamera2 camera {camera_num}"

    def open(self) -> None:
        require("picamera2", extra="camera-pi", package="picamera2", why="the picamera2 camera backend")
        from picamera2 import Picamera2

        try:
            cam = Picamera2(self.camera_num)
            # "RGB888" is stored B, G, R per pixel (libcamera naming); flipped in read().
            cam.configure(cam.create_still_configuration(main={"size": self.size, "format": "RGB888"}))
            cam.start()
        except Exception as exc:
            raise DeviceUnavailable(
                f"Pi camera {self.camera_num} cannot be opened ({exc}); check the ribbon cable and "
                "that the camera is detected (rpicam-hello --list-cameras)") from exc
        self.cam = cam

    def read(self) -> np.ndarray:
        if self.cam is None:
            raise DeviceError("camera is not open")
        frame = self.cam.capture_array("main")
        return normalise(frame)[..., ::-1]

    def close(self) -> None:
        if self.cam is not None:
            try:
                self.cam.stop()
            finally:
                self.cam.close()
                self.cam = None


def make_backend(cfg: CameraConfig) -> Backend:
    """The backend a camera config asks for. Importing an optional library
    happens in ``open()``, so a config check never needs it."""
    if cfg.backend == "replay":
        path = Path(cfg.replay_path or "")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return OpenCVCapture(str(path), loop=cfg.replay_loop, why=f"replaying the video file {path.name}")
        return ReplayImages(path, loop=cfg.replay_loop)
    if cfg.backend == "opencv":
        return OpenCVCapture(cfg.device or "0", width=cfg.capture_width, height=cfg.capture_height)
    if cfg.backend == "picamera2":
        num = int(cfg.device) if cfg.device and cfg.device.isdigit() else 0
        return Picamera2Capture(camera_num=num, width=cfg.capture_width, height=cfg.capture_height)
    raise ValueError(f"unknown camera backend {cfg.backend!r}")
