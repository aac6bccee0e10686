"""Lazy package attributes (PEP 562), so that importing a package's config
schema does not import its heavy backends (numpy, gpiozero, pymodbus, asyncua)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, attrs: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<attrs[name]>`` on first use."""

    def __getattr__(name: str) -> Any:
        if name in attrs:
            return getattr(import_module(f"{package}.{attrs[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
