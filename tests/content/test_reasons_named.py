"""Downtime reasons the steps tell operators to pick exist in the default reason tree (issue 14, point 7)."""

from __future__ import annotations

from appliance.kpi.reasons import DEFAULT_REASONS
from content.loader import Library


def test_named_reasons_are_in_the_default_tree(library: Library) -> None:
    nl = {c.nl for g in DEFAULT_REASONS for c in g.children} | {g.nl for g in DEFAULT_REASONS}
    en = {c.en for g in DEFAULT_REASONS for c in g.children} | {g.en for g in DEFAULT_REASONS}
    assert {"Wachten op programma", "Zoeken (gereedschap, onderdelen)", "Wachten op materiaal", "Storing"} <= nl
    assert {"Waiting for program", "Searching (tools, parts)"} <= en
    assert "'Zoeken (gereedschap, onderdelen)'" in library.step("sm-log-02").text("nl").progress
