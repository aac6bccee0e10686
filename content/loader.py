"""One loader API for content packs: blueprint steps, skills cards and the
workplace-innovation check, in Dutch and English.

    lib = load_library()                      # the packs shipped with the box
    lib = load_library([SHIPPED_DIR, hub_dir])  # a later folder replaces a pack by id
    for step in lib.steps(blueprint="machine-building", function="production"):
        print(step.id, step.text("nl").title)
    lib.card("card-data-literacy").text("en").levels
    lib.resolve("step:box-baseline")

A pack is a folder with ``pack.toml`` and one Markdown file per item per
language (``steps/mb-prod-01.nl.md``); see ``content.schema`` for the fields.
``read_pack`` returns what it could read plus every problem it met, so
``content.check`` and the loader share one parser; ``load_pack`` and
``load_library`` refuse a pack with problems. Issue 6.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from content.errors import ContentError
from content.schema import (
    BUSINESS_FUNCTIONS,
    KINDS,
    LANGUAGES,
    ROLES,
    AdviceMeta,
    AdviceText,
    CardMeta,
    CardText,
    PackManifest,
    ProfileMeta,
    ProfileText,
    StatementMeta,
    StatementText,
    StepMeta,
    StepText,
    band_for,
)

SHIPPED_DIR = Path(__file__).resolve().parent / "packs"

# libyaml when present (it is in the PyYAML wheels): ~20x faster than the pure
# Python parser, which matters on a Pi that reads ~200 files at UI start.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Inline links in Markdown bodies: [text](step:mb-prod-01), [text](card:card-x)
LINK_RE = re.compile(r"\]\((step|card|statement|advice|profile):([a-z0-9-]+)\)")
FILE_RE = re.compile(r"^(?P<id>[a-z0-9-]+)\.(?P<lang>[a-z]{2})\.md$")
KIND_OF_FOLDER = {"steps": "step", "cards": "card", "assessment": "statement", "advice": "advice", "profiles": "profile"}
FOLDER_OF_KIND = {v: k for k, v in KIND_OF_FOLDER.items()}


class UnknownContent(ContentError, LookupError):
    """No item with this id in the loaded packs; check the id or load the pack that has it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a pack: the file, the key in it, and what to do."""

    path: Path
    key: str
    message: str

    def __str__(self) -> str:
        return f"{_show(self.path)}: {self.key}: {self.message}"


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------- items

@dataclass(frozen=True)
class Item:
    """One item in all its languages. Language-neutral fields are attributes
    (``step.prerequisites``); text is per language (``step.text("nl").title``)."""

    item_kind: str  # "step", "card", "statement" or "advice" (a step's own ``kind`` is quick-win/strategic)
    meta: BaseModel
    texts: Mapping[str, BaseModel]
    pack: str
    paths: Mapping[str, Path] = field(repr=False)

    @property
    def id(self) -> str:
        return self.meta.id  # type: ignore[attr-defined, no-any-return]

    @property
    def ref(self) -> str:
        return f"{self.item_kind}:{self.id}"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the dataclass does not have: the meta fields.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.meta, name)

    def text(self, lang: str) -> Any:
        try:
            return self.texts[lang]
        except KeyError:
            raise ContentError(f"{self.ref} has no text in {lang!r}; languages: {sorted(self.texts)}") from None

    def links(self) -> list[str]:
        """Every ``kind:id`` this item links to, front matter and bodies."""
        refs: list[str] = []
        for name in ("prerequisites", "cards", "related", "steps"):
            target_kind = "card" if name in ("cards", "related") else "step"
            refs += [f"{target_kind}:{getattr(i, 'card', i)}" for i in getattr(self.meta, name, [])]
        for text in self.texts.values():
            refs += [f"{k}:{i}" for k, i in LINK_RE.findall(getattr(text, "body", ""))]
        return list(dict.fromkeys(refs))


class Step(Item):
    meta: StepMeta
    texts: Mapping[str, StepText]


class Card(Item):
    meta: CardMeta
    texts: Mapping[str, CardText]


class Statement(Item):
    meta: StatementMeta
    texts: Mapping[str, StatementText]


class Advice(Item):
    meta: AdviceMeta
    texts: Mapping[str, AdviceText]


class Profile(Item):
    meta: ProfileMeta
    texts: Mapping[str, ProfileText]


ITEM_CLASS: dict[str, type[Item]] = {"step": Step, "card": Card, "statement": Statement, "advice": Advice,
                                     "profile": Profile}


@dataclass
class Pack:
    manifest: PackManifest
    path: Path
    items: dict[str, dict[str, Item]] = field(default_factory=lambda: {k: {} for k in ITEM_CLASS})

    @property
    def id(self) -> str:
        return self.manifest.id

    def all_items(self) -> Iterator[Item]:
        for by_id in self.items.values():
            yield from by_id.values()


# --------------------------------------------------------------------- reading

def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter, body) of a Markdown file, or None without front matter."""
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end == -1:
        if text.endswith("\n---"):
            return text[4:-4], ""
        return None
    return text[4:end], text[end + 5:]


