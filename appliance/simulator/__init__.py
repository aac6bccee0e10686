"""The machine simulator behind ``werkvloer simulate`` and ``make run``."""

from .machine import FAULTS, MachineSim, MachineState, Product, TimelineStep

__all__ = ["FAULTS", "MachineSim", "MachineState", "Product", "TimelineStep"]
