"""content.next_step: a pure function of facts, progress and the library."""

from __future__ import annotations

import pytest

from content.next_step import suggest_next_step

ALL_BOX_DONE = {
    "sources_configured": True, "data_days": 30, "downtime_reasons_entered": 40,
    "unexplained_downtime_share": 0.1, "baseline_marked": True, "guard_mode": "armed",
    "shadow_days": 20, "alerts_total": 60, "alerts_labelled": 60, "false_alarm_share": 0.05,
    "model_retrained": True, "check_taken": True,
}


def suggest(library, facts, progress=None, **kw):
    return suggest_next_step(library, facts, progress or {}, blueprint=kw.pop("blueprint", "machine-building"), **kw)


@pytest.mark.parametrize(("facts", "step_id", "phrase"), [
    ({"sources_configured": False}, "box-connect-machine", "No machine delivers data"),
    ({"sources_configured": True, "downtime_reasons_entered": 0}, "box-downtime-reasons", "no downtime reason"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "unexplained_downtime_share": 0.55},
     "box-downtime-reasons", "55% of last week's downtime"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": False, "data_days": 7},
     "box-baseline", "7 days of data"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "off"},
     "box-guard-shadow", "shadow mode"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "shadow",
      "alerts_total": 9, "alerts_labelled": 4}, "box-label-alerts", "5 alerts are waiting"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "shadow",
      "alerts_total": 6, "alerts_labelled": 6}, "box-label-alerts", "Only 6 alerts labelled"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "shadow",
      "shadow_days": 14, "alerts_total": 25, "alerts_labelled": 25, "false_alarm_share": 0.08},
     "box-arm-guard", "not a safety function"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "shadow",
      "shadow_days": 14, "alerts_total": 25, "alerts_labelled": 25, "false_alarm_share": 0.4},
     "box-retrain-model", "40% of the labelled alerts are false alarms"),
    ({"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True, "guard_mode": "armed",
      "alerts_total": 55, "alerts_labelled": 55, "model_retrained": False}, "box-retrain-model", "55 labelled alerts"),
])
def test_box_data_drives_the_suggestion(library, facts, step_id, phrase) -> None:
    s = suggest(library, facts)
    assert (s.kind, s.step_id, s.source) == ("step", step_id, "box-data")
    assert phrase in s.reason["en"]
    assert s.reason["nl"] and s.reason["nl"] != s.reason["en"]


def test_baseline_waits_for_enough_days(library) -> None:
    s = suggest(library, {"sources_configured": True, "downtime_reasons_entered": 3, "baseline_marked": False,
                          "data_days": 2, "guard_mode": "off"})
    assert s.step_id == "box-guard-shadow"


def test_not_arming_before_enough_shadow_days(library) -> None:
    facts = {"sources_configured": True, "downtime_reasons_entered": 5, "baseline_marked": True,
             "guard_mode": "shadow", "shadow_days": 3, "alerts_total": 25, "alerts_labelled": 25,
             "false_alarm_share": 0.05}
    s = suggest(library, facts)
    assert s.step_id != "box-arm-guard"


def test_a_step_marked_done_by_people_is_not_suggested(library) -> None:
    s = suggest(library, {"sources_configured": True, "downtime_reasons_entered": 0},
                {"box-downtime-reasons": "done"})
    assert s.step_id != "box-downtime-reasons"


def test_busy_step_comes_before_new_work(library) -> None:
    class P:
        status, date = "busy", "2026-05-04"

    s = suggest(library, ALL_BOX_DONE, {"mb-log-01": P()})
    assert (s.step_id, s.source) == ("mb-log-01", "busy")
    assert "2026-05-04" in s.reason["nl"]


def test_suggests_the_check_when_not_taken(library) -> None:
    s = suggest(library, {**ALL_BOX_DONE, "check_taken": False})
    assert (s.kind, s.step_id) == ("assessment", None)


def test_blueprint_quick_win_with_prerequisites_done(library) -> None:
    s = suggest(library, ALL_BOX_DONE)
    step = library.step(s.step_id)
    assert s.source == "blueprint" and step.kind == "quick-win" and step.pack == "machine-building"
    assert all(p.startswith("box-") or p in () for p in step.prerequisites)


def test_prerequisites_must_be_done(library) -> None:
    # mb-order-02 needs mb-order-01; with everything else done except those two, order-01 comes first
    progress = {s.id: "done" for s in library.steps(blueprint="machine-building")}
    del progress["mb-order-01"], progress["mb-order-02"]
    assert suggest(library, ALL_BOX_DONE, progress).step_id == "mb-order-01"


def test_weakest_domain_of_the_check_steers_the_choice(library) -> None:
    # With all box steps done, work organisation 'middle' advice points at box steps only,
    # so the suggestion falls back to the blueprint; a low technology score with the
    # connection step open must pick that step.
    facts = {"check_taken": True}
    progress = {s.id: "done" for s in library.steps(blueprint="sheet-metal") if s.id != "box-connect-machine"}
    s = suggest(library, facts, progress, blueprint="sheet-metal",
                domain_scores={"knowledge-skills": 3.9, "work-organisation": 3.6,
                               "culture-motivation": 4.1, "technology": 1.8})
    assert s.step_id == "box-connect-machine"
    assert "Technology" in s.reason["en"]


def test_everything_done_gives_none(library) -> None:
    progress = {s.id: "done" for s in library.steps(blueprint="sheet-metal")}
    assert suggest(library, ALL_BOX_DONE, progress, blueprint="sheet-metal") is None


def test_pure_function_does_not_touch_its_inputs(library) -> None:
    facts = dict(ALL_BOX_DONE)
    progress = {"mb-prod-01": "busy"}
    suggest(library, facts, progress)
    assert facts == ALL_BOX_DONE and progress == {"mb-prod-01": "busy"}
