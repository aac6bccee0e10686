"""Alert lifecycle, de-duplication, flapping, audit, evidence, per-model stats, sink and consumer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from appliance.alerts import AlertConsumer, AlertSink, AlertStore
from appliance.database import open_box_db
from appliance.errors import PermissionDenied
from appliance.health import check_disk

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_780_000_000 * NS


@pytest.fixture
def store(tmp_path):
    return AlertStore(open_box_db(tmp_path / "w.db"), flap_window_s=600, flap_threshold=3)


def _raise(store, key="guard:vib", ts=T0, **kw):
    args = dict(source="guard", kind="vibration-anomaly", severity="critical", title="Trilling te hoog",
                dedupe_key=key, ts_ns=ts)
    args.update(kw)
    return store.raise_alert(**args)


def test_lifecycle_with_audit(store):
    window = np.sin(np.linspace(0, 20, 4096)).astype(np.float32)
    aid = _raise(store, evidence={"window": {"vibration": window, "motor_current": [12.0, 12.5, 25.0]},
                                  "rate_hz": {"vibration": 2000.0, "motor_current": 10.0},
                                  "window_start_ts": T0 - 2 * NS, "snapshot": "/var/lib/werkvloer/snap/1.jpg",
                                  "score": np.float32(0.93), "threshold": 0.8})
    a = store.get(aid)
    assert a.state == "raised" and a.count == 1
    ev = {e.get("name") or e["kind"]: e for e in a.evidence}
    assert np.array_equal(ev["vibration"]["values"], window) and ev["vibration"]["rate_hz"] == 2000.0
    assert ev["snapshot"]["path"] == "/var/lib/werkvloer/snap/1.jpg"
    assert ev["values"]["values"]["score"] == pytest.approx(0.93)

    with pytest.raises(ValueError, match="before closing"):
        store.close(aid, role="maintenance")
    with pytest.raises(PermissionDenied):
        store.label(aid, "true", role="operator")
    store.acknowledge(aid, role="operator")
    with pytest.raises(ValueError, match="already acknowledged"):
        store.acknowledge(aid, role="operator")
    with pytest.raises(ValueError, match="use true"):
        store.label(aid, "maybe", role="maintenance")
    store.label(aid, "false", role="maintenance", comment="sensor los")
    a = store.close(aid, role="maintenance")
    assert (a.state, a.label, a.comment, a.ack_role, a.label_role, a.closed_role) == (
        "closed", "false", "sensor los", "operator", "maintenance", "maintenance")
    assert [e["action"] for e in a.events] == ["raised", "acknowledge", "label", "close"]
    audit = store.conn.execute("SELECT role, action, target FROM audit ORDER BY id").fetchall()
    assert audit == [("operator", "alert.acknowledge", f"alert:{aid}"), ("maintenance", "alert.label", f"alert:{aid}"),
                     ("maintenance", "alert.close", f"alert:{aid}")]
    with pytest.raises(ValueError, match="closed"):
        store.label(aid, "true", role="admin")


def test_dedupe_while_open_and_new_alert_after_close(store):
    a1 = _raise(store)
    assert _raise(store, ts=T0 + NS) == a1 and _raise(store, ts=T0 + 2 * NS) == a1
    a = store.get(a1)
    assert (a.count, a.last_ts) == (3, T0 + 2 * NS)
    assert _raise(store, key="guard:other") != a1
    store.label(a1, "true", role="maintenance")
    store.close(a1, role="maintenance")
    a2 = _raise(store, ts=T0 + 3 * NS)
    assert a2 != a1 and store.get(a2).state == "raised"


def test_flapping_is_suppressed(store):
    ids = []
    for i in range(6):  # raised and closed again and again within ten minutes
        aid = _raise(store, ts=T0 + i * 60 * NS)
        ids.append(aid)
        a = store.get(aid)
        if a.state != "closed" and not a.flapping:
            store.label(aid, "unsure", role="maintenance")
            store.close(aid, role="maintenance")
    assert len(set(ids)) == 3  # the 4th and later raises go onto the 3rd alert
    last = store.get(ids[-1])
    assert last.flapping and last.suppressed == 3 and last.count == 4
    # after the window a new alert is allowed again
    assert _raise(store, ts=T0 + 30 * 60 * NS) not in ids


def test_model_stats_per_day_and_false_share(store):
    for i in range(10):
        aid = _raise(store, key=f"guard:vib:{i}", ts=T0 + i * DAY // 2)
        store.label(aid, "false" if i < 3 else "true", role="maintenance")
    for i in range(4):
        _raise(store, key=f"guard:rule:{i}", ts=T0 + i * DAY, kind="overcurrent")
    _raise(store, key="driver:plc", source="driver", kind="device_lost", severity="warning", ts=T0)
    stats = {s["kind"]: s for s in store.model_stats(since_ns=T0, until_ns=T0 + 5 * DAY, source="guard")}
    assert set(stats) == {"vibration-anomaly", "overcurrent"}
    v = stats["vibration-anomaly"]
    assert v["alerts"] == 10 and v["alerts_per_day"] == pytest.approx(2.0)
    assert (v["true"], v["false"], v["labelled"]) == (7, 3, 10) and v["false_share"] == pytest.approx(0.3)
    assert stats["overcurrent"]["false_share"] is None and stats["overcurrent"]["alerts_per_day"] == pytest.approx(0.8)


def test_list_filters(store):
    _raise(store, key="a")
    b = _raise(store, key="b", source="driver", kind="device_lost", severity="warning")
    store.label(b, "true", role="admin")
    store.close(b, role="admin")
    assert [a.dedupe_key for a in store.list(open_only=True)] == ["a"]
    assert [a.dedupe_key for a in store.list(source="driver")] == ["b"]
    assert [a.dedupe_key for a in store.list(state="closed")] == ["b"]
    with pytest.raises(ValueError, match="severity"):
        _raise(store, severity="urgent")


def test_sink_and_consumer_threads(tmp_path):
    sink = AlertSink()
    consumer = AlertConsumer(sink, tmp_path / "w.db")
    consumer.start()
    try:
        def guard_thread(n):
            for i in range(50):
                sink.submit(source="guard", kind="vibration-anomaly", severity="critical", title="trip",
                            dedupe_key=f"guard:{n}:{i % 5}", evidence={"window": {"vibration": np.zeros(8)}})
        threads = [threading.Thread(target=guard_thread, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sink.submit(source="guard", kind="x", severity="nonsense", title="bad", dedupe_key="bad")
        deadline = time.monotonic() + 10
        while consumer.stored + consumer.rejected < 201 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        consumer.stop()
    assert (consumer.stored, consumer.rejected, sink.dropped) == (200, 1, 0)
    alerts = consumer.store.list(limit=1000)
    assert len(alerts) == 20 and sum(a.count for a in alerts) == 200


def test_sink_never_blocks_and_drops_oldest():
    sink = AlertSink(maxlen=3)
    for i in range(5):
        sink.submit(source="driver", kind="device_lost", severity="warning", title=str(i), dedupe_key="d")
    assert sink.dropped == 2 and [x["title"] for x in sink.drain()] == ["2", "3", "4"]


def test_disk_check(tmp_path):
    sink = AlertSink()
    assert check_disk(tmp_path, sink=sink, min_free_bytes=1)
    assert len(sink) == 0
    assert not check_disk(tmp_path, sink=sink, min_free_bytes=2**62)
    item = sink.drain()[0]
    assert (item["source"], item["kind"], item["dedupe_key"]) == ("box", "disk_low", "box:disk_low")


def test_titles_in_two_languages(tmp_path) -> None:
    from appliance.alerts import AlertStore, title_in
    from appliance.database import open_box_db

    store = AlertStore(open_box_db(tmp_path / "a.db"))
    aid = store.raise_alert(source="guard", kind="guard.trip", severity="critical", dedupe_key="t",
                            title={"nl": "Bewaking stopte de machine", "en": "Guard stopped the machine"})
    stored = store.get(aid).title
    assert title_in(stored, "nl") == "Bewaking stopte de machine"
    assert title_in(stored, "en") == "Guard stopped the machine"
    assert title_in("plain text", "nl") == "plain text"
    # One language forgotten: the alert is kept, the other language stands in (test_alert_details).
    only = store.raise_alert(source="box", kind="x", severity="info", dedupe_key="u", title={"nl": "alleen NL"})
    assert title_in(store.get(only).title, "en") == "alleen NL"


def test_model_stats_are_per_model_or_rule(tmp_path) -> None:
    from appliance.alerts import AlertStore
    from appliance.database import open_box_db

    store = AlertStore(open_box_db(tmp_path / "a.db"))
    for cause, label in (("trilling", "false"), ("trilling", "unsure"), ("vastgelopen", "true")):
        aid = store.raise_alert(source="guard", kind="guard.trip", severity="critical", title="t",
                                dedupe_key=f"guard.trip.{cause}")
        store.label(aid, label, role="maintenance")
        store.close(aid, role="maintenance")  # closed, so the next trip is a new alert
    stats = {s["kind"]: s for s in store.model_stats() if s["source"] == "guard"}
    assert set(stats) == {"trilling", "vastgelopen"}
    assert stats["trilling"]["alerts"] == 2 and stats["trilling"]["false_share"] == 0.5
    assert stats["vastgelopen"]["false_share"] == 0.0
