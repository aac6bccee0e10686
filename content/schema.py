"""Strict schemas of a content pack: manifest, blueprint step, skills card,
assessment statement and assessment advice.

Every item lives in one Markdown file per language: ``<folder>/<id>.<lang>.md``
with YAML front matter. The front matter holds two kinds of fields:

* language-neutral fields (``*Meta`` below): id, links, classes. They must be
  identical in every language file of the item; ``content.check`` says so when
  they differ.
* language fields (``*Text`` below): titles and the text people read.

The Markdown below the front matter becomes ``body`` of the text model and
may link to other items as ``[text](step:ID)`` or ``[text](card:ID)``.

Unknown keys are errors (``extra="forbid"``), as in the box config. Ids are
stable: the box stores progress by step id, and the hub compares results by
statement id, so an id is never reused for a different meaning.
Issue 6.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LANGUAGES: tuple[str, ...] = ("nl", "en")
Lang = Literal["nl", "en"]

ITEM_ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
PACK_ID_PATTERN = ITEM_ID_PATTERN

ItemId = Annotated[str, Field(pattern=ITEM_ID_PATTERN, min_length=2, max_length=64)]
StepId = Annotated[str, Field(pattern=ITEM_ID_PATTERN, min_length=2, max_length=64,
                              title="Step id, e.g. mb-prod-01")]
CardId = Annotated[str, Field(pattern=r"^card-[a-z0-9]+(-[a-z0-9]+)*$", max_length=64,
                              title="Skills card id, e.g. card-data-literacy")]
StatementId = Annotated[str, Field(pattern=r"^wi-[a-z0-9]+(-[a-z0-9]+)*$", max_length=64,
                                   title="Assessment statement id, e.g. wi-ks-01")]
AdviceId = Annotated[str, Field(pattern=r"^advice-[a-z0-9]+(-[a-z0-9]+)*$", max_length=64,
                                title="Advice id, e.g. advice-technology-low")]
ShortText = Annotated[str, Field(min_length=2, max_length=160)]
LongText = Annotated[str, Field(min_length=10, max_length=2000)]

# The eight business functions of the blueprint (programme, pillar 1).
BusinessFunction = Literal[
    "order-intake", "engineering", "planning", "production",
    "quality", "logistics", "maintenance", "management",
]
BUSINESS_FUNCTIONS: tuple[str, ...] = BusinessFunction.__args__  # type: ignore[attr-defined]
FUNCTION_NAMES: dict[str, dict[str, str]] = {
    "order-intake": {"nl": "Orderintake en offerte", "en": "Order intake and quotation"},
    "engineering": {"nl": "Engineering en werkvoorbereiding", "en": "Engineering and work preparation"},
    "planning": {"nl": "Planning", "en": "Planning"},
    "production": {"nl": "Productie", "en": "Production"},
    "quality": {"nl": "Kwaliteit", "en": "Quality"},
    "logistics": {"nl": "Logistiek en magazijn", "en": "Logistics and warehouse"},
    "maintenance": {"nl": "Onderhoud en after-sales", "en": "Maintenance and after-sales"},
    "management": {"nl": "Bedrijfsvoering", "en": "Business management"},
}

Role = Literal["operator", "setter", "maintenance", "planner", "engineer", "estimator", "warehouse",
               "welder-bender", "assembler", "production-manager", "owner"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
ROLE_NAMES: dict[str, dict[str, str]] = {
    "operator": {"nl": "Operator", "en": "Operator"},
    "setter": {"nl": "Insteller", "en": "Setter"},
    "maintenance": {"nl": "Onderhoudsmonteur", "en": "Maintenance engineer"},
    "planner": {"nl": "Werkvoorbereider / planner", "en": "Work planner"},
    "engineer": {"nl": "Engineer / tekenaar", "en": "Engineer / draughtsman"},
    "estimator": {"nl": "Calculator", "en": "Estimator"},
    "warehouse": {"nl": "Magazijnmedewerker", "en": "Warehouse worker"},
    "welder-bender": {"nl": "Lasser / kanter", "en": "Welder / press-brake operator"},
    "assembler": {"nl": "Monteur montage", "en": "Assembler"},
    "production-manager": {"nl": "Productieleider / leidinggevende", "en": "Production manager"},
    "owner": {"nl": "Eigenaar / directeur", "en": "Owner"},
}

# Where to get help, as the programme's brochure names them (issue 14, point 2).
Help = Literal["hub", "edih", "fieldlab", "fieldlab-edge-ai", "metaalunie", "fme", "smart-industry",
               "training-fund", "tno", "rom"]
HELP_NAMES: dict[str, dict[str, str]] = {
    "hub": {"nl": "de hub die de box uitleent", "en": "the hub that lends the box"},
    "edih": {"nl": "de EDIH in je regio", "en": "the EDIH in your region"},
    "fieldlab": {"nl": "een Smart Industry fieldlab", "en": "a Smart Industry fieldlab"},
    "fieldlab-edge-ai": {"nl": "het Fieldlab Edge AI for Smart Industry (Techport) met de Hogeschool van Amsterdam",
                         "en": "the Fieldlab Edge AI for Smart Industry (Techport) with the Amsterdam University of Applied Sciences"},
    "metaalunie": {"nl": "Koninklijke Metaalunie", "en": "Koninklijke Metaalunie"},
    "fme": {"nl": "FME", "en": "FME"},
    "smart-industry": {"nl": "Stichting Smart Industry (kennisplatform en bijeenkomsten)",
                       "en": "Stichting Smart Industry (knowledge platform and events)"},
    "training-fund": {"nl": "het opleidingsfonds van je branche", "en": "your sector's training fund"},
    "tno": {"nl": "TNO", "en": "TNO"},
    "rom": {"nl": "de regionale ontwikkelingsmaatschappij (ROM)", "en": "the regional development agency (ROM)"},
}

StepKind = Literal["quick-win", "strategic"]
KIND_NAMES: dict[str, dict[str, str]] = {
    "quick-win": {"nl": "Quick win", "en": "Quick win"},
    "strategic": {"nl": "Strategisch project", "en": "Strategic project"},
}

# Rough classes, on purpose: an honest range beats a false precise number.
Effort = Literal["hours", "days", "weeks", "months"]
EFFORT_NAMES: dict[str, dict[str, str]] = {
    "hours": {"nl": "uren (minder dan een dag eigen tijd)", "en": "hours (less than a day of own time)"},
    "days": {"nl": "dagen (1 tot 5 dagen eigen tijd)", "en": "days (1 to 5 days of own time)"},
    "weeks": {"nl": "weken (1 tot 4 weken, naast het gewone werk)", "en": "weeks (1 to 4 weeks, next to normal work)"},
    "months": {"nl": "maanden (een project met een trekker)", "en": "months (a project with an owner)"},
}
Cost = Literal["none", "low", "medium", "high"]
COST_NAMES: dict[str, dict[str, str]] = {
    "none": {"nl": "geen (alleen eigen uren)", "en": "none (own hours only)"},
    "low": {"nl": "laag (tot ca. EUR 2.500)", "en": "low (up to about EUR 2,500)"},
    "medium": {"nl": "middel (ca. EUR 2.500 tot 25.000)", "en": "medium (about EUR 2,500 to 25,000)"},
    "high": {"nl": "hoog (meer dan ca. EUR 25.000)", "en": "high (more than about EUR 25,000)"},
}

# The four domains of the workplace-innovation toolkit (programme, pillar 4).
Domain = Literal["knowledge-skills", "work-organisation", "culture-motivation", "technology"]
DOMAINS: tuple[str, ...] = Domain.__args__  # type: ignore[attr-defined]
DOMAIN_NAMES: dict[str, dict[str, str]] = {
    "knowledge-skills": {"nl": "Kennis en vaardigheden", "en": "Knowledge and skills"},
    "work-organisation": {"nl": "Werkorganisatie", "en": "Work organisation"},
    "culture-motivation": {"nl": "Cultuur en motivatie", "en": "Culture and motivation"},
    "technology": {"nl": "Technologie", "en": "Technology"},
}
Band = Literal["low", "middle", "high"]
BANDS: tuple[str, ...] = Band.__args__  # type: ignore[attr-defined]
SCALE_MIN, SCALE_MAX = 1, 5

# Facts the box itself can report (see content.next_step). A step that names
# one is a step of the box's own track; its progress can be read from data.
BoxFact = Literal[
    "sources_configured", "downtime_reasons_entered", "baseline_marked",
    "guard_shadow", "alerts_labelled", "guard_armed", "model_retrained",
]


# A pack written for the box is a working version; the programme's official
# blueprint packs ("Digitaliseren doe je zo") replace them when they appear
# (machine building 2027, sheet metal 2028). Issue 14, point 1.
Edition = Literal["working-version", "official"]
EDITION_NAMES: dict[str, dict[str, str]] = {
    "working-version": {"nl": "werkversie", "en": "working version"},
    "official": {"nl": "officiële versie", "en": "official version"},
}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --------------------------------------------------------------- pack manifest

class PackManifest(StrictModel):
    """``pack.toml`` at the root of a pack."""

    id: str = Field(..., title="Pack id", pattern=PACK_ID_PATTERN, max_length=64)
    version: str = Field(..., title="Pack version (semver)", pattern=r"^\d+\.\d+\.\d+$")
    kind: Literal["blueprint", "shared"] = Field(
        ..., title="Pack kind", description="blueprint = steps for one sector; shared = cards, check, box steps")
    languages: list[Lang] = Field(..., title="Languages every item is written in", min_length=1)
    author: str = Field(..., title="Author", min_length=2, max_length=200)
    license: str = Field("EUPL-1.2", title="Licence of the text", max_length=40)
    title: dict[Lang, ShortText] = Field(..., title="Title per language")
    description: dict[Lang, LongText] = Field(default_factory=dict, title="Description per language")
    requires: list[str] = Field(default_factory=list, title="Ids of packs this pack links to")
    retired: list[str] = Field(default_factory=list, title="Ids this pack no longer uses and must never reuse")
    edition: Edition = Field(
        ..., title="Edition",
        description="working-version = written for the box until the programme's official pack exists (version 0.x); "
                    "official = the programme's own blueprint pack (version 1.0 or later)")

    @model_validator(mode="after")
    def _unique_languages(self) -> PackManifest:
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages: each language once")
        major = int(self.version.split(".", 1)[0])
        if self.edition == "working-version" and major != 0:
            raise ValueError(f"version {self.version}: a working version is numbered 0.x; 1.0 is for the official pack")
        if self.edition == "official" and major == 0:
            raise ValueError(f"version {self.version}: an official pack is numbered 1.0 or later")
        return self


# ---------------------------------------------------------------------- steps

class Kpi(StrictModel):
    id: str = Field(..., title="KPI id", pattern=r"^[a-z][a-z0-9_]{1,40}$")
    measured_by_box: bool = Field(..., title="The box measures this KPI itself")


class Assumption(StrictModel):
    """A step's own assumption in its benefit model: a range and where it comes from."""

    low: float = Field(..., title="Low end of the range")
    high: float = Field(..., title="High end of the range")
    basis: Literal["rule-of-thumb", "brochure"] = Field(..., title="rule-of-thumb = experience; brochure = the programme's brochure")
    unit: str = Field("", max_length=12)
    nl: ShortText = Field(..., title="What it is, in Dutch")
    en: ShortText = Field(..., title="What it is, in English")

    @model_validator(mode="after")
    def _ordered(self) -> Assumption:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


