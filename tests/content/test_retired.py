"""Statement ids are stable: retired ids (pack.toml 'retired') are never reused (issue 14)."""

from __future__ import annotations

from pathlib import Path

from content.check import check_pack
from content.loader import Library


def test_duplicate_and_double_statements_are_gone(library: Library) -> None:
    ids = {s.id for s in library.statements()}
    assert not ids & {"wi-te-03", "wi-te-04"}
    assert {"wi-te-06", "wi-te-07", "wi-te-08"} <= ids and len(ids) == 21


def test_reusing_a_retired_id_is_a_problem(packs_copy: Path) -> None:
    a = packs_copy / "common" / "assessment"
    for lang in ("nl", "en"):
        src = (a / f"wi-te-08.{lang}.md").read_text(encoding="utf-8")
        (a / f"wi-te-03.{lang}.md").write_text(src.replace("id: wi-te-08", "id: wi-te-03"), encoding="utf-8")
    problems = [str(p) for p in check_pack(packs_copy / "common")]
    assert any("'wi-te-03' is a retired id" in p for p in problems), problems
