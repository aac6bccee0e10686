"""``check_pack(path) -> list[Problem]``: is this pack fit to put on a box?

A pack is checked in the library it would be loaded into: the packs next to
it (same parent folder) and the shipped packs, where a pack next to it
replaces a shipped pack with the same id. Only problems in the checked pack's
own files are reported.

What is checked (issue 6):
* every file against the strict schema (``content.schema``), file names, ids;
* both languages present for every item, and language-neutral fields equal;
* required packs exist; every link resolves within the pack and the packs it
  requires (prerequisites, cards, related cards, advice links, and
  ``[text](step:ID)`` links in Markdown bodies); ids unique over that scope;
* no orphan skills: every card is needed by at least one step (of this pack
  or of a pack that requires it);
* prerequisites form no cycle;
* a pack with assessment statements covers all four domains and has advice
  for every domain and band.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from content.benefit import model_problems
from content.glossary import read_glossary, vocabulary_problems
from content.loader import LINK_RE, SHIPPED_DIR, Item, Pack, Problem, pack_dirs, read_pack
from content.schema import BANDS, DOMAINS, ROLES

__all__ = ["Problem", "check_pack", "check_packs"]


def _library_context(pack: Pack, library_dirs: list[Path]) -> dict[str, Pack]:
    """Pack id -> pack, as the box would load them, with ``pack`` itself winning."""
    context: dict[str, Pack] = {}
    for root in library_dirs:
        for d in pack_dirs(root):
            if d.resolve() == pack.path:
                continue
            other, _ = read_pack(d)
            if other is not None and other.id not in context:
                context[other.id] = other
    context[pack.id] = pack
    return context


def _scope(pack_id: str, context: dict[str, Pack]) -> list[str]:
    out: list[str] = []
    stack = [pack_id]
    while stack:
        pid = stack.pop()
        if pid in out or pid not in context:
            continue
        out.append(pid)
        stack.extend(context[pid].manifest.requires)
    return out


def check_pack(path: str | Path, *, library_dirs: list[str | Path] | None = None) -> list[Problem]:
    """Every problem of the pack in ``path``; an empty list means it is fine."""
    pack, problems = read_pack(path)
    if pack is None:
        return problems
    dirs = [Path(d).resolve() for d in (library_dirs if library_dirs is not None else [pack.path.parent, SHIPPED_DIR])]
    context = _library_context(pack, list(dict.fromkeys(dirs)))
    manifest_path = pack.path / "pack.toml"

    for i, req in enumerate(pack.manifest.requires):
        if req == pack.id:
            problems.append(Problem(manifest_path, f"requires.{i}", "a pack cannot require itself"))
        elif req not in context:
            problems.append(Problem(manifest_path, f"requires.{i}",
                                    f"no pack {req!r} next to this pack or among the shipped packs"))

    scope = _scope(pack.id, context)
    # kind -> id -> item, over the pack and what it requires
    known: dict[str, dict[str, Item]] = {}
    for pid in scope:  # the checked pack comes first
        for item in context[pid].all_items():
            by_id = known.setdefault(item.item_kind, {})
            first = by_id.get(item.id)
            if first is None:
                by_id[item.id] = item
            elif pack.id in (first.pack, item.pack) and first is not item:
                problems.append(Problem(_path_of(first), "id",
                                        f"{item.item_kind} {item.id!r} is also in pack {item.pack!r}; ids must be unique"))

    problems += _dangling_links(pack, known)
    problems += _orphan_cards(pack, context)
    problems += _prerequisite_cycles(pack, known)
    problems += _assessment_complete(pack, known)
    problems += [Problem(_path_of(item), "id", f"{item.id!r} is a retired id of this pack (pack.toml: retired); "
                                               "ids are never reused, choose a new one")
                 for item in pack.all_items() if item.id in pack.manifest.retired]
    problems += _benefit_models(pack)
    problems += _profiles(pack, known)
    glossary, _ = read_glossary()  # the glossary's own problems are reported once, by check_packs' caller
    if glossary is not None:
        problems += vocabulary_problems(pack, glossary)
    return problems


def _path_of(item: Item) -> Path:
    return next(iter(item.paths.values()))


def _dangling_links(pack: Pack, known: dict[str, dict[str, Item]]) -> list[Problem]:
    problems = []
    for item in pack.all_items():
        for field in ("prerequisites", "cards", "related", "steps"):
            targets = getattr(item.meta, field, None)
            if targets is None:
                continue
            kind = "card" if field in ("cards", "related") else "step"
            for i, target in enumerate(getattr(t, "card", t) for t in targets):
                if field == "prerequisites" and target == item.id:
                    problems.append(Problem(_path_of(item), f"{field}.{i}", "a step cannot be its own prerequisite"))
                elif target not in known.get(kind, {}):
                    problems.append(Problem(_path_of(item), f"{field}.{i}",
                                            f"links to {kind} {target!r}, which is not in this pack or a pack it requires"))
        for lang, text in item.texts.items():
            for kind, target in LINK_RE.findall(getattr(text, "body", "")):
                if target not in known.get(kind, {}):
                    problems.append(Problem(item.paths[lang], "body",
                                            f"link {kind}:{target} does not resolve in this pack or a pack it requires"))
    return problems


def _orphan_cards(pack: Pack, context: dict[str, Pack]) -> list[Problem]:
    # A card is needed when a step links to it, in this pack or in any pack
    # whose scope includes this pack (a blueprint that requires the shared pack).
    needed: set[str] = set()
    for pid, other in context.items():
        if pack.id in _scope(pid, context):
            for step in other.items["step"].values():
                needed.update(step.cards)
    return [Problem(_path_of(card), "id",
                    f"orphan skills card: no step needs {card.id!r}; link it from a step's 'cards' or remove it")
            for card in pack.items["card"].values() if card.id not in needed]


def _prerequisite_cycles(pack: Pack, known: dict[str, dict[str, Item]]) -> list[Problem]:
    steps = known.get("step", {})
    problems = []
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(step_id: str, trail: list[str]) -> None:
        state[step_id] = 1
        trail.append(step_id)
        for nxt in steps[step_id].prerequisites:
            if nxt not in steps or nxt == step_id:
                continue  # reported as a dangling link / self link
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):]
                key = frozenset(cycle)
                owner = next((steps[s] for s in cycle if steps[s].pack == pack.id), None)
                if key not in reported and owner is not None:
                    reported.add(key)
                    problems.append(Problem(_path_of(owner), "prerequisites",
                                            "prerequisite cycle: " + " -> ".join([*cycle, nxt])
                                            + "; one of these steps must not wait for the other"))
            elif state.get(nxt) is None:
                visit(nxt, trail)
        trail.pop()
        state[step_id] = 2

    for step_id in sorted(steps):
        if state.get(step_id) is None:
            visit(step_id, [])
    return problems


def _assessment_complete(pack: Pack, known: dict[str, dict[str, Item]]) -> list[Problem]:
    statements = pack.items["statement"]
    if not statements:
        return []
    problems = []
    manifest_path = pack.path / "pack.toml"
    for domain in DOMAINS:
        if not any(s.domain == domain for s in statements.values()):
            problems.append(Problem(pack.path / "assessment", domain,
                                    "no statement for this domain; the check scores all four domains"))
        for band in BANDS:
            if not any(a.domain == domain and a.band == band for a in known.get("advice", {}).values()):
                problems.append(Problem(manifest_path.parent / "advice", f"{domain}.{band}",
                                        "no advice for this domain and band; write one so every result has advice"))
    return problems


def check_packs(paths: Sequence[str | Path] | None = None) -> dict[Path, list[Problem]]:
    """Check several packs (default: every shipped pack)."""
    dirs = [Path(p) for p in paths] if paths else pack_dirs(SHIPPED_DIR)
    return {d: check_pack(d) for d in dirs}


def _benefit_models(pack: Pack) -> list[Problem]:
    """Every step's benefit formula parses, uses known inputs and comes out at zero or more."""
    problems = []
    for step in pack.items["step"].values():
        for key, message in model_problems(step.benefit.formula, step.benefit.assume):
            problems.append(Problem(_path_of(step), key, message))
    return problems