class BenefitModel(StrictModel):
    """What the step yields in euros a year; see content.benefit for the inputs."""

    formula: str = Field(..., title="Expression over input names, EUR per year", min_length=1, max_length=300)
    assume: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")], Assumption] = Field(
        default_factory=dict, title="The step's own assumptions")


class StepMeta(StrictModel):
    id: StepId
    order: int = Field(..., title="Suggested order within the pack", ge=1, le=999)
    function: BusinessFunction = Field(..., title="Business function")
    kind: StepKind = Field(..., title="Quick win or strategic project")
    effort: Effort = Field(..., title="Rough effort class")
    cost: Cost = Field(..., title="Rough cost class")
    kpi: Kpi = Field(..., title="The KPI this step should move")
    prerequisites: list[StepId] = Field(default_factory=list, title="Steps that come first")
    cards: list[CardId] = Field(..., title="Skills cards this step needs", min_length=1)
    box_fact: BoxFact | None = Field(None, title="Box fact that shows this step is done")
    benefit: BenefitModel = Field(..., title="What the step yields (EUR per year, as a range)")
    help: list[Help] = Field(..., title="Where to get help with this step", min_length=1, max_length=4)
    roles: list[Role] = Field(..., title="Roles that get new tasks in this step", min_length=1)


class StepText(StrictModel):
    title: ShortText
    summary: Annotated[str, Field(min_length=10, max_length=300)]
    why: LongText = Field(..., title="Why it matters")
    actions: list[Annotated[str, Field(min_length=5, max_length=400)]] = Field(
        ..., title="What to do", min_length=2, max_length=12)
    pitfalls: list[Annotated[str, Field(min_length=5, max_length=400)]] = Field(
        ..., title="Pitfalls", min_length=1, max_length=8)
    kpi_name: ShortText = Field(..., title="Name of the KPI")
    progress: LongText = Field(..., title="How the box (or you) sees progress")
    new_tasks: list[Annotated[str, Field(min_length=5, max_length=300)]] = Field(
        ..., title="New tasks this step creates, and for whom", min_length=1, max_length=6)
    body: str = Field("", title="Markdown below the front matter")


