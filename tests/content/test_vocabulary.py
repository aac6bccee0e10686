"""One vocabulary: a word the glossary says to avoid must not appear in a
content pack, a UI template or the UI's translation catalogue (issue 14, point 5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from content.check import check_pack
from content.glossary import GLOSSARY_PATH, load_glossary, read_glossary, vocabulary_problems
from content.loader import SHIPPED_DIR, ContentError, read_pack

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "local_ui"


@pytest.fixture(scope="module")
def glossary():
    return load_glossary()


def _po_strings(lang: str) -> list[tuple[str, str]]:
    with (UI / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        out = []
        for m in read_po(fh, locale=lang):
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            out += [(ids[0], s) for s in strings if s]
            if lang == "en":
                out += [(i, i) for i in ids]
    return out


def test_glossary_is_valid() -> None:
    g, problems = read_glossary()
    assert g is not None and not problems, problems
    assert {"shift", "scrap", "true-alarm", "acknowledge", "label", "reset-stop", "skills-card",
            "downtime", "hub", "edih", "fieldlab"} <= {t.id for t in g.terms}


@pytest.mark.parametrize("pack", ["common", "machine-building", "sheet-metal"])
def test_no_avoided_word_in_the_shipped_packs(pack: str, glossary) -> None:
    p, problems = read_pack(SHIPPED_DIR / pack)
    assert p is not None and not problems
    assert vocabulary_problems(p, glossary) == []


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_avoided_word_in_the_ui_catalogue(lang: str, glossary) -> None:
    hits = [(mid, s, w) for mid, s in _po_strings(lang) for _t, w in glossary.find_avoided(s, lang)]
    assert hits == [], f"{lang}: (msgid, text, avoided word): {hits}"


def test_no_avoided_word_in_the_ui_templates(glossary) -> None:
    # Templates hold English msgids and a little literal text; the English list applies.
    hits = []
    for tpl in sorted((UI / "templates").glob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", tpl.read_text(encoding="utf-8"), flags=re.S)
        hits += [(tpl.name, w) for _t, w in glossary.find_avoided(text, "en")]
    assert hits == []


def test_the_check_flags_an_avoided_word(packs_copy: Path) -> None:
    step = packs_copy / "sheet-metal" / "steps" / "sm-prod-01.nl.md"
    step.write_text(step.read_text(encoding="utf-8").replace("title: Korter omstellen aan de kantbank",
                                                             "title: Korter omstellen per ploeg"), encoding="utf-8")
    problems = [str(p) for p in check_pack(packs_copy / "sheet-metal")]
    assert any("sm-prod-01.nl.md: title: 'ploeg': the glossary says 'dienst'" in p for p in problems), problems


def test_mention_ok_lets_an_item_explain_a_word(glossary) -> None:
    assert glossary.find_avoided("In AI-taal heet dit labelen; de box zegt beoordelen. Niet gelabeld.", "nl")
    assert not glossary.find_avoided("Ook wel gelabeld genoemd.", "nl", item_id="card-edge-ai")


def test_a_broken_glossary_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "glossary.toml"
    bad.write_text(GLOSSARY_PATH.read_text(encoding="utf-8") + '\n[[term]]\nid = "shift"\nnl = "dienst"\nen = "xy"\n'
                   'means_nl = "tweemaal hetzelfde"\nmeans_en = "the same twice"\navoid_nl = ["stilstand"]\n',
                   encoding="utf-8")
    _, problems = read_glossary(bad)
    text = " ".join(str(p) for p in problems)
    assert "'shift' is used twice" in text and "'stilstand' is itself a glossary term" in text
    with pytest.raises(ContentError):
        load_glossary(bad)
