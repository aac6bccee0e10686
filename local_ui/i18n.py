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


def extract_messages() -> list[str]:
    """Every msgid used in local_ui's code and templates."""
    from babel.messages.extract import extract_from_dir

    found: set[str] = set()
    for _fname, _lineno, message, _comments, _ctx in extract_from_dir(
            str(HERE), method_map=METHOD_MAP, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return sorted(found)


def compile_all() -> list[Path]:
    out = []
    for lang in LANGUAGES:
        mo = po_path(lang).with_suffix(".mo")
        mo.write_bytes(_compile(lang))
        out.append(mo)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compile"]:
        for p in compile_all():
            print(p)
        return 0
    if argv[:1] == ["extract"]:
        print("\n".join(extract_messages()))
        return 0
    print("usage: python -m local_ui.i18n compile|extract", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
