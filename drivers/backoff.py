"""Bounded exponential backoff with jitter, shared by the Modbus and OPC UA readers.

The delay after the n-th failure in a row is ``min_s * 2**(n-1)``, capped at
``max_s``, then shortened by up to ``jitter`` (a fraction) so that boxes that
lost the same PLC do not all retry in the same instant. The exponent is capped
before the power is taken: an outage of any length (issue 16: after ~1,025
failures ``2 ** n`` no longer converted to float) gives a delay <= ``max_s``.

``reset()`` is called when the peer answers (a read, or only the transport:
see the OPC UA source), so the next failure starts again at ``min_s``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_MAX_EXPONENT = 62  # 2.0**62 * any sane min_s is far above any max_s


class Backoff:
    """``delay = b.failed()`` after a failure; ``b.reset()`` when the peer answers."""

    __slots__ = ("failures", "jitter", "max_s", "min_s", "_random")

    def __init__(self, min_s: float, max_s: float, *, jitter: float = 0.2,
                 rng: Callable[[], float] = random.random) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"backoff needs 0 < min_s ({min_s}) <= max_s ({max_s})")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), not {jitter}")
        self.min_s = float(min_s)
        self.max_s = float(max_s)
        self.jitter = jitter
        self.failures = 0
        self._random = rng

    def peek(self) -> float:
        """The delay (before jitter) the current failure count gives."""
        if self.failures <= 0:
            return self.min_s
        return min(self.max_s, self.min_s * 2.0 ** min(self.failures - 1, _MAX_EXPONENT))

    def failed(self) -> float:
        """Count one failure; the delay before the next try, in seconds."""
        self.failures += 1
        base = self.peek()
        return base * (1.0 - self.jitter * self._random())

    def reset(self) -> None:
        self.failures = 0