def _profiles(pack: Pack, known: dict[str, dict[str, Item]]) -> list[Problem]:
    """A pack with role profiles has one per role; each target level exists on its card."""
    profiles = pack.items["profile"]
    if not profiles:
        return []
    problems = []
    by_role: dict[str, list[str]] = {}
    for prof in profiles.values():
        by_role.setdefault(prof.role, []).append(prof.id)
        if prof.id != f"profile-{prof.role}":
            problems.append(Problem(_path_of(prof), "id", f"name the profile of role {prof.role!r} 'profile-{prof.role}'"))
        for i, cl in enumerate(prof.cards):
            card = known.get("card", {}).get(cl.card)
            if card is None:
                continue  # reported as a dangling link
            n = min(len(t.levels) for t in card.texts.values())  # type: ignore[attr-defined]
            if cl.level > n:
                problems.append(Problem(_path_of(prof), f"cards.{i}.level",
                                        f"{cl.card} has {n} levels; choose a target level from 1 to {n}"))
        if len({cl.card for cl in prof.cards}) != len(prof.cards):
            problems.append(Problem(_path_of(prof), "cards", "each card once per profile"))
    for role in ROLES:
        if role not in by_role:
            problems.append(Problem(pack.path / "profiles", role, f"no profile for role {role!r}; write profile-{role}"))
        elif len(by_role[role]) > 1:
            problems.append(Problem(pack.path / "profiles", role, f"role {role!r} has {len(by_role[role])} profiles; keep one"))
    return problems
