"""Decisions with controlled time: N-of-M + hysteresis, limit rules, stall rules."""

from __future__ import annotations

import math

import pytest

from appliance.guard.config import Rule
from appliance.guard.decide import Debounce, LimitRule, RunGate, StallRule

MS = 1_000_000


def test_n_of_m_trips_on_the_nth_hit_within_m() -> None:
    d = Debounce(threshold=1.0, n=3, m=5, hysteresis=0.2)
    # Two hits, three misses, two hits: never 3 of the last 5.
    assert [d.update(s) for s in (1.5, 1.2, 0.1, 0.1, 0.1, 1.1, 1.3)] == [False] * 7
    assert d.update(1.0) is True  # third hit in the last five (1.1, 1.3, 1.0)
    assert d.alarm


def test_trip_is_an_edge_and_hysteresis_holds_the_alarm() -> None:
    d = Debounce(threshold=1.0, n=2, m=3, hysteresis=0.2)
    assert [d.update(s) for s in (1.1, 1.1)] == [False, True]
    # Hovering just under the threshold (above 0.8) keeps the alarm: no second edge.
    assert [d.update(s) for s in (0.9, 0.95, 0.85, 1.2)] == [False] * 4
    assert d.alarm
    # Below the release level: alarm clears, then a new excursion trips again.
    assert [d.update(s) for s in (0.5, 0.5, 0.5)] == [False] * 3
    assert not d.alarm
    assert [d.update(s) for s in (1.1, 1.1)] == [False, True]


def test_without_hysteresis_hovering_trips_repeatedly() -> None:
    # The counterpart of the test above: what hysteresis prevents.
    d = Debounce(threshold=1.0, n=1, m=1, hysteresis=0.0)
    assert [d.update(s) for s in (1.0, 0.95, 1.0, 0.95, 1.0)] == [True, False, True, False, True]


def test_nan_scores_are_skipped_not_hits() -> None:
    d = Debounce(threshold=1.0, n=2, m=2, hysteresis=0.0)
    assert [d.update(s) for s in (1.5, math.nan, math.nan, 0.1)] == [False] * 4
    assert d.hits == 1  # the NaNs neither pushed the first hit out nor added one
    assert d.update(1.5) is False  # window is now (0.1, 1.5)
    assert d.update(1.5) is True


def test_reset_forgets_history() -> None:
    d = Debounce(threshold=1.0, n=2, m=3, hysteresis=0.1)
    assert [d.update(s) for s in (2, 2)] == [False, True]
    d.reset()
    assert d.update(2) is False and d.update(2) is True


def test_bad_n_of_m_refused() -> None:
    with pytest.raises(ValueError, match="N <= M"):
        Debounce(threshold=1, n=4, m=3, hysteresis=0)


def rule(**kw: object) -> Rule:
    return Rule.model_validate({"name": "r", "signal": "temperature", **kw})


def test_run_gate_admits_windows_that_begin_after_settling() -> None:
    s = 1_000_000_000
    g = RunGate("running", 3 * s)
    assert not g.open and not g.admits(100 * s)  # nothing heard yet: not known to be running
    assert not g.on_value(True, True, 10 * s)
    assert not g.on_value(True, True, 11 * s)  # still running: "since" stays at the start
    assert not g.admits(12 * s) and g.admits(13 * s) and not g.admits(9 * s)
    assert g.on_value(False, True, 20 * s) and not g.open  # the stop closes it, once
    assert not g.on_value(0, True, 21 * s)
    g.on_value(True, True, 30 * s)
    assert g.on_value(True, False, 40 * s) and not g.admits(41 * s)  # a bad running bit: state unknown
    assert RunGate(None, 3 * s).admits(0)  # no signal configured: always open


def test_above_for_t_trips_only_after_holding() -> None:
    r = LimitRule(rule(kind="above", limit=80, for_ms=500))
    assert r.on_value(85, 0) is False
    assert r.on_value(86, 300 * MS) is False
    assert r.on_value(70, 400 * MS) is False  # dipped: the excursion starts again
    assert r.on_value(90, 500 * MS) is False
    assert r.check(999 * MS) is False
    assert r.check(1000 * MS) is True  # 500 ms after the excursion began, without a new sample
    assert r.check(1100 * MS) is False and r.on_value(95, 1200 * MS) is False  # edge only
    assert r.on_value(60, 1300 * MS) is False and not r.active


def test_above_zero_hold_trips_on_the_sample() -> None:
    r = LimitRule(rule(kind="above", limit=80))
    assert r.on_value(80, 0) is False  # at the limit is not above
    assert r.on_value(80.1, 1) is True


def test_below_rule_and_gate() -> None:
    r = LimitRule(rule(kind="below", limit=10, for_ms=100, while_signal="running"))
    r.on_gate(False, 0)
    assert r.on_value(5, 0) is False
    assert r.check(500 * MS) is False  # not running: no trip
    r.on_gate(True, 600 * MS)
    assert r.check(650 * MS) is False
    assert r.check(700 * MS) is True  # held 100 ms since the machine started


def test_reset_restarts_the_hold_time() -> None:
    r = LimitRule(rule(kind="above", limit=1, for_ms=100))
    r.on_value(2, 0)
    assert r.check(100 * MS) is True
    r.reset(150 * MS)
    assert r.check(200 * MS) is False
    assert r.check(250 * MS) is True  # still above: trips again after a full hold


def test_stalled_while_running() -> None:
    r = StallRule(rule(kind="stalled", signal="part_count", for_ms=2000, while_signal="running"))
    r.on_gate(True, 0)
    assert r.check(5000 * MS) is False  # counter never seen: nothing to judge
    assert r.on_value(10, 0) is False
    assert r.on_value(11, 1500 * MS) is False  # a part came: timer restarts
    assert r.check(3400 * MS) is False
    assert r.check(3500 * MS) is True
    assert r.check(3600 * MS) is False  # edge only
    r.on_gate(False, 4000 * MS)  # machine stops: counting stops too
    r.on_gate(True, 10_000 * MS)
    assert r.check(11_000 * MS) is False
    assert r.check(12_000 * MS) is True  # 2 s after it started running again


def test_stalled_needs_a_hold_time() -> None:
    with pytest.raises(ValueError, match="for_ms"):
        rule(kind="stalled", signal="part_count")


def test_latch_fires_once_suppresses_while_latched_and_resets() -> None:
    from appliance.guard.latch import Latch

    latch = Latch()
    cause = {"kind": "rule", "name": "overload", "ts": 1}
    assert latch.on_trip("off", cause) == "ignore" and latch.on_trip("shadow", cause) == "record"
    assert not latch.tripped
    assert latch.on_trip("armed", cause) == "fire" and latch.tripped and latch.since_utc_ns == 1
    assert latch.on_trip("armed", {**cause, "ts": 2}) == "suppress" and latch.suppressed == 1
    assert latch.cause == cause  # the first cause stays
    assert latch.reset() is True and not latch.tripped and latch.cause is None
    assert latch.reset() is False
    assert Latch.restore(cause, True).tripped  # a restart keeps a latched stop
