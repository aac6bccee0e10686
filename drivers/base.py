"""The small interface every source driver implements."""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from appliance.bus import Bus


@dataclasses.dataclass(slots=True)
class SourceHealth:
    """What ``/api/v1/health`` shows for a source."""

    name: str
    kind: str
    state: str = "starting"  # starting | ok | unavailable | stopped
    available: bool = False  # the last poll/notification succeeded
    last_good_utc_ns: int | None = None
    last_error: str | None = None


@runtime_checkable
class Source(Protocol):
    """A long-lived reader: an async context manager that publishes samples on the bus.

    ``async with source:`` starts it (connect, poll or subscribe in background
    tasks) and returns without waiting for the device; leaving the block stops
    it and closes every connection.
    """

    name: str
    health: SourceHealth

    async def __aenter__(self) -> Source: ...

    async def __aexit__(self, *exc: object) -> None: ...


class StopOutput(Protocol):
    """An output the guard drives on its fast path. Methods are synchronous
    and raise ``DeviceError`` when the device does not confirm.

    ``fire``/``release`` run on a connection opened beforehand and never
    connect (a stop must not wait for a TCP handshake); ``open`` (one
    connection attempt) and ``check`` (a cheap keep-alive read) are called by
    the guard's output bank in the output's own thread, off the stop path."""

    name: str

    @property
    def connected(self) -> bool: ...

    def open(self) -> None: ...

    def check(self) -> object: ...

    def fire(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


def build_sources(config: object, bus: Bus, *, gpio_factory: object = None,
                  secrets: dict[str, str] | None = None) -> list[Source]:
    """One source per configured device, in config order. ``gpio_factory`` is
    the pin factory the daemon shares between the GPIO source and the guard's
    GPIO outputs."""
    sources: list[Source] = []
    cfg = config.sources  # type: ignore[attr-defined]
    data_dir = config.box.data_dir  # type: ignore[attr-defined]
    if cfg.modbus:
        from drivers.modbus import ModbusSource

        sources += [ModbusSource(dev, bus) for dev in cfg.modbus]
    if cfg.opcua:
        from drivers.opcua import OpcuaSource

        sources += [OpcuaSource(srv, bus, data_dir=data_dir, secrets=secrets or {},
                                key_path=f"sources.opcua[{i}]") for i, srv in enumerate(cfg.opcua)]
    if cfg.gpio is not None:
        from drivers.gpio import GpioSource

        sources.append(GpioSource(cfg.gpio, bus, pin_factory=gpio_factory))  # type: ignore[arg-type]
    if cfg.camera:
        from drivers.camera import CameraSource

        sources += [CameraSource(cam, bus) for cam in cfg.camera]
    return sources
