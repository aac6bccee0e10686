"""The latch: what a trip does in each mode, as a pure state machine (like ``decide.py``).

No threads, no clock, no I/O: the engine calls it under its trip lock and
does what it answers. A trip in ``armed`` mode latches the stop until a person
resets it; while latched, further trips are counted, not fired again (the
outputs are in stop, and the output bank keeps them there). A restart keeps a
latched stop (``Latch.restore``) so that a reset stays a human decision.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Action = Literal["ignore", "record", "fire", "suppress"]


@dataclasses.dataclass
class Latch:
    tripped: bool = False
    cause: dict[str, Any] | None = None
    since_utc_ns: int | None = None
    suppressed: int = 0

    @classmethod
    def restore(cls, persisted_cause: dict[str, Any] | None, tripped: bool) -> Latch:
        return cls(tripped=tripped, cause=persisted_cause,
                   since_utc_ns=persisted_cause["ts"] if persisted_cause else None)

    def on_trip(self, mode: str, cause: dict[str, Any]) -> Action:
        """off: ignore; shadow: record only; armed: fire and latch, or suppress when latched already."""
        if mode == "shadow":
            return "record"
        if mode != "armed":
            return "ignore"
        if self.tripped:
            self.suppressed += 1
            return "suppress"
        self.tripped = True
        self.cause = cause
        self.since_utc_ns = cause.get("ts")
        return "fire"

    def reset(self) -> bool:
        """Release; True when a stop was latched."""
        was = self.tripped
        self.tripped, self.cause, self.since_utc_ns = False, None, None
        return was


def trip_title(mode: str, what: dict[str, str], results: list[Any]) -> dict[str, str]:
    """The alert title of a trip, naming which outputs confirmed the stop and which did not
    (issue 16, point 1: "stopped" while nothing reached the machine would be a stop silently lost)."""
    en_what, nl_what = what["en"], what["nl"]
    if mode != "armed":
        return {"nl": f"Bewaking (schaduw) zou de machine gestopt hebben: {nl_what}",
                "en": f"Guard (shadow mode) would have stopped the machine: {en_what}"}
    fired = [r.name for r in results if r.ok]
    missed = ", ".join(r.name for r in results if not r.ok)
    if fired and not missed:
        return {"nl": f"Bewaking stopte de machine: {nl_what}", "en": f"Guard stopped the machine: {en_what}"}
    if fired:
        return {"nl": f"Bewaking stopte de machine: {nl_what} (gestuurd: {', '.join(fired)}; "
                      f"nog niet bevestigd: {missed})",
                "en": f"Guard stopped the machine: {en_what} (fired: {', '.join(fired)}; "
                      f"not confirmed yet: {missed})"}
    return {"nl": f"Bewaking sloeg aan op {nl_what} maar nog geen stopuitgang bevestigde de stop "
                  f"({missed or 'geen ingesteld'})",
            "en": f"Guard tripped on {en_what} but no stop output confirmed the stop yet ({missed or 'none configured'})"}
