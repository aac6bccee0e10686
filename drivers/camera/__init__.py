"""Camera driver: picamera2 (Pi), OpenCV (USB/V4L2/GStreamer), replay (a
folder of images or a video file). Frames reach consumers as numpy arrays in
``Sample.block``. See README.md beside this file."""

from .backends import make_backend
from .frames import CameraLibraryMissing
from .source import CameraSource

__all__ = ["CameraLibraryMissing", "CameraSource", "make_backend"]
