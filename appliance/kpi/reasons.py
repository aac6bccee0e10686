"""The two-level downtime reason tree (Dutch and English labels).

The default fits metalworking and machine building; ``machine.reasons`` in
the config replaces it completely. A reason is addressed by its full code
``group.child`` (or ``group`` for a group without children). ``planned``
reasons move a stop's time to planned downtime (out of planned busy time);
reasons in a ``setup`` group move it to setup time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import MachineConfig, Reason, ReasonGroup


def _g(code: str, nl: str, en: str, children: list[tuple[str, str, str]], *,
       planned: bool = False, setup: bool = False) -> ReasonGroup:
    return ReasonGroup(code=code, nl=nl, en=en, planned=planned, setup=setup,
                       children=[Reason(code=c, nl=n, en=e, planned=None) for c, n, e in children])


DEFAULT_REASONS: list[ReasonGroup] = [
    _g("setup", "Omstellen / instellen", "Setup / changeover", [
        ("changeover", "Omstellen naar ander product", "Changeover to another product"),
        ("tool_change", "Gereedschap wisselen", "Tool change"),
        ("first_off", "Eerste stuk meten / vrijgeven", "First-off inspection"),
        ("programming", "Programmeren / inleren", "Programming / teach-in"),
    ], setup=True),
    _g("material", "Wachten op materiaal", "Waiting for material", [
        ("not_available", "Materiaal niet op voorraad", "Material not available"),
        ("transport", "Intern transport", "Internal transport"),
        ("wrong_material", "Verkeerd of afgekeurd materiaal", "Wrong or rejected material"),
        ("searching", "Zoeken (gereedschap, onderdelen)", "Searching (tools, parts)"),
    ]),
    # Named by the blueprint steps (issue 14): a laser or press brake waiting for its program.
    _g("information", "Wachten op informatie", "Waiting for information", [
        ("program", "Wachten op programma", "Waiting for program"),
        ("drawing", "Wachten op tekening of orderinformatie", "Waiting for drawing or order information"),
    ]),
    _g("operator", "Wachten op operator", "Waiting for operator", [
        ("not_available", "Geen operator beschikbaar", "No operator available"),
        ("other_machine", "Operator bij andere machine", "Operator at another machine"),
    ]),
    _g("breakdown", "Storing", "Breakdown", [
        ("mechanical", "Mechanisch", "Mechanical"),
        ("electrical", "Elektrisch", "Electrical"),
        ("hydraulic", "Hydraulisch", "Hydraulic"),
        ("pneumatic", "Pneumatisch", "Pneumatic"),
        ("control", "Besturing / CNC / software", "Control / CNC / software"),
        ("tool_breakage", "Gereedschapsbreuk", "Tool breakage"),
    ]),
    _g("maintenance", "Onderhoud (gepland)", "Maintenance (planned)", [
        ("preventive", "Preventief onderhoud", "Preventive maintenance"),
        ("cleaning", "Schoonmaken", "Cleaning"),
        ("lubrication", "Smeren / vloeistoffen bijvullen", "Lubrication / fluids"),
    ], planned=True),
    _g("quality", "Kwaliteitsprobleem", "Quality problem", [
        ("measuring", "Meten / controle", "Measuring / inspection"),
        ("adjusting", "Bijstellen", "Adjusting"),
        ("rework", "Nabewerken", "Rework"),
    ]),
    _g("break", "Pauze", "Break", [], planned=True),
    _g("meeting", "Overleg / training", "Meeting / training", [
        ("meeting", "Werkoverleg", "Team meeting"),
        ("training", "Training / opleiding", "Training"),
    ], planned=True),
    _g("no_orders", "Geen orders", "No orders", [], planned=True),
    _g("other", "Overig", "Other", [
        ("unknown", "Onbekend", "Unknown"),
        ("other", "Anders (zie opmerking)", "Other (see comment)"),
    ]),
]


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    code: str  # "group.child" or "group"
    group: str
    nl: str
    en: str
    group_nl: str
    group_en: str
    planned: bool
    setup: bool

    def label(self, lang: str = "nl") -> str:
        g, c = (self.group_nl, self.nl) if lang == "nl" else (self.group_en, self.en)
        return g if g == c else f"{g} / {c}"


class ReasonTree:
    def __init__(self, groups: list[ReasonGroup] | None = None) -> None:
        self.groups = list(groups) if groups else list(DEFAULT_REASONS)
        self._by_code: dict[str, ReasonInfo] = {}
        for g in self.groups:
            if not g.children:
                self._by_code[g.code] = ReasonInfo(g.code, g.code, g.nl, g.en, g.nl, g.en, g.planned, g.setup)
            for c in g.children:
                planned = g.planned if c.planned is None else c.planned
                self._by_code[f"{g.code}.{c.code}"] = ReasonInfo(
                    f"{g.code}.{c.code}", g.code, c.nl, c.en, g.nl, g.en, planned, g.setup)

    @classmethod
    def from_config(cls, machine: MachineConfig) -> ReasonTree:
        return cls(machine.reasons)

    def get(self, code: str) -> ReasonInfo:
        try:
            return self._by_code[code]
        except KeyError:
            raise ValueError(f"unknown downtime reason {code!r}; choose one of: {', '.join(self._by_code)}") from None

    def find(self, code: str | None) -> ReasonInfo | None:
        return self._by_code.get(code) if code else None

    def codes(self) -> list[str]:
        return list(self._by_code)

    def as_dicts(self) -> list[dict]:
        """The tree for the UI: groups with children, labels in both languages."""
        out = []
        for g in self.groups:
            kids = [{"code": f"{g.code}.{c.code}", "nl": c.nl, "en": c.en,
                     "planned": self._by_code[f"{g.code}.{c.code}"].planned} for c in g.children]
            out.append({"code": g.code, "nl": g.nl, "en": g.en, "planned": g.planned, "setup": g.setup,
                        "children": kids})
        return out
