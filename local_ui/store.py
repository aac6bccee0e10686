"""Re-export: the PIN tables' migrations live in :mod:`appliance.pins`."""

from appliance.pins import migrations

__all__ = ["migrations"]
