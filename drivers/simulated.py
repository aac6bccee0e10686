"""What the simulator servers need of a machine (``models.training.machine.MachineSim``
is one). The drivers' simulator backends take this small protocol, so they
do not import the appliance."""

from __future__ import annotations

from typing import Protocol


class SimulatedMachine(Protocol):
    """A machine the Modbus and OPC UA simulator servers expose."""

    heartbeat: int  # last heartbeat value written by the box
    door_open: bool

    @property
    def plc_connected(self) -> bool: ...

    @property
    def running(self) -> bool: ...

    @property
    def stop_active(self) -> bool: ...

    @property
    def vibration_seq(self) -> int: ...

    def values(self) -> dict[str, float | int | bool]: ...

    def vibration_block(self, n: int) -> tuple[int, list[float]]: ...

    def apply_stop(self, active: bool) -> None: ...

    def advance(self, dt_s: float) -> None: ...
