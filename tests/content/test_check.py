"""content.check: the shipped packs pass, broken copies fail with the right problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from content.check import check_pack, check_packs
from content.loader import SHIPPED_DIR, pack_dirs


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _copy_item(folder: Path, item_id: str, new_id: str) -> None:
    """A copy of item ``item_id`` (both languages) under ``new_id``."""
    for lang in ("nl", "en"):
        text = (folder / f"{item_id}.{lang}.md").read_text(encoding="utf-8")
        (folder / f"{new_id}.{lang}.md").write_text(text.replace(f"id: {item_id}", f"id: {new_id}"), encoding="utf-8")


def _keys(problems) -> list[tuple[str, str]]:
    return [(p.path.name, p.key) for p in problems]


@pytest.mark.parametrize("pack_dir", pack_dirs(SHIPPED_DIR), ids=lambda p: p.name)
def test_shipped_pack_passes(pack_dir: Path) -> None:
    assert [str(p) for p in check_pack(pack_dir)] == []


def test_shipped_sizes_meet_the_issue(library) -> None:
    assert len(library.steps(blueprint="machine-building")) - len(library.steps(blueprint="common")) >= 25
    assert len(library.steps(blueprint="sheet-metal")) - len(library.steps(blueprint="common")) >= 15
    assert len(library.cards()) >= 12
    assert len(library.statements()) >= 20


def test_bad_schema(packs_copy: Path) -> None:
    step = packs_copy / "machine-building" / "steps" / "mb-prod-01.en.md"
    _edit(step, "effort: hours", "effort: forever")
    problems = check_pack(packs_copy / "machine-building")
    assert ("mb-prod-01.en.md", "effort") in _keys(problems)


def test_unknown_key_is_an_error(packs_copy: Path) -> None:
    step = packs_copy / "machine-building" / "steps" / "mb-prod-01.nl.md"
    _edit(step, "title:", "colour: red\ntitle:")
    assert ("mb-prod-01.nl.md", "colour") in _keys(check_pack(packs_copy / "machine-building"))


def test_broken_yaml(packs_copy: Path) -> None:
    step = packs_copy / "sheet-metal" / "steps" / "sm-prod-01.nl.md"
    _edit(step, "title:", "title: [unclosed\nx:")
    assert ("sm-prod-01.nl.md", "(front matter)") in _keys(check_pack(packs_copy / "sheet-metal"))


def test_dangling_prerequisite(packs_copy: Path) -> None:
    for lang in ("nl", "en"):
        _edit(packs_copy / "machine-building" / "steps" / f"mb-prod-01.{lang}.md", "- box-baseline", "- mb-nonexistent")
    problems = check_pack(packs_copy / "machine-building")
    assert len(problems) == 1
    assert problems[0].key == "prerequisites.0" and "mb-nonexistent" in problems[0].message


def test_dangling_card_and_body_link(packs_copy: Path) -> None:
    step = packs_copy / "sheet-metal" / "steps" / "sm-prod-02.en.md"
    step.write_text(step.read_text() + "\nSee [the other card](card:card-missing).\n", encoding="utf-8")
    problems = check_pack(packs_copy / "sheet-metal")
    assert ("sm-prod-02.en.md", "body") in _keys(problems)


def test_missing_language(packs_copy: Path) -> None:
    (packs_copy / "common" / "cards" / "card-oee-kpi.en.md").unlink()
    problems = check_pack(packs_copy / "common")
    assert ("card-oee-kpi.en.md", "(file)") in _keys(problems)
    assert any("missing language 'en'" in p.message for p in problems)


def test_manifest_without_english(packs_copy: Path) -> None:
    _edit(packs_copy / "sheet-metal" / "pack.toml", 'languages = ["nl", "en"]', 'languages = ["nl"]')
    assert ("pack.toml", "languages") in _keys(check_pack(packs_copy / "sheet-metal"))


def test_languages_disagree_on_neutral_field(packs_copy: Path) -> None:
    _edit(packs_copy / "machine-building" / "steps" / "mb-prod-01.en.md", "kind: quick-win", "kind: strategic")
    assert ("mb-prod-01.en.md", "kind") in _keys(check_pack(packs_copy / "machine-building"))


def test_orphan_skill(packs_copy: Path) -> None:
    _copy_item(packs_copy / "common" / "cards", "card-oee-kpi", "card-unused")
    problems = check_pack(packs_copy / "common")
    assert _keys(problems) == [("card-unused.nl.md", "id")]
    assert "orphan" in problems[0].message


def test_card_orphaned_when_its_only_step_stops_needing_it(packs_copy: Path) -> None:
    # card-cam-programming is needed by sheet-metal steps only; without them it is an orphan.
    steps = packs_copy / "sheet-metal" / "steps"
    for path in steps.glob("*.md"):
        path.write_text(path.read_text(encoding="utf-8").replace("- card-cam-programming\n", ""), encoding="utf-8")
    problems = check_pack(packs_copy / "common", library_dirs=[packs_copy])
    assert any(p.path.name == "card-cam-programming.nl.md" and "orphan" in p.message for p in problems)


def test_prerequisite_cycle(packs_copy: Path) -> None:
    steps = packs_copy / "machine-building" / "steps"
    for lang in ("nl", "en"):
        # mb-plan-01 has no prerequisites; make it wait for mb-plan-02, which waits for mb-plan-01
        _edit(steps / f"mb-plan-01.{lang}.md", "prerequisites: []", "prerequisites:\n- mb-plan-02")
    problems = check_pack(packs_copy / "machine-building")
    assert len(problems) == 1 and problems[0].key == "prerequisites"
    assert re.search(r"prerequisite cycle: .*mb-plan-01.*mb-plan-02", problems[0].message)


def test_missing_required_pack(tmp_path: Path, packs_copy: Path) -> None:
    _edit(packs_copy / "sheet-metal" / "pack.toml", 'requires = ["common"]', 'requires = ["common", "welding"]')
    problems = check_pack(packs_copy / "sheet-metal")
    assert ("pack.toml", "requires.1") in _keys(problems)


def test_file_name_and_id_must_agree(packs_copy: Path) -> None:
    steps = packs_copy / "sheet-metal" / "steps"
    _edit(steps / "sm-log-02.nl.md", "id: sm-log-02", "id: sm-log-99")
    assert ("sm-log-02.nl.md", "id") in _keys(check_pack(packs_copy / "sheet-metal"))


def test_duplicate_id_across_packs(packs_copy: Path) -> None:
    _copy_item(packs_copy / "sheet-metal" / "steps", "sm-log-02", "box-baseline")
    problems = check_pack(packs_copy / "sheet-metal")
    assert any(p.key == "id" and "also in pack 'common'" in p.message for p in problems)


def test_assessment_needs_advice_for_every_band(packs_copy: Path) -> None:
    for lang in ("nl", "en"):
        (packs_copy / "common" / "advice" / f"advice-technology-high.{lang}.md").unlink()
    problems = check_pack(packs_copy / "common")
    assert ("advice", "technology.high") in _keys(problems)


def test_check_packs_default_is_every_shipped_pack() -> None:
    results = check_packs()
    assert {p.name for p in results} == {"common", "machine-building", "sheet-metal"}
    assert all(not problems for problems in results.values())


def test_problem_names_file_and_key(packs_copy: Path) -> None:
    _edit(packs_copy / "machine-building" / "steps" / "mb-prod-01.en.md", "effort: hours", "effort: forever")
    text = str(check_pack(packs_copy / "machine-building")[0])
    assert "mb-prod-01.en.md: effort:" in text
