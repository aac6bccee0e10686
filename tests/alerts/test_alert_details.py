"""Alert details in the reader's language (issue 15): stored as ``{"nl", "en"}`` like titles, the
raw technical error kept apart, old plain rows shown as they are; every alert the box raises
gives both languages."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from appliance.alerts import AlertSink, AlertStore, detail_in, encode_detail, migrations, title_in
from appliance.storage import open_db

ROOT = Path(__file__).resolve().parents[2]
RAISERS = ["appliance/guard/bank.py", "appliance/guard/commands.py", "appliance/guard/threads.py",
           "appliance/guard/reload.py", "appliance/guard/trips.py", "appliance/guard/engine.py",
           "appliance/parts.py", "appliance/dbwatch.py", "appliance/kpi/engine.py", "appliance/health.py",
           "sync/client.py", "sync/outbox.py"]
ALERT_CALLS = {"_alert", "submit", "raise_alert"}


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(open_db(tmp_path / "box.db", sets=[migrations]))


def test_a_detail_in_two_languages_round_trips_with_its_raw_error_apart(store: AlertStore) -> None:
    aid = store.raise_alert(source="driver", kind="device_lost", severity="critical", dedupe_key="d1",
                            title={"nl": "Geen verbinding met plc", "en": "No connection to plc"},
                            detail={"nl": "Het apparaat antwoordt niet.", "en": "The device does not answer.",
                                    "error": "[Errno 111] Connection refused"})
    stored = store.get(aid).detail
    assert json.loads(stored) == {"nl": "Het apparaat antwoordt niet.", "en": "The device does not answer.",
                                  "error": "[Errno 111] Connection refused"}
    nl, en, fr = (detail_in(stored, lang) for lang in ("nl", "en", "fr"))
    assert (nl.text, nl.error, nl.plain) == ("Het apparaat antwoordt niet.", "[Errno 111] Connection refused", False)
    assert en.text == "The device does not answer." and fr.text == en.text  # English is the fallback
    # No error given (or an empty one): none stored.
    assert detail_in(encode_detail({"nl": "a", "en": "b", "error": None}), "nl").error is None
    assert "error" not in json.loads(encode_detail({"nl": "a", "en": "b", "error": " "}) or "")


def test_old_plain_rows_are_shown_as_stored(store: AlertStore) -> None:
    aid = store.raise_alert(source="box", kind="x", severity="info", title="t", dedupe_key="d2",
                            detail="motor_current = 23.341 above 20 for 200 ms")
    d = detail_in(store.get(aid).detail, "nl")
    assert (d.text, d.error, d.plain) == ("motor_current = 23.341 above 20 for 200 ms", None, True)
    assert detail_in("{not json", "nl").text == "{not json" and detail_in(None, "nl").text == ""
    assert store.get(store.raise_alert(source="box", kind="x", severity="info", title="t", dedupe_key="d3")).detail is None


def test_a_text_missing_a_language_never_costs_the_alert(store: AlertStore, caplog: pytest.LogCaptureFixture) -> None:
    # A raiser's bug (one language forgotten) must not drop the alert: the other language stands in,
    # and a warning names it. Only a text with neither language is refused.
    aid = store.raise_alert(source="box", kind="x", severity="warning", title={"en": "Only English title"},
                            dedupe_key="d4", detail={"en": "only English", "error": "boom"})
    a = store.get(aid)
    assert title_in(a.title, "nl") == "Only English title"
    nl = detail_in(a.detail, "nl")
    assert (nl.text, nl.error) == ("only English", "boom")
    assert "without 'nl'" in caplog.text
    with pytest.raises(ValueError, match="'nl' and 'en'"):
        store.raise_alert(source="box", kind="x", severity="info", title="t", dedupe_key="d5", detail={"error": "boom"})
    with pytest.raises(ValueError, match="'nl' and 'en'"):
        store.raise_alert(source="box", kind="x", severity="info", title={"de": "nur Deutsch"}, dedupe_key="d6")


def _alert_calls(path: str) -> list[ast.Call]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")) in ALERT_CALLS
            and any(k.arg in ("title", "detail") for k in n.keywords)]


def _languages(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Dict):
        return {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return set()


def test_every_alert_the_box_raises_has_its_title_and_detail_in_both_languages() -> None:
    """Walks the raisers' source: a literal ``title=`` / ``detail=`` must be ``{"nl": ..., "en": ...}``
    (text, not an f-string of one language); a name or call is built elsewhere and tested below."""
    bad, seen = [], 0
    for path in RAISERS:
        for call in _alert_calls(path):
            for kw in call.keywords:
                if kw.arg not in ("title", "detail"):
                    continue
                seen += 1
                v = kw.value
                if isinstance(v, ast.Constant | ast.JoinedStr | ast.BinOp) or (
                        isinstance(v, ast.Dict) and not {"nl", "en"} <= _languages(v)):
                    bad.append(f"{path}:{call.lineno} {kw.arg}={ast.unparse(v)[:80]}")
    assert seen >= 35, f"the walk found only {seen} titles and details: did the raisers move?"
    assert not bad, "alert texts in one language only:\n" + "\n".join(bad)


def test_a_rule_trip_detail_is_worded_after_the_outputs_fired() -> None:
    """The guard's ``_trip`` calls get their detail as a function (called after the outputs fired),
    never an f-string formatted before the stop."""
    tree = ast.parse((ROOT / "appliance/guard/threads.py").read_text(encoding="utf-8"))
    trips = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "_trip"]
    assert len(trips) == 2
    for call in trips:
        (detail,) = [k.value for k in call.keywords if k.arg == "detail"]
        assert isinstance(detail, ast.Name | ast.Call), ast.unparse(detail)
        assert not isinstance(detail, ast.Call) or ast.unparse(detail.func) == "functools.partial"


def test_rule_and_armed_trip_details_in_both_languages() -> None:
    from appliance.guard.store import OutputResult
    from appliance.guard.threads import rule_detail
    from appliance.guard.trips import with_outputs

    d = rule_detail("motor_current", "above", 23.341, 20.0, 200.0)
    assert d["en"] == "motor_current = 23.341 above 20 for 200 ms"  # the form the guard always stored
    assert d["nl"] == "motor_current = 23,341 boven 20 gedurende 200 ms"
    assert d["rule"] == {"signal": "motor_current", "kind": "above", "value": 23.341, "limit": 20.0,
                         "for_ms": 200.0, "while": None}
    s = rule_detail("counter", "stalled", 7, None, 5000.0, "running")
    assert s["nl"] == "counter onveranderd op 7 gedurende 5000 ms terwijl running aan staat"
    armed = with_outputs(d, [OutputResult("relay", "gpio", 1, True, None),
                             OutputResult("coil", "modbus", 2, False, "[Errno 111] Connection refused")])
    assert armed["nl"] == ("motor_current = 23,341 boven 20 gedurende 200 ms. "
                           "Stopuitgangen: relay bevestigd; coil niet bevestigd.")
    assert armed["en"].endswith("Outputs: relay confirmed; coil not confirmed.")
    assert armed["error"] == "coil: [Errno 111] Connection refused" and armed["rule"] == d["rule"]
    assert with_outputs(None, [])["nl"] == "Stopuitgangen: geen."
    json.loads(encode_detail(armed) or "")  # storable


def _both(alert: dict) -> None:
    for key in ("title", "detail"):
        text = alert.get(key)
        assert isinstance(text, dict) and text.get("nl") and text.get("en"), f"{alert['kind']} {key}: {text!r}"
        assert text["nl"] != text["en"], f"{alert['kind']} {key} is not translated: {text['nl']!r}"
    encode_detail(alert["detail"])


def test_box_alerts_give_both_languages(tmp_path: Path) -> None:
    """The real raisers: disk low, a database that refuses writes, a device that does not answer."""
    from appliance.dbwatch import DbWriteWatch
    from appliance.health import check_disk
    from appliance.parts import SourceWatch
    from drivers.base import SourceHealth

    sink = AlertSink()
    assert not check_disk(tmp_path, sink=sink, min_free_fraction=1.1)
    state = {"state": "failing", "last_error": "database or disk is full"}
    watch = DbWriteWatch(sink, {"recorder": lambda: state})
    watch.check()
    health = SourceHealth(name="cel_plc", kind="modbus")
    health.available, health.last_error = False, "Modbus Error: [Connection] Failed to connect[127.0.0.1:1]"

    class Source:  # what SourceWatch reads of a driver: its health
        pass

    src = Source()
    src.health = health  # type: ignore[attr-defined]
    SourceWatch(sink, grace_s=0).check([src], uptime_s=10)
    got = {a["kind"]: a for a in sink.drain()}
    assert set(got) == {"disk_low", "db_write_failed", "device_lost"}
    for a in got.values():
        _both(a)
    assert got["device_lost"]["detail"]["error"] == health.last_error
    assert "Failed to connect" not in got["device_lost"]["detail"]["nl"]
    assert got["db_write_failed"]["detail"]["error"] == "recorder: database or disk is full"
