"""What may be on a screen (issue 15, the visible-text scan): the active language's catalogue
strings, the glossary's terms, and data — numbers, dates, times, units, the names the user
configured (box, signals, rules, models, outputs, products, shifts, reasons) and the content
packs' texts; the box's own alert texts count as that language's catalogue (``box_fragments``).
``leftover(text, lang)`` returns the words of a visible text node that are none of these."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdif]|%%|%[sdif]|\{[a-z_]*\}")
WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
UNITS = {"ms", "s", "min", "u", "h", "kWh", "kW", "Hz", "mm", "A", "V", "rpm", "bar", "°C", "degC", "%", "x", "N", "kg", "EUR"}
UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
ALWAYS = {"EN", "NL", "OEE", "KPI", "KPI's", "KPIs", "CSV", "JSON", "PDF", "ROI", "API", "PIN", "sha256", "SHA",
          "p50", "p99", "Werkvloer", "werkvloer", "OpenAPI", "LiteRT", "TFLite",
          "Modbus", "TCP", "RTU", "OPC", "UA", "GPIO", "modbus", "opcua", "gpio"}


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.replace("\u00a0", " ").replace("\u2009", " ")).strip()


@functools.cache
def catalogue_fragments(lang: str) -> tuple[str, ...]:
    """Each translated string split at its placeholders; longest first."""
    po = ROOT / "local_ui" / "translations" / lang / "LC_MESSAGES" / "messages.po"
    out: set[str] = set()
    with po.open("rb") as fh:
        for m in read_po(fh, locale=lang):
            if not m.id:
                continue
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            for s in strings:
                for frag in PLACEHOLDER.split(s or ""):
                    frag = _norm(frag).strip(" .,:;()·–-")
                    if WORD.search(frag):
                        out.add(frag)
    out |= box_fragments(lang)
    return tuple(sorted(out, key=len, reverse=True))


def _literals(node: ast.expr) -> list[str]:
    """The literal text of one language's value: a string, an f-string's fixed parts (its
    placeholders are the data), both branches of a conditional, the parts of ``a or b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        out: list[str] = []
        for v in node.values:
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                out.append(v.value)
            elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.IfExp | ast.Constant | ast.BoolOp):
                out += _literals(v.value)
        return out
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [x for v in node.values for x in _literals(v)]
    return []