def _pydantic_problems(path: Path, exc: ValidationError, prefix: str = "") -> list[Problem]:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(file)"
        problems.append(Problem(path, prefix + key, err["msg"]))
    return problems


def read_manifest(pack_dir: Path) -> tuple[PackManifest | None, list[Problem]]:
    path = pack_dir / "pack.toml"
    if not path.is_file():
        return None, [Problem(path, "(file)", "missing: every pack needs a pack.toml with id, version, languages, author, title")]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(path, "(file)", f"not valid TOML: {exc}")]
    try:
        manifest = PackManifest.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_problems(path, exc)
    problems = []
    missing = [lang for lang in LANGUAGES if lang not in manifest.languages]
    if missing:
        problems.append(Problem(path, "languages", f"must include {', '.join(LANGUAGES)}; missing {', '.join(missing)}"))
    for lang in LANGUAGES:
        if lang not in manifest.title:
            problems.append(Problem(path, f"title.{lang}", "missing: give the pack title in every language"))
    if manifest.id != pack_dir.name:
        problems.append(Problem(path, "id", f"{manifest.id!r} differs from the folder name {pack_dir.name!r}; name the folder after the pack id"))
    return manifest, problems


def read_pack(pack_dir: str | Path) -> tuple[Pack | None, list[Problem]]:
    """Read one pack: what could be read, and every problem met on the way.

    Only problems inside the pack are found here; links to other items are
    the business of ``content.check``."""
    pack_dir = Path(pack_dir).resolve()
    if not pack_dir.is_dir():
        return None, [Problem(pack_dir, "(folder)", "not a folder; give the folder that holds pack.toml")]
    manifest, problems = read_manifest(pack_dir)
    if manifest is None:
        return None, problems
    pack = Pack(manifest=manifest, path=pack_dir)
    langs = list(dict.fromkeys([*manifest.languages, *LANGUAGES]))

    for entry in sorted(pack_dir.iterdir()):
        if entry.name.startswith(".") or entry.name in ("pack.toml", "README.md", "LICENSE"):
            continue
        if not (entry.is_dir() and entry.name in KINDS):
            problems.append(Problem(entry, "(file)", f"unexpected here; a pack holds pack.toml and the folders {', '.join(KINDS)}"))

    for folder, (file_model, meta_model, text_model) in KINDS.items():
        kind = KIND_OF_FOLDER[folder]
        files: dict[str, dict[str, tuple[Path, BaseModel]]] = {}
        seen_ids: dict[str, Path] = {}
        base = pack_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            m = FILE_RE.match(path.name)
            if not m or not path.is_file():
                problems.append(Problem(path, "(file)", "name must be <id>.<lang>.md, e.g. mb-prod-01.nl.md"))
                continue
            item_id, lang = m["id"], m["lang"]
            seen_ids.setdefault(item_id, path)
            if lang not in langs:
                problems.append(Problem(path, "(file)", f"language {lang!r} is not one of the pack's languages {manifest.languages}"))
                continue
            parsed = _read_item_file(path, item_id, file_model, problems)
            if parsed is not None:
                files.setdefault(item_id, {})[lang] = (path, parsed)

        for item_id, first_path in seen_ids.items():
            got = files.get(item_id, {})
            for lang in langs:
                if lang not in got and not (base / f"{item_id}.{lang}.md").exists():
                    problems.append(Problem(base / f"{item_id}.{lang}.md", "(file)",
                                            f"missing language {lang!r} of {kind} {item_id!r}; write it next to {first_path.name}"))
            if any(lang not in got for lang in langs):
                continue  # reported above (missing) or while reading (invalid)
            metas = {lang: meta_model.model_validate(got[lang][1].model_dump(include=set(meta_model.model_fields)))
                     for lang in langs}
            ref_lang = langs[0]
            for lang in langs[1:]:
                a, b = metas[ref_lang].model_dump(), metas[lang].model_dump()
                for key in a:
                    if a[key] != b[key]:
                        problems.append(Problem(got[lang][0], key,
                                                f"differs from the {ref_lang} file ({a[key]!r} there, {b[key]!r} here); "
                                                "language-neutral fields must be equal in every language"))
            texts = {lang: text_model.model_validate(got[lang][1].model_dump(include=set(text_model.model_fields)))
                     for lang in langs}
            pack.items[kind][item_id] = ITEM_CLASS[kind](
                item_kind=kind, meta=metas[ref_lang], texts=texts, pack=manifest.id,
                paths={lang: got[lang][0] for lang in langs})
    return pack, problems


