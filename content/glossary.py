"""The glossary: one vocabulary for content packs and UI strings (issue 14, point 5).

    g = load_glossary()
    g.term("downtime").nl                        # "stilstand"
    g.find_avoided("Bij elke stop ...", "nl")    # [(term, "bij elke stop")]

``content/glossary.toml`` holds the terms; ``check_glossary`` validates it and
``vocabulary_problems`` flags an avoided synonym in a pack. The UI side (templates
and translation catalogue) is checked by tests/content/test_vocabulary.py.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from content.loader import ContentError, Pack, Problem
from content.schema import ITEM_ID_PATTERN, StrictModel

GLOSSARY_PATH = Path(__file__).resolve().parent / "glossary.toml"

Word = Annotated[str, Field(min_length=2, max_length=60)]


class Term(StrictModel):
    id: str = Field(..., pattern=ITEM_ID_PATTERN, max_length=40)
    nl: Word
    en: Word
    means_nl: str = Field(..., min_length=10, max_length=600)
    means_en: str = Field(..., min_length=10, max_length=600)
    avoid_nl: list[Word] = Field(default_factory=list)
    avoid_en: list[Word] = Field(default_factory=list)
    mention_ok: list[str] = Field(default_factory=list, title="Content items that may name an avoided word")

    def word(self, lang: str) -> str:
        return self.nl if lang == "nl" else self.en

    def means(self, lang: str) -> str:
        return self.means_nl if lang == "nl" else self.means_en

    def avoid(self, lang: str) -> list[str]:
        return self.avoid_nl if lang == "nl" else self.avoid_en


class GlossaryFile(StrictModel):
    term: list[Term] = Field(..., min_length=1)


def _pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(word).replace(r"\ ", r"\s+") + r"(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class Glossary:
    terms: tuple[Term, ...]
    path: Path

    def term(self, term_id: str) -> Term:
        for t in self.terms:
            if t.id == term_id:
                return t
        raise ContentError(f"no glossary term {term_id!r} in {self.path.name}")

    @cached_property
    def _avoided(self) -> dict[str, list[tuple[Term, str, re.Pattern[str]]]]:
        return {lang: [(t, w, _pattern(w)) for t in self.terms for w in t.avoid(lang)] for lang in ("nl", "en")}

    def find_avoided(self, text: str, lang: str, *, item_id: str | None = None) -> list[tuple[Term, str]]:
        """(term, avoided word) for every avoided word in ``text``."""
        return [(t, w) for t, w, rx in self._avoided[lang]
                if rx.search(text) and not (item_id and item_id in t.mention_ok)]


def load_glossary(path: str | Path = GLOSSARY_PATH) -> Glossary:
    glossary, problems = read_glossary(path)
    if glossary is None or problems:
        raise ContentError(f"glossary {path} has problems:\n" + "\n".join(f"  {p}" for p in problems))
    return glossary


def read_glossary(path: str | Path = GLOSSARY_PATH) -> tuple[Glossary | None, list[Problem]]:
    """The glossary and every problem in it (schema, unique ids, an avoided word that is also a term)."""
    path = Path(path)
    try:
        data = GlossaryFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(path, "(file)", f"cannot read: {exc}")]
    except ValidationError as exc:
        return None, [Problem(path, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    problems: list[Problem] = []
    seen: set[str] = set()
    words = {lang: {t.word(lang).lower() for t in data.term} for lang in ("nl", "en")}
    for i, t in enumerate(data.term):
        if t.id in seen:
            problems.append(Problem(path, f"term.{i}.id", f"{t.id!r} is used twice; one entry per term"))
        seen.add(t.id)
        for lang in ("nl", "en"):
            for w in t.avoid(lang):
                if w.lower() in words[lang]:
                    problems.append(Problem(path, f"term.{i}.avoid_{lang}",
                                            f"{w!r} is itself a glossary term; it cannot also be a word to avoid"))
    return Glossary(tuple(data.term), path), problems


def _texts(item: object, lang: str) -> Iterable[tuple[str, str]]:
    """(field, text) of one language file of an item, lists and levels flattened."""
    text = item.texts[lang]  # type: ignore[attr-defined]
    for name, value in text.model_dump().items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                yield from ((f"{name}.{k}", str(x)) for k, x in v.items())
            elif isinstance(v, str):
                yield name, v


def vocabulary_problems(pack: Pack, glossary: Glossary) -> list[Problem]:
    """An avoided synonym anywhere in the pack's texts is a problem."""
    problems = []
    manifest = pack.manifest
    for lang in ("nl", "en"):
        for field, text in (("title", manifest.title.get(lang, "")), ("description", manifest.description.get(lang, ""))):
            for term, word in glossary.find_avoided(text, lang):
                problems.append(Problem(pack.path / "pack.toml", f"{field}.{lang}",
                                        f"{word!r}: the glossary says {term.word(lang)!r} ({term.id}); use that word"))
    for item in pack.all_items():
        for lang, path in item.paths.items():
            for field, text in _texts(item, lang):
                for term, word in glossary.find_avoided(text, lang, item_id=item.id):
                    problems.append(Problem(path, field, f"{word!r}: the glossary says {term.word(lang)!r} "
                                                         f"({term.id}); use that word"))
    return problems
