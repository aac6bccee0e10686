"""Werkvloer appliance: config, daemon lifecycle, bus, guard, recorder, KPIs, CLI."""

__version__ = "0.1.0"