def _read_item_file(path: Path, item_id: str, file_model: type[BaseModel], problems: list[Problem]) -> BaseModel | None:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, "(file)", f"cannot read: {exc}"))
        return None
    split = split_front_matter(raw)
    if split is None:
        problems.append(Problem(path, "(file)", "no front matter: start the file with a line '---', the YAML fields, and a line '---'"))
        return None
    try:
        front = yaml.load(split[0], Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        problems.append(Problem(path, "(front matter)", f"not valid YAML: {exc}".replace("\n", " ")))
        return None
    if not isinstance(front, dict):
        problems.append(Problem(path, "(front matter)", "must be a YAML mapping of fields"))
        return None
    if "body" in front:
        problems.append(Problem(path, "body", "not a front matter field; write the text below the closing '---'"))
        return None
    try:
        parsed = file_model.model_validate({**front, "body": split[1].strip()})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(path, exc))
        return None
    if parsed.id != item_id:  # type: ignore[attr-defined]
        problems.append(Problem(path, "id", f"{parsed.id!r} differs from the file name; ids are stable, rename neither lightly"))  # type: ignore[attr-defined]
        return None
    return parsed


def load_pack(pack_dir: str | Path) -> Pack:
    """Read a pack and refuse it when it has problems (they are all in the message)."""
    pack, problems = read_pack(pack_dir)
    if problems or pack is None:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ContentError(f"content pack {pack_dir} has {len(problems)} problem(s); "
                           f"run 'werkvloer content check {pack_dir}':\n{lines}")
    return pack


