"""The shift report as a PDF file, made on the box (fpdf2, no browser and no internet needed).

The same figures as the print page (``timeline_view.report``): the KPIs, the counts, the bar of
the shift in its colours with the hour ticks, the legend and every stop with its reason. A4
portrait, the PDF core font Helvetica: text goes through ``_latin1`` (the core fonts cover
Latin-1, which has every Dutch letter; a dash or a quote outside it becomes its plain form).
"""

from __future__ import annotations

from typing import Any

from . import fmt
from .timeline_view import hour_ticks

MARGIN, WIDTH = 15.0, 180.0  # mm (A4: 210 wide)
BAR_H = 12.0
PLAIN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                       "\u201d": '"', "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2212": "-"})


def _latin1(text: Any) -> str:
    return str(text).translate(PLAIN).encode("latin-1", "replace").decode("latin-1")


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return 156, 163, 175  # a colour the report does not know: grey


def shift_report_pdf(rep: dict[str, Any], *, box_name: str, f: fmt.Formatter, gettext: Any) -> bytes:
    """``rep``: a report from ``timeline_view.report``, decorated as for the page (title, hours,
    legend, stops with start/end/duration texts)."""
    from fpdf import FPDF  # only when a PDF is asked for (the ui's memory at start)

    _ = gettext
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=MARGIN)
    pdf.set_title(_latin1(f'{_("Shift report")}: {rep["title"]}'))
    pdf.set_creator("Werkvloer")
    pdf.add_page()

    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 9, _latin1(f'{_("Shift report")}: {rep["title"]}{rep["hours"]}'), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    line = box_name
    if rep["current"]:
        line += " - " + _("Shift still running: figures until %(time)s.") % {"time": f.time(rep["until_utc_ns"])}
    pdf.cell(0, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    k, c = rep["kpis"], rep["counts"]
    rows = [(_("OEE"), f.pct(k["oee"])), (_("Availability"), f.pct(k["availability"])),
            (_("Performance"), f.pct(k["performance"])), (_("Quality"), f.pct(k["quality"])),
            (_("Parts produced"), f.num(c["produced"], 0)), (_("Good"), f.num(c["good"], 0)),
            (_("Scrap"), f.num(c["scrap"], 0)), (_("Running time"), f.duration(c["run_s"])),
            (_("Unplanned downtime"), f.duration(c["down_s"])),
            (_("Micro-stops"), f'{f.num(c["micro_stops"], 0)} - {f.duration(c["micro_stop_s"])}'),
            (_("No data"), f.duration(c["no_data_s"]))]
    for label, value in rows:
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(60, 6.5, _latin1(label), border="B")
        pdf.set_font("helvetica", "", 11)
        pdf.cell(50, 6.5, _latin1(value), border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)

    _bar(pdf, rep, f)
    pdf.set_font("helvetica", "", 9)
    for item in rep["legend"]:
        pdf.set_fill_color(*_rgb(item["colour"]))
        pdf.cell(4, 4, "", fill=True)
        pdf.cell(pdf.get_string_width(_latin1(item["label"])) + 6, 4, " " + _latin1(item["label"]))
    pdf.ln(9)

    pdf.set_font("helvetica", "B", 13)
    heading = f'{_("Stops")} ({len(rep["stops"])}'
    if rep["stops_without_reason"]:
        heading += ", " + _("%(n)s without a reason") % {"n": rep["stops_without_reason"]}
    pdf.cell(0, 8, _latin1(heading + ")"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    if not rep["stops"]:
        pdf.cell(0, 6, _latin1(_("No stops in this shift.")), new_x="LMARGIN", new_y="NEXT")
    else:
        with pdf.table(col_widths=(18, 18, 24, 60, 60), text_align="LEFT", line_height=5.5) as table:
            head = table.row()
            for h in (_("From"), _("To"), _("Duration"), _("Reason"), _("Comment")):
                head.cell(_latin1(h))
            for s in rep["stops"]:
                row = table.row()
                for v in (s["start"], s["end"] or _("still stopped"), s["duration"],
                          s["reason_label"] or _("Reason needed"), s["comment"] or ""):
                    row.cell(_latin1(v))
    return bytes(pdf.output())


def _bar(pdf: Any, rep: dict[str, Any], f: fmt.Formatter) -> None:
    """The shift's bar: one rectangle per segment, a line at now, hour ticks under it."""
    s0, s1 = rep["start_utc_ns"], rep["end_utc_ns"]
    span = max(1, s1 - s0)
    x0, y0 = pdf.get_x(), pdf.get_y()

    def x(t: int) -> float:
        return x0 + (t - s0) * WIDTH / span

    pdf.set_draw_color(209, 213, 219)
    pdf.set_fill_color(243, 244, 246)
    pdf.rect(x0, y0, WIDTH, BAR_H, style="DF")
    for seg in rep["segments"]:
        a, b = x(seg["start_utc_ns"]), x(seg["end_utc_ns"])
        pdf.set_fill_color(*_rgb(seg["colour"]))
        pdf.rect(a, y0, max(b - a, 0.2), BAR_H, style="F")
    pdf.set_draw_color(17, 24, 39)
    if s0 < rep["until_utc_ns"] < s1:
        xn = x(rep["until_utc_ns"])
        pdf.set_line_width(0.6)
        pdf.line(xn, y0, xn, y0 + BAR_H)
    pdf.set_line_width(0.2)
    pdf.set_font("helvetica", "", 8)
    for tn, label in hour_ticks(s0, s1, f.tz):
        xt = x(tn)
        pdf.line(xt, y0 + BAR_H, xt, y0 + BAR_H + 1.5)
        w = pdf.get_string_width(label)
        pdf.text(min(max(xt - w / 2, x0), x0 + WIDTH - w), y0 + BAR_H + 5, label)
    pdf.set_xy(x0, y0 + BAR_H + 8)
