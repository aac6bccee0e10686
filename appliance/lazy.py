"""Re-export of :func:`drivers.lazy.lazy_getattr`."""

from drivers.lazy import lazy_getattr

__all__ = ["lazy_getattr"]
