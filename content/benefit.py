"""What a step yields: a benefit model per step, computed as a range (issue 14, point 3).

A step's front matter carries ``benefit.formula``, an arithmetic expression
over named inputs, in euros per year, and optionally ``benefit.assume``:
step-specific assumptions with a low-high range and a basis. Named inputs
come from three places:

* ``box``: measured by the box itself over the last weeks (``BOX_INPUTS``);
  until it has data, a rule-of-thumb range stands in and is marked so;
* ``company``: the company's own figures (``COMPANY_INPUTS``); two of them
  (machine-hour rate, production hours per year) are stored on the box with
  the KPI page's ROI inputs, the others start as a marked rule of thumb and
  can be filled in on the step page;
* ``assume``: per step, with ``basis`` ``rule-of-thumb`` or ``brochure``
  (a figure from the programme's own brochure).

The result is the lowest and highest value over every combination of the
ranges: an honest range, never one precise number. Pure functions; the UI
supplies the box's and the company's numbers.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from content.loader import ContentError

Basis = Literal["box", "company", "rule-of-thumb", "brochure"]
BASIS_NAMES: dict[str, dict[str, str]] = {
    "box": {"nl": "gemeten door de box", "en": "measured by the box"},
    "company": {"nl": "eigen cijfer", "en": "your own figure"},
    "rule-of-thumb": {"nl": "vuistregel", "en": "rule of thumb"},
    "brochure": {"nl": "uit de brochure van het programma", "en": "from the programme's brochure"},
}


@dataclass(frozen=True)
class InputDef:
    name: str
    nl: str
    en: str
    unit: str
    low: float  # rule-of-thumb range until the box or the company gives a figure
    high: float

    def label(self, lang: str) -> str:
        return self.nl if lang == "nl" else self.en


def _defs(rows: list[tuple[str, str, str, str, float, float]]) -> dict[str, InputDef]:
    return {r[0]: InputDef(*r) for r in rows}


# Measured by the box (weekly figures over the last four weeks, see local_ui's step page).
BOX_INPUTS = _defs([
    ("planned_h_week", "geplande productie-uren per week", "planned production hours per week", "h", 30, 80),
    ("setup_h_week", "omsteltijd per week", "setup time per week", "h", 3, 10),
    ("down_h_week", "ongeplande stilstand per week", "unplanned downtime per week", "h", 3, 12),
    ("short_stop_h_week", "korte stilstanden per week", "short stops per week", "h", 0.5, 3),
    ("scrap_week", "afkeur per week", "scrap per week", "parts", 10, 80),
    ("good_week", "goede stuks per week", "good parts per week", "parts", 500, 5000),
    ("energy_kwh_week", "energie per week", "energy per week", "kWh", 300, 1500),
    ("failures_week", "storingen per week", "failures per week", "", 1, 5),
    ("unattended_h_week", "productie-uren buiten de diensten per week", "production hours outside shifts per week", "h", 0, 10),
])

# The company's own figures. The first two come from the KPI page's ROI inputs when set.
COMPANY_INPUTS = _defs([
    ("machine_hour_rate", "machine-uurtarief", "machine-hour rate", "EUR/h", 60, 120),
    ("hours_year", "productie-uren per jaar", "production hours per year", "h", 1600, 3600),
    ("labour_rate", "loonkosten per uur", "labour cost per hour", "EUR/h", 40, 55),
    ("weeks_year", "productieweken per jaar", "production weeks per year", "", 44, 47),
    ("part_cost", "kostprijs van een afgekeurd stuk", "cost of a scrapped part", "EUR", 10, 60),
    ("energy_price", "energieprijs", "energy price", "EUR/kWh", 0.15, 0.30),
    ("orders_year", "orders per jaar", "orders per year", "", 300, 1500),
    ("quotes_year", "offertes per jaar", "quotes per year", "", 300, 1500),
    ("staff", "medewerkers op de vloer", "people on the floor", "", 15, 40),
    ("material_eur_year", "materiaalinkoop per jaar", "material bought per year", "EUR", 400_000, 2_000_000),
    ("revenue_year", "omzet per jaar", "revenue per year", "EUR", 3_000_000, 8_000_000),
    ("margin", "brutomarge op extra omzet", "gross margin on extra revenue", "", 0.15, 0.30),
])

KNOWN = {**BOX_INPUTS, **COMPANY_INPUTS}
SOURCE = {**{k: "box" for k in BOX_INPUTS}, **{k: "company" for k in COMPANY_INPUTS}}

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCS = {"min": min, "max": max}


def names_in(formula: str) -> list[str]:
    """The input names a formula uses; ``ContentError`` if it is not plain arithmetic."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise ContentError(f"formula {formula!r} is not valid: {exc.msg}") from None
    names: list[str] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            walk(node.body)
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            walk(node.left)
            walk(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            walk(node.operand)
        elif isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            pass
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
              and not node.keywords and node.args):
            for a in node.args:
                walk(a)
        else:
            raise ContentError(f"formula {formula!r}: only numbers, input names, + - * /, brackets, min() and max()")
    walk(tree)
    return list(dict.fromkeys(names))


