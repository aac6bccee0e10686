"""The consent text the company agrees to (versioned: a changed text is a new version)."""

from __future__ import annotations

VERSION = 1

TEXT = {
    "nl": (
        "Deze box stuurt elk uur geanonimiseerde kengetallen naar de hub van het programma: OEE en de "
        "delen beschikbaarheid, prestatie en kwaliteit, geplande tijd, looptijd en stilstand, aantallen "
        "(totaal, goed, afkeur), microstops, storingen, MTBF, MTTR, energie per goed product, het aantal "
        "meldingen per model of regel en het aandeel vals alarm, de sector en grootteklasse van het bedrijf "
        "en een willekeurige code voor deze uitleen. Bij niveau 'kpi+check' ook de vier domeinscores van de "
        "werkplekcheck. Er gaan nooit namen, opmerkingen, notities, recepten, beelden of ruwe signalen mee. "
        "U kunt dit op elk moment weer uitzetten."),
    "en": (
        "Every hour this box sends anonymised figures to the programme's hub: OEE and its parts "
        "availability, performance and quality, planned, run and down time, counts (total, good, scrap), "
        "micro-stops, failures, MTBF, MTTR, energy per good part, alert counts per model or rule and the "
        "false-alarm share, the company's sector and size class and a random code for this loan. At level "
        "'kpi+check' also the four domain scores of the workplace check. Names, comments, notes, recipes, "
        "images and raw signals never leave the box. You can turn this off again at any time."),
}

LEVELS = ("off", "kpi", "kpi+check")