class StepFile(StepMeta, StepText):
    """The front matter (plus body) of one language file of a step."""


# ---------------------------------------------------------------- skills cards

class Level(StrictModel):
    name: ShortText
    can: Annotated[str, Field(min_length=10, max_length=400)] = Field(..., title="What you can do at this level")


class CardMeta(StrictModel):
    id: CardId
    roles: list[Role] = Field(..., title="Roles this card is for", min_length=1)
    related: list[CardId] = Field(default_factory=list, title="Related cards")


class CardText(StrictModel):
    title: ShortText
    what: LongText = Field(..., title="What the skill is")
    levels: list[Level] = Field(..., title="Development path, lowest first", min_length=3, max_length=5)
    practise: list[Annotated[str, Field(min_length=5, max_length=400)]] = Field(
        ..., title="How to practise it at work", min_length=2, max_length=10)
    body: str = Field("", title="Markdown below the front matter")


class CardFile(CardMeta, CardText):
    """The front matter (plus body) of one language file of a skills card."""


# --------------------------------------------------------------- role profiles

class CardLevel(StrictModel):
    card: CardId
    level: int = Field(..., title="Target level on the card (1 = its first level)", ge=1, le=5)


class ProfileMeta(StrictModel):
    id: Annotated[str, Field(pattern=r"^profile-[a-z0-9]+(-[a-z0-9]+)*$", max_length=64, title="e.g. profile-operator")]
    role: Role
    cards: list[CardLevel] = Field(..., title="Skills cards and target level for this role", min_length=2)


