"""Re-export of the strict config base, which lives in :mod:`drivers.schema`."""

from drivers.schema import SIGNAL_NAME_PATTERN, SignalBase, SignalName, StrictModel

__all__ = ["SIGNAL_NAME_PATTERN", "SignalBase", "SignalName", "StrictModel"]
