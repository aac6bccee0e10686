"""Translations: Dutch (default) and English complete, no untranslated strings."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from local_ui import i18n


def _catalogue(lang: str) -> dict:
    with i18n.po_path(lang).open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=lang) if m.id}  # type: ignore[misc]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_string_in_code_and_templates_is_translated(lang: str) -> None:
    used = set(i18n.extract_messages())
    cat = _catalogue(lang)
    missing = sorted(used - set(cat))
    empty = sorted(str(m) for m in used & set(cat)
                   if not all(x.strip() for x in (cat[m] if isinstance(cat[m], tuple) else (cat[m],))))
    assert not missing, f"{lang}: not in the catalogue (run python -m local_ui.i18n update): {missing}"
    assert not empty, f"{lang}: untranslated: {empty}"
    assert not sorted(set(cat) - used), f"{lang}: obsolete entries (run python -m local_ui.i18n update)"


def test_catalogues_have_the_same_messages_and_placeholders() -> None:
    nl, en = _catalogue("nl"), _catalogue("en")
    assert set(nl) == set(en)
    for mid, text in nl.items():
        for m, t in zip(mid if isinstance(mid, tuple) else (mid,), text if isinstance(text, tuple) else (text,), strict=True):
            assert set(re.findall(r"%\(\w+\)[sd]", m)) == set(re.findall(r"%\(\w+\)[sd]", t)), mid


def test_dutch_is_the_default_and_really_dutch() -> None:
    assert i18n.DEFAULT_LANGUAGE == "nl"
    t = i18n.translations("nl")
    assert t.gettext("Log in") == "Inloggen"
    assert i18n.translations("en").gettext("Log in") == "Log in"
