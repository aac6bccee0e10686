"""Signal display names, units and values for the screens.

Names come from the signal's config (``label_nl``, ``label_en``, ``unit``;
the shipped profiles and the demo config carry them); a signal without a label
shows its description, then its name with spaces. Units are shown as people
write them (degC -> °C), booleans as words, numbers with a precision that fits
their size.
"""

from __future__ import annotations

from typing import Any

from .i18n import N_, translations

UNIT_DISPLAY = {"degC": "°C", "degF": "°F", "m/s2": "m/s²", "m/s^2": "m/s²", "pct": "%", "percent": "%"}
BOOL_WORDS = {True: N_("yes"), False: N_("no")}


def signals(config: Any) -> dict[str, Any]:
    """Every configured signal by name (Modbus, OPC UA, GPIO)."""
    out: dict[str, Any] = {}
    for dev in [*config.sources.modbus, *config.sources.opcua]:
        for s in dev.signals:
            out[s.name] = s
    if config.sources.gpio is not None:
        for s in [*config.sources.gpio.inputs, *config.sources.gpio.analog]:
            out[s.name] = s
    return out


def signal_label(config: Any, name: str | None, lang: str) -> str:
    if not name:
        return ""
    s = signals(config).get(name)
    if s is not None:
        label = getattr(s, f"label_{lang}", None) or getattr(s, "label_nl", None) or getattr(s, "label_en", None)
        if label:
            return str(label)
        if s.description and len(s.description) <= 40:
            return str(s.description)
    return name.replace("_", " ")


def display_unit(unit: str | None) -> str:
    return UNIT_DISPLAY.get(unit or "", unit or "")


def signal_unit(config: Any, name: str | None) -> str:
    s = signals(config).get(name or "")
    return display_unit(getattr(s, "unit", None)) if s is not None else ""


def digits_for(v: float) -> int:
    """Sensible precision: 3 significant digits, at most 2 decimals, none from 100 up."""
    a = abs(v)
    return 0 if a >= 100 else 1 if a >= 10 else 2


def value_text(v: Any, unit: str | None, f: Any) -> str:
    """One value for a screen: booleans as words, numbers with a fitting precision, then the unit."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return translations(f.lang).gettext(BOOL_WORDS[v])
    if isinstance(v, int | float):
        text = f.num(v, 0 if isinstance(v, int) else digits_for(float(v)))
        return f"{text}\u00a0{display_unit(unit)}" if unit else text
    return str(v)
