"""A camera as a Source: frames on a trigger signal or an interval.

Frames reach consumers in ``Sample.block`` as uint8 arrays of the configured
width x height (HxW gray, or HxWx3 RGB when ``grayscale = false``);
``Sample.value`` and ``Sample.seq`` are the frame number (1, 2, ...), so a
consumer sees a skipped frame. The full-resolution frame last captured is
kept for :meth:`CameraSource.snapshot` (alerts keep a picture locally; images
never leave the box, DESIGN.md "Data that leaves the box").

Threads: the backend blocks, so capture runs in a worker thread
(``asyncio.to_thread``). A trigger arrives through the bus's fast
subscription in the publisher's thread (a GPIO thread, the guard's) and is
handed to the loop with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import numpy as np

from drivers.base import SourceHealth
from drivers.errors import DeviceError
from drivers.samples import Quality, Sample, SampleBus

from .backends import Backend, make_backend
from .config import CameraConfig
from .frames import CameraLibraryMissing, prepare, write_image

log = logging.getLogger(__name__)

TRIGGER_BACKLOG = 8  # triggers waiting for a capture; more are dropped and counted


class CameraSource:
    kind = "camera"

    def __init__(self, camera_cfg: CameraConfig, bus: SampleBus, *, backend: Backend | None = None,
                 retry_min_s: float = 1.0, retry_max_s: float = 30.0) -> None:
        self.cfg = camera_cfg
        self.bus = bus
        self.name = camera_cfg.name
        self.health = SourceHealth(name=self.name, kind=self.kind)
        self.backend = backend or make_backend(camera_cfg)
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.frames = 0  # frames published
        self.triggers_dropped = 0
        self._raw: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._frame_lock = threading.Lock()
        # One backend call at a time: a cancelled capture's worker thread may
        # still be reading when shutdown closes the device (OpenCV must not
        # release a capture mid-read).
        self._backend_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._triggers: asyncio.Queue[int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._failing = False
        self._closed = False
        self._last_trigger_value = False
        if camera_cfg.trigger_signal:
            # Bus has no unsubscribe; the callback is a no-op once closed.
            bus.subscribe_fast(self._on_sample)

    # ----- public ----------------------------------------------------------------
    def trigger(self) -> None:
        """Capture one frame soon. Thread-safe (any thread, e.g. a GPIO callback)."""
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(self._enqueue_trigger, time.monotonic_ns())
        except RuntimeError:  # loop closed during shutdown
            pass

    @property
    def latest(self) -> np.ndarray | None:
        """The last frame as consumers got it (resized)."""
        with self._frame_lock:
            return self._frame

    def snapshot(self, path: str | Path, *, processed: bool = False) -> Path:
        """Write the last frame (full resolution unless ``processed``) to
        ``path`` (.jpg, .png or .pgm/.ppm), atomically; returns the path.
        Local only: the sync allow-list never includes images."""
        with self._frame_lock:
            frame = self._frame if processed else self._raw
        if frame is None:
            raise DeviceError(f"camera {self.name} has no frame yet; check that it captures (health page)")
        return write_image(path, frame)

    # ----- lifecycle --------------------------------------------------------------
    async def __aenter__(self) -> CameraSource:
        self._loop = asyncio.get_running_loop()
        self._triggers = asyncio.Queue(maxsize=TRIGGER_BACKLOG)
        try:
            await self._open()
        except CameraLibraryMissing:
            raise  # a deployment error: the config asks for a library this box lacks
        except Exception as exc:
            self._fail(exc)  # the camera may come back: retried in the task
        self._task = asyncio.create_task(self._run(), name=f"camera-{self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await asyncio.to_thread(self._close_backend)
        self.health.state = "stopped"
        self.health.available = False

    # ----- internals ----------------------------------------------------------------
    def _on_sample(self, sample: Sample) -> None:
        """Fast subscriber, in the publisher's thread: rising edge of the trigger."""
        if self._closed or sample.signal != self.cfg.trigger_signal:
            return
        active = bool(sample.value) and sample.good
        rising = active and not self._last_trigger_value
        self._last_trigger_value = active
        if rising:
            self.trigger()

    def _enqueue_trigger(self, mono_ns: int) -> None:
        assert self._triggers is not None
        try:
            self._triggers.put_nowait(mono_ns)
        except asyncio.QueueFull:
            self.triggers_dropped += 1
            if self.triggers_dropped % 100 == 1:  # the first, then every 100th: no log flood
                log.warning("camera %s: %d trigger(s) dropped, captures are slower than the triggers",
                            self.name, self.triggers_dropped)

    async def _open(self) -> None:
        await asyncio.to_thread(self._open_backend)
        self.health.state = "ok"
        self.health.available = True
        if self._failing:
            log.info("camera %s (%s) is back", self.name, self.backend.description)
            self._failing = False
        else:
            log.info("camera %s: %s", self.name, self.backend.description)

    def _open_backend(self) -> None:
        # _opened is set under the lock, in the worker: if shutdown cancels
        # the awaiting task mid-open, _close_backend still sees the device.
        with self._backend_lock:
            self.backend.open()
            self._opened = True

    def _close_backend(self) -> None:
        with self._backend_lock:
            if self._opened:
                self._opened = False
                try:
                    self.backend.close()
                except Exception as exc:  # closing a broken device may fail too
                    log.debug("camera %s: close failed: %s", self.name, exc)

    def _fail(self, exc: BaseException) -> None:
        if not self._failing:
            log.error("camera %s (%s) failed: %s", self.name, self.backend.description, exc)
            self._failing = True
        self.health.available = False
        self.health.state = "unavailable"
        self.health.last_error = str(exc)

    async def _wait_for_capture(self, next_tick: float | None) -> None:
        """Until a trigger arrives or the interval tick is due."""
        assert self._triggers is not None
        if next_tick is None:
            await self._triggers.get()
            return
        timeout = next_tick - time.monotonic()
        if timeout <= 0:
            return
        try:
            await asyncio.wait_for(self._triggers.get(), timeout)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        interval_s = self.cfg.interval_ms / 1000 if self.cfg.interval_ms else None
        next_tick = time.monotonic() if interval_s else None
        backoff = self.retry_min_s
        while True:
            if not self._opened:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                try:
                    await self._open()
                except CameraLibraryMissing as exc:
                    self._fail(exc)
                    return
                except Exception as exc:
                    self._fail(exc)
                    continue
                backoff = self.retry_min_s
            await self._wait_for_capture(next_tick)
            if interval_s is not None and next_tick is not None and time.monotonic() >= next_tick:
                next_tick += interval_s
                if next_tick < time.monotonic():  # fell behind: no burst of catch-up frames
                    next_tick = time.monotonic() + interval_s
            if not await self._capture():
                return

    def _read_and_prepare(self) -> tuple[np.ndarray, np.ndarray]:
        """In a worker thread: the resize of a full-HD frame takes tens of ms."""
        with self._backend_lock:
            raw = self.backend.read()
        return raw, prepare(raw, width=self.cfg.width, height=self.cfg.height, grayscale=self.cfg.grayscale)

    async def _capture(self) -> bool:
        """One frame; False when a replay has ended for good."""
        mono_ns, utc_ns = time.monotonic_ns(), time.time_ns()
        try:
            raw, frame = await asyncio.to_thread(self._read_and_prepare)
        except EOFError as exc:
            log.info("camera %s: %s", self.name, exc)
            self.health.state = "stopped"
            return False
        except Exception as exc:
            self._fail(exc)
            self.bus.publish(Sample(self.name, None, Quality.BAD, mono_ns=mono_ns, utc_ns=utc_ns))
            await asyncio.to_thread(self._close_backend)
            return True
        self.frames += 1
        with self._frame_lock:
            self._raw, self._frame = raw, frame
        self.health.last_good_utc_ns = utc_ns
        self.bus.publish(Sample(self.name, self.frames, mono_ns=mono_ns, utc_ns=utc_ns,
                                block=frame, seq=self.frames))
        return True