def pack_dirs(root: str | Path) -> list[Path]:
    """The pack folders directly under ``root`` (folders that hold pack.toml)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "pack.toml").is_file())


def load_library(dirs: Iterable[str | Path] | None = None) -> Library:
    """Load every pack under the given folders (default: the shipped packs).

    A pack in a later folder replaces a pack with the same id in an earlier
    one, so a hub can add or replace a pack without code changes."""
    by_id: dict[str, Pack] = {}
    for root in (dirs if dirs is not None else [SHIPPED_DIR]):
        for pack_dir in pack_dirs(root):
            pack = load_pack(pack_dir)
            by_id[pack.id] = pack
    return Library(by_id.values())


# --------------------------------------------------------------------- library

class Library:
    """The loaded packs, read-only. Every lookup raises ``UnknownContent``
    for an id that no loaded pack has."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs: dict[str, Pack] = {p.id: p for p in packs}
        self._items: dict[str, dict[str, Item]] = {k: {} for k in ITEM_CLASS}
        for pack in self.packs.values():
            for kind, by_id in pack.items.items():
                for item_id, item in by_id.items():
                    if item_id in self._items[kind]:
                        raise ContentError(f"{kind} {item_id!r} is in pack {item.pack!r} and in "
                                           f"{self._items[kind][item_id].pack!r}; ids must be unique over all packs")
                    self._items[kind][item_id] = item
        self._needed_by: dict[str, list[Step]] = {}
        for step in self._steps_sorted(self._items["step"].values()):
            for card_id in step.cards:
                self._needed_by.setdefault(card_id, []).append(step)  # type: ignore[arg-type]

    # --- packs
    def blueprints(self) -> list[PackManifest]:
        return [p.manifest for p in self.packs.values() if p.manifest.kind == "blueprint"]

    def scope(self, pack_id: str) -> list[str]:
        """The pack and every pack it requires, transitively, in load order."""
        if pack_id not in self.packs:
            raise UnknownContent(f"no pack {pack_id!r}; loaded: {sorted(self.packs)}")
        out: list[str] = []

        def visit(pid: str) -> None:
            if pid in out or pid not in self.packs:
                return
            out.append(pid)
            for req in self.packs[pid].manifest.requires:
                visit(req)
        visit(pack_id)
        return out

    # --- steps
    @staticmethod
    def _steps_sorted(steps: Iterable[Item]) -> list[Step]:
        fn_order = {f: i for i, f in enumerate(BUSINESS_FUNCTIONS)}
        return sorted(steps, key=lambda s: (fn_order[s.function], s.order, s.id))  # type: ignore[arg-type, return-value]

    def steps(self, *, function: str | None = None, blueprint: str | None = None) -> list[Step]:
        """Steps, ordered by business function then suggested order.

        ``blueprint`` limits them to one blueprint pack plus the packs it
        requires (the box's own steps live in the shared pack)."""
        if function is not None and function not in BUSINESS_FUNCTIONS:
            raise UnknownContent(f"no business function {function!r}; one of {', '.join(BUSINESS_FUNCTIONS)}")
        packs = set(self.scope(blueprint)) if blueprint else None
        return self._steps_sorted(
            s for s in self._items["step"].values()
            if (function is None or s.function == function) and (packs is None or s.pack in packs))

    def steps_by_function(self, *, blueprint: str | None = None) -> dict[str, list[Step]]:
        """Every business function (all eight, in programme order) -> its steps."""
        out: dict[str, list[Step]] = {f: [] for f in BUSINESS_FUNCTIONS}
        for step in self.steps(blueprint=blueprint):
            out[step.function].append(step)
        return out

    def step(self, step_id: str) -> Step:
        return self._get("step", step_id)  # type: ignore[return-value]

    def prerequisites(self, step_id: str) -> list[Step]:
        return [self.step(p) for p in self.step(step_id).prerequisites]

    def steps_needing(self, card_id: str) -> list[Step]:
        """Which steps need this skills card (the card's 'where you need it')."""
        self.card(card_id)
        return list(self._needed_by.get(card_id, []))

    # --- cards
    def card(self, card_id: str) -> Card:
        return self._get("card", card_id)  # type: ignore[return-value]

    def cards(self, *, role: str | None = None) -> list[Card]:
        cards = sorted(self._items["card"].values(), key=lambda c: c.id)
        return [c for c in cards if role is None or role in c.roles]  # type: ignore[misc]

    # --- role profiles
    def profiles(self) -> list[Profile]:
        return sorted(self._items["profile"].values(), key=lambda p: ROLES.index(p.role))  # type: ignore[arg-type, return-value]

    def profile(self, role: str) -> Profile:
        for p in self._items["profile"].values():
            if p.role == role:
                return p  # type: ignore[return-value]
        raise UnknownContent(f"no role profile for {role!r}; roles: {', '.join(ROLES)}")

    def steps_for_role(self, role: str, *, blueprint: str | None = None) -> list[Step]:
        """Steps that give this role new tasks."""
        return [s for s in self.steps(blueprint=blueprint) if role in s.roles]

    # --- workplace-innovation check
    def statements(self, *, domain: str | None = None) -> list[Statement]:
        items = sorted(self._items["statement"].values(), key=lambda s: (s.order, s.id))
        return [s for s in items if domain is None or s.domain == domain]  # type: ignore[misc]

    def statement(self, statement_id: str) -> Statement:
        return self._get("statement", statement_id)  # type: ignore[return-value]

    def advice(self, *, domain: str | None = None, band: str | None = None,
               score: float | None = None, blueprint: str | None = None) -> list[Advice]:
        """Advice for a domain and band (or the band of ``score``)."""
        if score is not None:
            band = band_for(score)
        packs = set(self.scope(blueprint)) if blueprint else None
        items = sorted(self._items["advice"].values(), key=lambda a: a.id)
        return [a for a in items  # type: ignore[misc]
                if (domain is None or a.domain == domain) and (band is None or a.band == band)
                and (packs is None or a.pack in packs)]

    # --- links
    def resolve(self, ref: str) -> Item:
        """``step:ID``, ``card:ID``, ``statement:ID``, ``advice:ID`` (or a bare id) -> the item."""
        if ":" in ref:
            kind, item_id = ref.split(":", 1)
            if kind not in self._items:
                raise UnknownContent(f"unknown link kind {kind!r} in {ref!r}; use step:, card:, statement:, advice: or profile:")
            return self._get(kind, item_id)
        hits = [by_id[ref] for by_id in self._items.values() if ref in by_id]
        if not hits:
            raise UnknownContent(f"no item {ref!r} in the loaded packs")
        return hits[0]

    def links(self, item: Item | str) -> list[Item]:
        """The items that ``item`` links to (front matter and Markdown body)."""
        if isinstance(item, str):
            item = self.resolve(item)
        return [self.resolve(ref) for ref in item.links()]

    def _get(self, kind: str, item_id: str) -> Item:
        try:
            return self._items[kind][item_id]
        except KeyError:
            raise UnknownContent(f"no {kind} {item_id!r} in the loaded packs ({', '.join(sorted(self.packs))})") from None

    def __contains__(self, ref: str) -> bool:
        try:
            self.resolve(ref)
        except UnknownContent:
            return False
        return True
