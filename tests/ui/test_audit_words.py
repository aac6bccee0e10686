"""Settings → Recent changes: what the box stored for an audit entry is shown in the reader's
language, with only people's own words (a reason typed at the machine) as they wrote them."""

from __future__ import annotations

import json

import pytest

from local_ui.audit_view import detail_text

TZ = "Europe/Amsterdam"


@pytest.mark.parametrize(("lang", "mode_change", "asked"), [
    ("nl", "Scherp → Schaduw: alleen meldingen, geen stop", "Scherp"),
    ("en", "Armed → Shadow: alerts only, no stop", "Armed"),
])
def test_a_guard_mode_change_in_words(lang: str, mode_change: str, asked: str) -> None:
    assert detail_text("armed -> shadow", lang, TZ) == mode_change  # the core's guard.set_mode
    assert detail_text("armed", lang, TZ) == asked  # the ui's: the mode asked for


def test_an_override_reset_in_words_with_the_reason_as_typed() -> None:
    stored = json.dumps({"cause": "motor_current 80 > 50", "then": "shadow", "why": "Sensor hangt vast"})
    assert detail_text(stored, "nl", TZ) == ("oorzaak: motor_current 80 > 50; bewaking na het vrijgeven: Schaduw: "
                                            "alleen meldingen, geen stop; waarom: Sensor hangt vast")
    assert detail_text(stored, "en", TZ).startswith("cause: motor_current 80 > 50; guard after the reset: Shadow")


def test_a_check_and_the_first_start_in_words() -> None:
    assert detail_text(json.dumps({"answers": 12, "shared": True}), "nl", TZ) == "antwoorden: 12; scores gedeeld: ja"
    assert detail_text(json.dumps({"answers": 12, "shared": False}), "en", TZ) == "answers: 12; scores shared: no"
    # Stored before the entry became data: the action ("first start: admin PIN set") already says it.
    assert detail_text("first admin PIN set", "nl", TZ) == ""


def test_a_step_s_progress_and_an_export_in_words() -> None:
    from local_ui.audit_view import target_text

    assert detail_text("busy", "nl", TZ) == "bezig" and detail_text("not_started", "en", TZ) == "not started"
    assert target_text("shift", "nl") == "dienst" and target_text("day", "en") == "day"
