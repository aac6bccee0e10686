"""OPC UA driver (asyncua): subscriptions and polled reads, stop output, browse, simulator server.

Only this package imports asyncua. The names below load lazily so that
loading the config (``drivers.opcua.config``) does not import the OPC UA stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .output import OpcuaStopOutput
    from .simserver import OpcuaSimServer
    from .source import OpcuaSource

__all__ = ["OpcuaSimServer", "OpcuaSource", "OpcuaStopOutput"]

_WHERE = {"OpcuaSource": ".source", "OpcuaStopOutput": ".output", "OpcuaSimServer": ".simserver"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
