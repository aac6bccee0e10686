"""Camera driver: picamera2 (Pi), OpenCV (USB/V4L2/GStreamer), replay (a
folder of images or a video file). Frames reach consumers as numpy arrays in
``Sample.block``. See README.md beside this file."""

from typing import TYPE_CHECKING

from drivers.lazy import lazy_getattr

if TYPE_CHECKING:
    from .backends import make_backend
    from .frames import CameraLibraryMissing
    from .source import CameraSource

__all__ = ["CameraLibraryMissing", "CameraSource", "make_backend"]

# Lazy: the config schema imports drivers.camera.config; numpy and the
# backends load only when a camera is used.
_LAZY = {"make_backend": "backends", "CameraLibraryMissing": "frames", "CameraSource": "source"}


__getattr__ = lazy_getattr(__name__, _LAZY)
