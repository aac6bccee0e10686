"""content.loader: one API over the packs, both languages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance.errors import ContentError
from content.loader import SHIPPED_DIR, UnknownContent, load_library, load_pack
from content.schema import BUSINESS_FUNCTIONS, DOMAINS, LANGUAGES


def test_steps_by_function_cover_all_eight(library) -> None:
    for blueprint in ("machine-building", "sheet-metal"):
        by_function = library.steps_by_function(blueprint=blueprint)
        assert list(by_function) == list(BUSINESS_FUNCTIONS)
        assert all(by_function[f] for f in BUSINESS_FUNCTIONS), blueprint


def test_blueprint_includes_box_steps_but_not_the_other_blueprint(library) -> None:
    ids = {s.id for s in library.steps(blueprint="sheet-metal")}
    assert "box-connect-machine" in ids and "sm-prod-01" in ids
    assert not any(i.startswith("mb-") for i in ids)
    assert [b.id for b in library.blueprints()] == ["machine-building", "sheet-metal"] or \
        {b.id for b in library.blueprints()} == {"machine-building", "sheet-metal"}


def test_steps_filtered_by_function(library) -> None:
    steps = library.steps(function="maintenance", blueprint="machine-building")
    assert steps and all(s.function == "maintenance" for s in steps)
    with pytest.raises(UnknownContent):
        library.steps(function="canteen")


def test_step_fields_and_text_in_both_languages(library) -> None:
    step = library.step("box-arm-guard")
    assert step.kind == "strategic" and step.function == "maintenance"
    assert step.prerequisites == ["box-label-alerts", "box-baseline"]
    assert step.box_fact == "guard_armed"
    assert "veiligheidsfunctie" in step.text("nl").why
    assert "not a safety function" in step.text("en").why
    assert step.text("en").actions and step.text("nl").pitfalls
    with pytest.raises(ContentError):
        step.text("de")


def test_every_item_has_both_languages(library) -> None:
    items = [*library.steps(), *library.cards(), *library.statements(), *library.advice()]
    assert items
    for item in items:
        assert set(item.texts) == set(LANGUAGES), item.ref


def test_card_and_the_steps_that_need_it(library) -> None:
    card = library.card("card-stop-signal")
    assert "operator" in card.roles
    assert len(card.text("nl").levels) >= 3
    needing = {s.id for s in library.steps_needing("card-stop-signal")}
    assert {"box-guard-shadow", "box-arm-guard"} <= needing
    assert library.cards(role="owner") and all("owner" in c.roles for c in library.cards(role="owner"))


def test_cards_for_every_role_and_the_required_topics(library) -> None:
    for role in ("operator", "maintenance", "planner", "production-manager", "owner"):
        assert library.cards(role=role), role
    for card_id in ("card-data-literacy", "card-alerts-and-labels", "card-stop-signal", "card-leading-change"):
        library.card(card_id)


def test_statements_and_advice(library) -> None:
    for domain in DOMAINS:
        assert len(library.statements(domain=domain)) >= 5
        for band in ("low", "middle", "high"):
            assert library.advice(domain=domain, band=band), (domain, band)
    assert library.advice(domain="technology", score=1.4)[0].band == "low"
    assert library.advice(domain="technology", score=4.0)[0].band == "high"


def test_resolve_and_links(library) -> None:
    assert library.resolve("step:box-baseline").id == "box-baseline"
    assert library.resolve("card:card-oee-kpi").item_kind == "card"
    assert library.resolve("box-baseline").item_kind == "step"
    assert "step:box-baseline" in library
    assert "step:nope" not in library
    linked = {i.ref for i in library.links("step:mb-prod-01")}
    assert {"step:box-baseline", "card:card-oee-kpi"} <= linked
    with pytest.raises(UnknownContent):
        library.resolve("step:nope")
    with pytest.raises(UnknownContent):
        library.resolve("widget:x")


def test_load_pack_refuses_a_broken_pack(tmp_path: Path) -> None:
    dst = tmp_path / "common"
    shutil.copytree(SHIPPED_DIR / "common", dst)
    (dst / "cards" / "card-oee-kpi.nl.md").unlink()
    with pytest.raises(ContentError, match="werkvloer content check"):
        load_pack(dst)


def test_later_folder_replaces_a_pack(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    shutil.copytree(SHIPPED_DIR / "sheet-metal", hub / "sheet-metal")
    path = hub / "sheet-metal" / "steps" / "sm-prod-01.en.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: Shorter changeovers at the press brake", "title: Hub version"), encoding="utf-8")
    lib = load_library([SHIPPED_DIR, hub])
    assert lib.step("sm-prod-01").text("en").title == "Hub version"
    assert lib.packs["sheet-metal"].path == (hub / "sheet-metal").resolve()
