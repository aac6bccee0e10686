"""The registry of sources: one driver object per configured device.

The composition root (``appliance.daemon``) calls :func:`build_sources`; the
driver packages are imported only when their kind is configured, so a box
without OPC UA never imports asyncua.
"""

from __future__ import annotations

from drivers.base import Source

from .bus import Bus


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
        from drivers.modbus.link import SerialLines

        lines = SerialLines()  # the units on one RS-485 port share its line
        sources += [ModbusSource(dev, bus, serial_lines=lines) for dev in cfg.modbus]
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
