"""The input filter on its own, with explicit times (ns)."""

from __future__ import annotations

import pytest

from drivers.gpio.debounce import Debouncer

MS = 1_000_000


def test_glitch_shorter_than_hold_never_shows() -> None:
    d = Debouncer(False, hold_ns=5 * MS, now_ns=0)
    assert d.feed(True, 100 * MS) == []
    assert d.feed(False, 102 * MS) == []  # 2 ms glitch
    assert d.advance(200 * MS) is None
    assert d.level is False
    assert d.due_ns() is None


def test_level_that_holds_is_confirmed_with_its_start_time() -> None:
    d = Debouncer(False, hold_ns=5 * MS, now_ns=0)
    d.feed(True, 100 * MS)
    assert d.advance(104 * MS) is None
    assert d.due_ns() == 105 * MS
    assert d.advance(105 * MS) == (True, 100 * MS)
    assert d.level is True
    assert d.advance(300 * MS) is None  # confirmed once


def test_bounces_restart_the_hold_time() -> None:
    d = Debouncer(False, hold_ns=5 * MS, now_ns=0)
    d.feed(True, 10 * MS)
    d.feed(False, 11 * MS)
    d.feed(True, 12 * MS)
    assert d.advance(16 * MS) is None  # only 4 ms since the last bounce
    assert d.advance(17 * MS) == (True, 12 * MS)


def test_pulse_counts_at_next_edge_even_without_advance() -> None:
    # A light-barrier pulse of 50 ms that nobody polled during: the falling
    # edge still confirms the rising level, then the falling one is pending.
    d = Debouncer(False, hold_ns=5 * MS, now_ns=0)
    d.feed(True, 10 * MS)
    assert d.feed(False, 60 * MS) == [(True, 10 * MS)]
    assert d.level is True
    assert d.advance(65 * MS) == (False, 60 * MS)


def test_zero_hold_confirms_on_the_edge() -> None:
    d = Debouncer(True, hold_ns=0, now_ns=0)
    assert d.feed(False, 1) == [(False, 1)]
    assert d.feed(True, 2) == [(True, 2)]


def test_negative_hold_is_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(False, hold_ns=-1, now_ns=0)
