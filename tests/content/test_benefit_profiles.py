"""Benefit models per step (issue 14 point 3), role profiles (point 9), help per step (point 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from content import benefit
from content.check import check_pack
from content.loader import ContentError, Library
from content.schema import HELP_NAMES, ROLES


def test_every_step_has_a_benefit_model_help_and_roles(library: Library) -> None:
    for step in library.steps():
        assert benefit.names_in(step.benefit.formula) is not None
        assert step.help and all(h in HELP_NAMES for h in step.help)
        assert step.roles and step.text("nl").new_tasks and step.text("en").new_tasks


def test_range_uses_rules_of_thumb_until_the_box_measures(library: Library) -> None:
    step = library.step("sm-prod-01")  # setup_h_week * share_saved * weeks_year * machine_hour_rate
    low, high, inputs = benefit.benefit_range(step.benefit.formula, step.benefit.assume, {}, {})
    assert 0 < low < high
    assert {i.name: i.basis for i in inputs}["setup_h_week"] == "rule-of-thumb"
    # measured 5 h setup a week and a machine-hour rate of EUR 90: those become points, the range narrows
    low2, high2, inputs2 = benefit.benefit_range(step.benefit.formula, step.benefit.assume,
                                                 {"setup_h_week": 5.0}, {"machine_hour_rate": 90.0})
    basis = {i.name: i.basis for i in inputs2}
    assert basis["setup_h_week"] == "box" and basis["machine_hour_rate"] == "company" and basis["share_saved"] == "rule-of-thumb"
    assert low2 == pytest.approx(5 * 0.2 * 44 * 90) and high2 == pytest.approx(5 * 0.35 * 47 * 90)


def test_brochure_figures_are_marked_as_such(library: Library) -> None:
    step = library.step("box-edge-ai-usecase")
    assert step.benefit.assume["process_gain"].basis == "brochure"
    assert (step.benefit.assume["process_gain"].low, step.benefit.assume["process_gain"].high) == (0.15, 0.25)


@pytest.mark.parametrize(("formula", "message"), [
    ("setup_h_week * __import__('os')", "only numbers"),
    ("setup_h_week * price_of_tea", "unknown input 'price_of_tea'"),
    ("0 - setup_h_week * machine_hour_rate", "zero or more"),
    ("setup_h_week *", "not valid"),
])
def test_bad_formulas_are_reported(formula: str, message: str) -> None:
    problems = benefit.model_problems(formula, {})
    assert problems and message in problems[0][1]


def test_evaluate_refuses_what_is_not_arithmetic() -> None:
    with pytest.raises(ContentError):
        benefit.evaluate("open('x')", {})
    assert benefit.evaluate("min(a, 2) * 3 / b", {"a": 5, "b": 0}) == 0.0  # division by zero counts as 0


def test_check_reports_a_broken_benefit_formula(packs_copy: Path) -> None:
    for lang in ("nl", "en"):
        f = packs_copy / "sheet-metal" / "steps" / f"sm-prod-01.{lang}.md"
        f.write_text(f.read_text(encoding="utf-8").replace("formula: setup_h_week", "formula: setup_minutes"), encoding="utf-8")
    problems = [str(p) for p in check_pack(packs_copy / "sheet-metal")]
    assert any("benefit.formula: unknown input 'setup_minutes'" in p for p in problems), problems


def test_every_role_has_a_profile_with_valid_levels(library: Library) -> None:
    assert [p.role for p in library.profiles()] == list(ROLES)
    for p in library.profiles():
        for cl in p.cards:
            assert 1 <= cl.level <= len(library.card(cl.card).text("nl").levels)
        assert library.steps_for_role(p.role), p.role


def test_check_reports_a_missing_profile_and_a_level_too_high(packs_copy: Path) -> None:
    prof = packs_copy / "common" / "profiles"
    for lang in ("nl", "en"):
        (prof / f"profile-warehouse.{lang}.md").unlink()
        f = prof / f"profile-assembler.{lang}.md"
        f.write_text(f.read_text(encoding="utf-8").replace("card: card-digital-work-instructions\n  level: 2",
                                                            "card: card-digital-work-instructions\n  level: 5"), encoding="utf-8")
    problems = [str(p) for p in check_pack(packs_copy / "common")]
    assert any("no profile for role 'warehouse'" in p for p in problems), problems
    assert any("cards.0.level: card-digital-work-instructions has 4 levels" in p for p in problems), problems


def test_counts(library: Library) -> None:
    by_pack: dict[str, int] = {}
    for s in library.steps():
        by_pack[s.pack] = by_pack.get(s.pack, 0) + 1
    assert by_pack == {"common": 9, "machine-building": 29, "sheet-metal": 25}
    assert len(library.cards()) == 20 and len(library.profiles()) == 11
