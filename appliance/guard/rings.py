"""The guard's ring buffers: preallocated numpy, written by the publisher's thread, read by an
inference thread without a lock (a reader checks that the writer did not lap it)."""

from __future__ import annotations

import numpy as np


class BlockRing:
    """The newest samples of a block signal (vibration), preallocated float32.

    Written by the publisher's thread, read by an inference thread. A reader
    copies a window and then checks that the writer did not lap it
    (``generation`` changes on a reset, ``total`` tells how far the writer got).
    """

    __slots__ = ("buf", "cap", "total", "generation", "next_seq", "gaps", "bad", "rate_hz")

    def __init__(self, capacity: int, rate_hz: float | None) -> None:
        self.buf = np.zeros(capacity, dtype=np.float32)
        self.cap = capacity
        self.total = 0
        self.generation = 0
        self.next_seq: int | None = None
        self.gaps = 0
        self.bad = 0
        self.rate_hz = rate_hz

    def clear(self) -> None:
        self.generation += 1
        self.total = 0

    def push(self, block: np.ndarray, seq: int | None) -> int:
        """Append a block; returns samples accepted (0 = the block was refused and the window restarts)."""
        n = int(block.shape[0])
        if seq is not None:
            if self.next_seq is not None and seq < self.next_seq:
                # Polled faster than the block fills (as it should be, so that no
                # sample is lost): keep only the samples not seen yet.
                fresh = seq + n - self.next_seq
                if fresh <= 0:
                    return 0
                block, seq, n = block[n - fresh:], self.next_seq, fresh
            elif self.next_seq is not None and seq != self.next_seq:
                # A lost block: the window would splice two moments together
                # and the spectrum would show a step that is not there.
                self.gaps += 1
                self.clear()
            self.next_seq = seq + n
        if not np.isfinite(block).all():
            self.bad += 1
            self.clear()
            return 0
        if n >= self.cap:
            self.buf[:] = block[-self.cap:]
            self.total += n
            return n
        i = self.total % self.cap
        first = min(n, self.cap - i)
        self.buf[i:i + first] = block[:first]
        if first < n:
            self.buf[:n - first] = block[first:]
        self.total += n
        return n

    def window(self, n: int) -> np.ndarray | None:
        gen, end = self.generation, self.total
        if end < n:
            return None
        start = (end - n) % self.cap
        if start + n <= self.cap:
            out = self.buf[start:start + n].copy()
        else:
            out = np.concatenate((self.buf[start:], self.buf[:n - (self.cap - start)]))
        if self.generation != gen or self.total - (end - n) > self.cap:
            return None  # lapped while copying (the inference thread was starved): skip this hop
        return out


class ScalarRing:
    """The newest values of a polled signal (motor current) with their receive times."""

    __slots__ = ("values", "mono", "cap", "total", "bad")

    def __init__(self, capacity: int = 512) -> None:
        self.values = np.zeros(capacity, dtype=np.float32)
        self.mono = np.zeros(capacity, dtype=np.int64)
        self.cap = capacity
        self.total = 0
        self.bad = 0

    def push(self, value: float, mono_ns: int) -> None:
        i = self.total % self.cap
        self.values[i] = value
        self.mono[i] = mono_ns
        self.total += 1

    def since(self, t0_ns: int) -> np.ndarray | None:
        """Values received at or after ``t0_ns``; the last value if none; None if never any."""
        end = self.total
        if end == 0:
            return None
        n = min(end, self.cap)
        idx = (np.arange(end - n, end) % self.cap)
        vals, ts = self.values[idx], self.mono[idx]
        picked = vals[ts >= t0_ns]
        return picked if picked.size else vals[-1:].copy()
