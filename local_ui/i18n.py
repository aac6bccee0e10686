"""Translations: gettext catalogues under ``local_ui/translations``.

Source strings (msgids) are English; Dutch is the default language, English
is complete too (``tests/ui/test_i18n.py`` compares the catalogues with the
strings extracted from the code and templates). A compiled ``messages.mo``
is used when it is newer than its ``.po`` (``python -m local_ui.i18n
compile`` writes them); otherwise the ``.po`` is compiled in memory at start.
"""

from __future__ import annotations

import gettext
import io
import sys
from functools import cache
from pathlib import Path

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
HERE = Path(__file__).parent
TRANSLATIONS_DIR = HERE / "translations"
# Babel extraction: Python sources and Jinja2 templates.
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2"), ("**/static/**.js", "ignore")]


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def po_path(lang: str) -> Path:
    return TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"


def _compile(lang: str) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    po = po_path(lang)
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if not po.exists():
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(_compile(lang)))


def extract_messages() -> list[str | tuple[str, str]]:
    """Every msgid used in local_ui's code and templates; a plural
    (``ngettext``) is one (singular, plural) pair, as in the catalogue."""
    from babel.messages.extract import extract_from_dir

    found: set[str | tuple[str, str]] = set()
    for _fname, _lineno, message, _comments, _ctx in extract_from_dir(
            str(HERE), method_map=METHOD_MAP, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        if isinstance(message, tuple):
            parts = tuple(m for m in message if m)
            found.add(parts if len(parts) == 2 else parts[0])  # type: ignore[arg-type]
        elif message:
            found.add(message)
    return sorted(found, key=lambda m: m if isinstance(m, str) else m[0])


def compile_all() -> list[Path]:
    out = []
    for lang in LANGUAGES:
        mo = po_path(lang).with_suffix(".mo")
        mo.write_bytes(_compile(lang))
        out.append(mo)
    return out


def update_catalogues() -> dict[str, list[str]]:
    """Add new msgids to both catalogues and drop unused ones. English gets
    msgstr = msgid; Dutch keeps its translations, new ones stay empty
    (the catalogue test then fails until someone translates them)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    ids = extract_messages()
    missing: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        po = po_path(lang)
        old: dict = {}
        if po.exists():
            with po.open("rb") as fh:
                old = {m.id: m.string for m in read_po(fh, locale=lang) if m.id}  # type: ignore[misc]
        cat = Catalog(locale=lang, project="werkvloer", version="1", fuzzy=False)
        for mid in ids:
            blank = mid if lang == "en" else ("" if isinstance(mid, str) else ("", ""))
            text = old.get(mid) or blank
            cat.add(mid, text)
        po.parent.mkdir(parents=True, exist_ok=True)
        with po.open("wb") as fh:
            write_po(fh, cat, width=0, omit_header=False, sort_output=True)
        missing[lang] = [m if isinstance(m, str) else m[0] for m in ids if not (old.get(m) or lang == "en")]
    return missing


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compile"]:
        for p in compile_all():
            print(p)
        return 0
    if argv[:1] == ["update"]:
        for lang, ids in update_catalogues().items():
            print(f"{lang}: {len(ids)} untranslated")
            for m in ids:
                print(f"  {m}")
        return 0
    if argv[:1] == ["extract"]:
        print("\n".join(m if isinstance(m, str) else " | ".join(m) for m in extract_messages()))
        return 0
    print("usage: python -m local_ui.i18n compile|extract|update", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
