"""The accumulator alone: samples in, segments, counts and stops out, with no database or clock."""

from __future__ import annotations

from appliance.kpi.accumulator import Accumulator
from appliance.kpi.calendar import NS
from drivers.samples import Sample
from tests.kpi.helpers import box_config

T0 = 1_000 * NS


def _acc(tmp_path, **machine):  # type: ignore[no-untyped-def]
    return Accumulator(box_config(tmp_path, **machine).machine)


def _feed(acc: Accumulator, at_s: float, **values: object) -> None:
    t = T0 + int(at_s * NS)
    if acc.t is None:
        acc.begin(t)
    acc.advance(t)
    for name, v in values.items():
        acc.sample(Sample(name, v, mono_ns=t, utc_ns=t), t)  # type: ignore[arg-type]


def test_a_stop_opens_closes_and_its_segments_point_at_it(tmp_path):
    acc = _acc(tmp_path, running_signal="running", no_data_after_s=600)
    _feed(acc, 0, running=True)
    _feed(acc, 100, running=False)
    assert acc.state != "running" and acc.stop is not None and acc.stop.start_mono == T0 + 100 * NS
    _feed(acc, 160, running=True)
    _feed(acc, 200, running=True)
    segs, counts, closed = acc.take()
    assert [(s.state, (s.m0 - T0) // NS, (s.m1 - T0) // NS) for s in segs] == [
        ("running", 0, 100), (segs[1].state, 100, 160), ("running", 160, 200)]
    assert segs[1].stop is closed[0] and closed[0].end_mono == T0 + 160 * NS
    assert acc.stop is None and counts == []
    assert acc.take() == ([], [], [])  # taken means gone


def test_counts_carry_the_ideal_cycle_time_and_put_back_keeps_order(tmp_path):
    acc = _acc(tmp_path, running_signal="running", counter_signal="part_count", ideal_cycle_s=10,
               no_data_after_s=600)
    _feed(acc, 0, running=True, part_count=5)
    _feed(acc, 30, running=True, part_count=8)
    first = acc.take()
    _feed(acc, 60, running=True, part_count=9)
    acc.put_back(*first)
    _, counts, _ = acc.take()
    assert [((t - T0) // NS, dict(d)) for t, d in counts] == [
        (30, {"pq": 3.0, "ideal_s": 30.0, "gq": 3.0}), (60, {"pq": 1.0, "ideal_s": 10.0, "gq": 1.0})]


def test_a_counter_reset_is_reported(tmp_path):
    acc = _acc(tmp_path, running_signal="running", counter_signal="part_count")
    heard: list[tuple[str, float]] = []
    _feed(acc, 0, running=True, part_count=500)
    t = T0 + 10 * NS
    acc.advance(t)
    acc.sample(Sample("part_count", 3, mono_ns=t, utc_ns=t), t, on_reset=lambda s, v: heard.append((s, v)))
    assert heard == [("part_count", 3.0)]