class ProfileText(StrictModel):
    title: ShortText
    summary: LongText = Field(..., title="What digitalisation asks of this role")
    body: str = Field("", title="Markdown below the front matter")


class ProfileFile(ProfileMeta, ProfileText):
    """The front matter (plus body) of one language file of a role profile."""


# --------------------------------------------------- workplace-innovation check

class StatementMeta(StrictModel):
    id: StatementId
    domain: Domain = Field(..., title="Domain of the workplace-innovation check")
    order: int = Field(..., title="Order in the questionnaire", ge=1, le=999)
    reverse: bool = Field(False, title="Agreeing is the weak answer (score is mirrored)")


class StatementText(StrictModel):
    statement: Annotated[str, Field(min_length=10, max_length=300)]
    hint: Annotated[str, Field(min_length=10, max_length=400)] | None = Field(
        None, title="What agreeing looks like on the shop floor")
    body: str = Field("", title="Markdown below the front matter")


class StatementFile(StatementMeta, StatementText):
    """The front matter (plus body) of one language file of a statement."""


class AdviceMeta(StrictModel):
    id: AdviceId
    domain: Domain
    band: Band = Field(..., title="Score band this advice is for")
    steps: list[StepId] = Field(default_factory=list, title="Steps that help")
    cards: list[CardId] = Field(default_factory=list, title="Skills cards that help")


class AdviceText(StrictModel):
    title: ShortText
    advice: LongText
    body: str = Field("", title="Markdown below the front matter")


class AdviceFile(AdviceMeta, AdviceText):
    """The front matter (plus body) of one language file of a piece of advice."""


# Folder in a pack -> (file model, meta model, text model)
KINDS: dict[str, tuple[type[StrictModel], type[StrictModel], type[StrictModel]]] = {
    "steps": (StepFile, StepMeta, StepText),
    "cards": (CardFile, CardMeta, CardText),
    "assessment": (StatementFile, StatementMeta, StatementText),
    "advice": (AdviceFile, AdviceMeta, AdviceText),
    "profiles": (ProfileFile, ProfileMeta, ProfileText),
}


def band_for(score: float) -> str:
    """Score band of a domain score on the 1-5 scale."""
    if score < 2.5:
        return "low"
    if score < 3.5:
        return "middle"
    return "high"
