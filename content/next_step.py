"""The "next step" suggestion: which blueprint step to do now, and why.

A pure function: the UI gathers a few facts from the box and the stored
progress and calls ``suggest_next_step``; nothing here reads the database or
the clock, so every case is a plain test.

Facts the box can give (all optional; a missing fact is simply not used):

============================  ======  ==============================================
fact                          type    meaning
============================  ======  ==============================================
sources_configured            bool    at least one machine delivers data
data_days                     int     days with machine data
downtime_reasons_entered      int     downtime reasons entered so far
unexplained_downtime_share    float   0-1, share of stop time without a reason (last week)
baseline_marked               bool    a baseline period is marked
guard_mode                    str     "off", "shadow" or "armed"
shadow_days                   int     days the guard has run in shadow mode
alerts_total                  int     alerts raised so far
alerts_labelled               int     alerts labelled true/false alarm
false_alarm_share             float   0-1, false alarms among labelled alerts
model_retrained               bool    a model was retrained on this company's data
check_taken                   bool    the workplace-innovation check was taken
============================  ======  ==============================================

Order: first the box's own track (the data says what is missing), then a
step someone already started, then the first open step of the blueprint
whose prerequisites are done, quick wins first, preferring steps the advice
for the weakest domain of the check points to. Issue 6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from content.schema import DOMAIN_NAMES, DOMAINS, band_for

# Thresholds of the box track; honest minimums, not magic numbers: five
# working days show one normal week, twenty labels show whether the alerts
# mean something, ten shadow days include a few changeovers.
BASELINE_MIN_DAYS = 5
LABELS_BEFORE_ARMING = 20
SHADOW_DAYS_BEFORE_ARMING = 10
MAX_FALSE_ALARM_SHARE_TO_ARM = 0.2
LABELS_BEFORE_RETRAINING = 50
UNEXPLAINED_DOWNTIME_LIMIT = 0.3

# The box's own steps (shared pack), by id.
CONNECT = "box-connect-machine"
REASONS = "box-downtime-reasons"
BASELINE = "box-baseline"
SHADOW = "box-guard-shadow"
LABEL = "box-label-alerts"
ARM = "box-arm-guard"
RETRAIN = "box-retrain-model"


@dataclass(frozen=True)
class Suggestion:
    """What to do next. ``kind`` is "step" or "assessment" (take the check)."""

    kind: str
    step_id: str | None
    reason: dict[str, str] = field(default_factory=dict)  # lang -> text
    source: str = ""  # "box-data", "busy", "blueprint", "assessment"


def _status(progress: Mapping[str, Any], step_id: str) -> str:
    p = progress.get(step_id)
    if p is None:
        return "not_started"
    return p if isinstance(p, str) else getattr(p, "status", "not_started")


def _box_track(facts: Mapping[str, Any], known: set[str], done: set[str]) -> Suggestion | None:
    def pick(step_id: str, nl: str, en: str) -> Suggestion | None:
        if step_id not in known or step_id in done:
            return None
        return Suggestion("step", step_id, {"nl": nl, "en": en}, "box-data")

    order = []
    if facts.get("sources_configured") is False:
        order.append(pick(CONNECT, "Er levert nog geen machine data aan de box. Zonder data kan de box niets laten zien.",
                          "No machine delivers data to the box yet. Without data the box cannot show anything."))
    if facts.get("sources_configured"):
        reasons = facts.get("downtime_reasons_entered")
        if reasons == 0:
            order.append(pick(REASONS, "De machine staat soms stil, maar er is nog geen enkele stilstandreden ingevoerd.",
                              "The machine does stop, but no downtime reason has been entered yet."))
        share = facts.get("unexplained_downtime_share")
        if isinstance(share, int | float) and share > UNEXPLAINED_DOWNTIME_LIMIT:
            pct = round(share * 100)
            order.append(pick(REASONS, f"{pct}% van de stilstand van vorige week heeft geen reden. Daar kun je niet op sturen.",
                              f"{pct}% of last week's downtime has no reason. You cannot act on that."))
        if facts.get("baseline_marked") is False:
            days = facts.get("data_days")
            if isinstance(days, int) and days >= BASELINE_MIN_DAYS:
                order.append(pick(BASELINE, f"De box heeft {days} dagen data. Leg ze vast als nulmeting voordat je iets verandert.",
                                  f"The box has {days} days of data. Mark them as the baseline before you change anything."))
        mode = facts.get("guard_mode")
        if mode == "off":
            order.append(pick(SHADOW, "De bewaking staat uit. Zet hem in schaduwmodus: hij meldt dan alleen en stopt niets.",
                              "The guard is off. Put it in shadow mode: it only reports and stops nothing."))
        labelled = facts.get("alerts_labelled")
        total = facts.get("alerts_total")
        if mode in ("shadow", "armed") and isinstance(labelled, int):
            if isinstance(total, int) and total > labelled:
                open_ = total - labelled
                order.append(pick(LABEL, f"{open_} meldingen wachten op een label (terecht of vals alarm).",
                                  f"{open_} alerts are waiting for a label (true or false alarm)."))
            elif mode == "shadow" and labelled < LABELS_BEFORE_ARMING:
                order.append(pick(LABEL, f"Pas {labelled} meldingen gelabeld; je hebt er minstens {LABELS_BEFORE_ARMING} nodig om te weten of de bewaking klopt.",
                                  f"Only {labelled} alerts labelled; you need at least {LABELS_BEFORE_ARMING} to know whether the guard is right."))
        if mode == "shadow" and isinstance(labelled, int) and labelled >= LABELS_BEFORE_ARMING:
            fa = facts.get("false_alarm_share")
            days = facts.get("shadow_days")
            if isinstance(fa, int | float) and fa > MAX_FALSE_ALARM_SHARE_TO_ARM:
                pct = round(fa * 100)
                order.append(pick(RETRAIN, f"{pct}% van de gelabelde meldingen is vals alarm. Zo scherp zetten kost stilstand; train eerst bij op je eigen data.",
                                  f"{pct}% of the labelled alerts are false alarms. Arming it now would cost downtime; retrain on your own data first."))
            elif not isinstance(days, int) or days >= SHADOW_DAYS_BEFORE_ARMING:
                order.append(pick(ARM, "Genoeg gelabelde meldingen en weinig vals alarm: bespreek met onderhoud of de bewaking scherp mag. Het blijft een aanvullende stop, geen veiligheidsfunctie.",
                                  "Enough labelled alerts and few false alarms: decide with maintenance whether to arm the guard. It stays a supplementary stop, not a safety function."))
        if mode == "armed" and isinstance(labelled, int) and labelled >= LABELS_BEFORE_RETRAINING \
                and facts.get("model_retrained") is False:
            order.append(pick(RETRAIN, f"Er zijn {labelled} gelabelde meldingen. Dat is genoeg om het model op je eigen machine bij te trainen.",
                              f"There are {labelled} labelled alerts. That is enough to retrain the model on your own machine."))
    return next((s for s in order if s is not None), None)


def _fact_done(step: Any, facts: Mapping[str, Any]) -> bool:
    fact = step.box_fact
    if fact is None:
        return False
    if fact == "guard_shadow":
        return facts.get("guard_mode") in ("shadow", "armed")
    if fact == "guard_armed":
        return facts.get("guard_mode") == "armed"
    if fact == "downtime_reasons_entered":
        # Reasons entered once do not make the habit: too much unexplained
        # downtime means the step is not done yet.
        n, share = facts.get(fact), facts.get("unexplained_downtime_share")
        unexplained = isinstance(share, int | float) and share > UNEXPLAINED_DOWNTIME_LIMIT
        return isinstance(n, int) and n > 0 and not unexplained
    if fact == "alerts_labelled":
        n = facts.get("alerts_labelled")
        return isinstance(n, int) and n >= LABELS_BEFORE_ARMING
    value = facts.get(fact)
    return bool(value) if not isinstance(value, int | float) or isinstance(value, bool) else value > 0


def suggest_next_step(library: Any, facts: Mapping[str, Any], progress: Mapping[str, Any], *,
                      blueprint: str | None = None,
                      domain_scores: Mapping[str, float | None] | None = None) -> Suggestion | None:
    """The next step and why, in Dutch and English; None when all is done.

    ``progress`` maps step id -> status string or anything with ``.status``
    (``content.progress.all_progress`` fits). A step marked done by a person
    is never suggested again, even if the box's data disagrees: people may
    keep their records elsewhere."""
    steps = library.steps(blueprint=blueprint)
    by_id = {s.id: s for s in steps}
    done = {s.id for s in steps if _status(progress, s.id) == "done" or _fact_done(s, facts)}

    box = _box_track(facts, set(by_id), done)
    if box is not None:
        return box

    busy = [s for s in steps if _status(progress, s.id) == "busy" and s.id not in done]
    if busy:
        s = busy[0]
        p = progress.get(s.id)
        since = getattr(p, "date", None)
        when_nl = f" sinds {since}" if since else ""
        when_en = f" since {since}" if since else ""
        return Suggestion("step", s.id, {
            "nl": f"Je bent hier{when_nl} mee bezig. Maak het af voordat je iets nieuws begint.",
            "en": f"You have been working on this{when_en}. Finish it before you start something new."}, "busy")

    if facts.get("check_taken") is False and not domain_scores:
        return Suggestion("assessment", None, {
            "nl": "Doe de werkplekinnovatie-check (20 stellingen, een kwartier) met een paar collega's: dan weet je waar de zwakke plek zit.",
            "en": "Take the workplace-innovation check (20 statements, fifteen minutes) with a few colleagues: then you know where the weak spot is."},
            "assessment")

    open_steps = [s for s in steps if s.id not in done and all(p in done for p in s.prerequisites)]
    if not open_steps:
        return None

    preferred: list[str] = []
    weakest = None
    if domain_scores:
        scored = [(v, d) for d, v in domain_scores.items() if v is not None and d in DOMAINS]
        if scored:
            value, weakest = min(scored)
            if band_for(value) != "high":
                for adv in library.advice(domain=weakest, score=value, blueprint=blueprint):
                    preferred += adv.steps

    def rank(s: Any) -> tuple[int, int]:
        return (0 if s.id in preferred else 1, 0 if s.kind == "quick-win" else 1)

    best = min(open_steps, key=lambda s: (*rank(s), steps.index(s)))
    if best.id in preferred and weakest is not None:
        return Suggestion("step", best.id, {
            "nl": f"Uit de check scoort '{DOMAIN_NAMES[weakest]['nl']}' het laagst; deze stap helpt daar direct bij.",
            "en": f"In the check, '{DOMAIN_NAMES[weakest]['en']}' scores lowest; this step helps there directly."}, "blueprint")
    if best.kind == "quick-win":
        reason = {"nl": "Alles wat hiervoor nodig is, is klaar, en dit is een quick win: snel resultaat, weinig kosten.",
                  "en": "Everything it needs is done, and it is a quick win: fast result, little cost."}
    else:
        reason = {"nl": "Alles wat hiervoor nodig is, is klaar. Dit is een groter project: plan het en wijs een trekker aan.",
                  "en": "Everything it needs is done. This is a larger project: plan it and name someone to lead it."}
    return Suggestion("step", best.id, reason, "blueprint")