def evaluate(formula: str, values: Mapping[str, float]) -> float:
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp):
            right = ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                return 0.0
            return float(_OPS[type(node.op)](ev(node.left), right))
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # names_in() allowed only numbers
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.Call):
            return float(_FUNCS[node.func.id](*(ev(a) for a in node.args)))  # type: ignore[attr-defined]
        raise ContentError(f"formula {formula!r} cannot be evaluated")
    names_in(formula)
    return ev(ast.parse(formula, mode="eval"))


def model_problems(formula: str, assume: Mapping[str, object]) -> list[tuple[str, str]]:
    """(key, message) for everything wrong with one step's benefit model."""
    try:
        used = names_in(formula)
    except ContentError as exc:
        return [("benefit.formula", str(exc))]
    out = []
    for name in used:
        if name not in KNOWN and name not in assume:
            out.append(("benefit.formula", f"unknown input {name!r}: use one of {', '.join(sorted(KNOWN))} "
                                           "or define it under benefit.assume"))
    for name in assume:
        if name in KNOWN:
            out.append((f"benefit.assume.{name}", f"{name!r} is a box or company input; give the assumption its own name"))
        elif name not in used:
            out.append((f"benefit.assume.{name}", "not used in the formula; remove it"))
    if not out:
        try:
            low, high = _raw_range(inputs_used(formula, assume, {}, {}), formula)
        except (ContentError, ArithmeticError) as exc:
            return [("benefit.formula", f"cannot be computed with the default figures: {exc}")]
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0:
            out.append(("benefit.formula", f"gives {low:.0f} to {high:.0f} EUR a year with the default figures; "
                                           "a benefit model must come out at zero or more"))
    return out


@dataclass(frozen=True)
class InputValue:
    name: str
    low: float
    high: float
    basis: str  # box, company, rule-of-thumb, brochure
    unit: str
    label: dict[str, str]


def inputs_used(formula: str, assume: Mapping[str, object], box: Mapping[str, float],
                company: Mapping[str, float]) -> list[InputValue]:
    """Every input of the formula with the value(s) used and where they come from."""
    out = []
    for name in names_in(formula):
        if name in assume:
            a = assume[name]
            out.append(InputValue(name, a.low, a.high, a.basis, a.unit,  # type: ignore[attr-defined]
                                  {"nl": a.nl, "en": a.en}))  # type: ignore[attr-defined]
            continue
        d = KNOWN[name]
        given = box.get(name) if SOURCE[name] == "box" else company.get(name)
        if given is not None:
            out.append(InputValue(name, float(given), float(given), SOURCE[name], d.unit, {"nl": d.nl, "en": d.en}))
        else:
            out.append(InputValue(name, d.low, d.high, "rule-of-thumb", d.unit, {"nl": d.nl, "en": d.en}))
    return out


def benefit_range(formula: str, assume: Mapping[str, object], box: Mapping[str, float],
                  company: Mapping[str, float]) -> tuple[float, float, list[InputValue]]:
    """(low, high, inputs) in EUR per year: min and max over every corner of the input ranges."""
    inputs = inputs_used(formula, assume, box, company)
    low, high = _raw_range(inputs, formula)
    return max(0.0, low), max(0.0, high), inputs


def _raw_range(inputs: list[InputValue], formula: str) -> tuple[float, float]:
    corners = itertools.product(*[(i.low, i.high) if i.low != i.high else (i.low,) for i in inputs])
    results = [evaluate(formula, dict(zip([i.name for i in inputs], c, strict=True))) for c in corners]
    return min(results), max(results)