@functools.cache
def box_fragments(lang: str) -> frozenset[str]:
    """The box's own texts in ``lang``: every ``{"nl": ..., "en": ...}`` literal in appliance/ and
    sync/ (alert titles and details, which the raising part stores in both languages), split at
    their placeholders. An English text on a Dutch screen is not among the Dutch ones."""
    out: set[str] = set()
    for path in sorted([*(ROOT / "appliance").rglob("*.py"), *(ROOT / "sync").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
            if not {"nl", "en"} <= set(keys):
                continue
            for text in _literals(keys[lang]):
                frag = _norm(text).strip(" .,:;()·–-")
                if WORD.search(frag):
                    out.add(frag)
    return frozenset(out)


@functools.cache
def glossary_words(lang: str) -> tuple[str, ...]:
    from content.glossary import load_glossary

    return tuple(sorted({t.word(lang) for t in load_glossary().terms}, key=len, reverse=True))


def _strings(obj: Any, seen: dict[int, Any], out: set[str], depth: int = 0) -> None:
    if depth > 16 or id(obj) in seen:
        return
    seen[id(obj)] = obj  # kept alive: a freed temporary's id could come again
    if isinstance(obj, str):
        out.add(_norm(obj))
    elif isinstance(obj, dict):
        for v in obj.values():
            _strings(v, seen, out, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            _strings(v, seen, out, depth + 1)
    elif hasattr(obj, "model_dump"):
        _strings(obj.model_dump(), seen, out, depth + 1)
    elif hasattr(obj, "__dict__"):
        _strings(vars(obj), seen, out, depth + 1)


@functools.cache
def content_texts() -> str:
    """The content area's own texts (packs: steps, cards, advice; its schema's names of business
    functions, kinds, levels; its advice sentences), both languages, whitespace folded."""
    files = [p for p in sorted((ROOT / "content").rglob("*")) if p.is_file() and p.suffix in (".md", ".toml", ".yaml", ".yml", ".py")]
    # An f-string's placeholder ("{open_} meldingen wachten ...") is the number the screen shows.
    return "\n".join(re.sub(r"\{[a-z_]+\}\s*", "", _norm(p.read_text(encoding="utf-8")))
                     .replace("**", "").replace("`", "").replace("''", "'") for p in files)


@functools.cache
def _in_content(piece: str) -> bool:
    """A phrase of the content area; a single word only as a name there (``name: X`` or ``"nl": "X"``).
    A plain substring test first: the regex can only match where the text holds the literal, and it
    is one search of ~450 KB per call (the scan asks for the same pieces on every page)."""
    text = content_texts()
    if " " in piece.strip():
        phrase = piece.strip(" .")
        return phrase in text and re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None
    bare = piece.strip(" .")
    if not any(lit in text for lit in (f"name: {bare}", f'"nl": "{bare}"', f'"en": "{bare}"')):
        return False
    word = re.escape(bare)
    return re.search(r"(?:name: " + word + r"(?:\s|$)|\"(?:nl|en)\": \"" + word + r"\")", text) is not None


def config_names(config: Any) -> set[str]:
    out: set[str] = set()
    _strings(config.model_dump(), {}, out)
    from appliance.kpi.reasons import ReasonTree

    try:
        tree = ReasonTree.from_config(config.machine)
        _strings(tree, {}, out)  # the reasons' labels (the shipped tree or the config's)
        out |= {tree.get(c).label(lang) for c in tree.codes() for lang in ("nl", "en")}  # "group / reason"
    except Exception:  # noqa: BLE001 - no tree: nothing to add
        pass
    from appliance.models.registry import SHIPPED_DIR

    out |= {p.name for p in SHIPPED_DIR.iterdir() if p.is_dir()}  # model ids
    return {s for s in out if s and len(s) <= 80}


def leftover(text: str, lang: str, names: set[str]) -> list[str]:
    """Words of ``text`` that are not a catalogue string, a glossary term or data."""
    t = re.sub(r"^\d+\.\s+", "", _norm(text))  # a numbered item: the number is the page's
    t = re.sub(r"(?<![\w.])/\S+|\S+://\S+", " ", t)  # paths and addresses are data
    # What a user typed as a comment is data: "opmerking: ..." / "comment: ..." up to the next field.
    t = re.sub(r"(?i)\b(opmerking|comment): [^;)]+", r"\1:", t)

    def data(x: str) -> bool:
        # A name with its version, or a number with its unit ("Motor current 22.1 A ... 20.0 A ... 200 ms"
        # once the catalogue's words between them are gone).
        bare = re.sub(r"\s*(?<![\w-])v?\d[\d.,:+-]*(?:\s*(?:" + UNIT_RE + r")(?!\w))?", "", x).strip(" .@")
        return (x in names or x.strip(" .") in names or _in_content(x)
                or (bool(bare) and (bare in names or (bare != x and _in_content(bare)))))

    def without_data(t: str) -> str:
        """A list of names or a "name (level)" is data piece by piece: drop the pieces that are."""
        kept = []
        for part in re.split(r"\s*·\s*|:\s+", t):  # coarse first: "uren (minder dan een dag)" is one name
            if not WORD.search(part) or data(part):
                continue
            for piece in re.split(r"\s*[,;()]\s*", part):
                if WORD.search(piece) and not data(piece):
                    kept += [x for x in re.split(r"\s*/\s*|\s+[-–]\s+", piece) if WORD.search(x) and not data(x)]
        return " · ".join(kept)

    if not WORD.search(t) or data(t) or data(t.strip(" :·.–-")):
        return []
    # Catalogue strings first, then data; or data first (a content sentence the catalogue would cut);
    # or "Label: data" (a catalogue label before a name or a content text): the text passes when one
    # of these leaves nothing.
    candidates = [t]
    parts = t.split(": ")
    candidates += [": ".join(parts[:i]) for i in range(1, len(parts)) if data(": ".join(parts[i:]).strip(" ."))]
    first: list[str] | None = None
    for c in candidates:
        # A name of several words inside a sentence ("... van Stuks geteld rond ..."): cut out as data
        # before the catalogue, whose shorter fragments ("Stuks") would otherwise split it.
        named = c
        for n in sorted((n for n in names if " " in n and n in c), key=len, reverse=True):
            named = re.sub(r"(?<!\w)" + re.escape(n) + r"(?!\w)", " · ", named)
        for rest in (_rest(without_data(_uncatalogued(c, lang)), lang), _rest(_uncatalogued(without_data(c), lang), lang),
                     _rest(without_data(_uncatalogued(named, lang)), lang)):
            if not rest:
                return []
            first = rest if first is None else first
    return first or []


def _uncatalogued(t: str, lang: str) -> str:
    for frag in catalogue_fragments(lang):
        if frag in t:
            t = re.sub(r"(?<!\w)" + re.escape(frag) + r"(?!\w)", " ", t)
    return t


def _rest(t: str, lang: str) -> list[str]:
    t = re.sub(r"\S*(?:/|://|\\)\S*", " ", t)  # paths and addresses are data
    if not WORD.search(t):
        return []
    for word in glossary_words(lang):
        t = re.sub(r"(?<!\w)" + re.escape(word) + r"(?!\w)", " ", t, flags=re.IGNORECASE)
    tokens = [w.strip("'’-") for w in re.findall(r"[\w°'’-]+", t)]
    return [w for w in tokens if WORD.search(w) and not re.search(r"\d", w) and w not in UNITS and w not in ALWAYS]
