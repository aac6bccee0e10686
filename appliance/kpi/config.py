"""Config model of the machine-state model, shifts, products and downtime reasons.

Owned by appliance.kpi. See ``appliance/kpi/README.md`` for what each option
does to the OEE numbers.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from drivers.schema import SignalName, StrictModel

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_BREAK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_CODE = r"^[a-z][a-z0-9_]{0,39}$"

StateCode = Literal["running", "idle", "down", "planned_down", "setup"]


class Product(StrictModel):
    id: SignalName = Field(..., title="Product id")
    name: str = Field(..., title="Product name", max_length=80)
    ideal_cycle_s: float = Field(..., title="Ideal cycle time per part (ISO 22400 PRI)", description="s", gt=0, le=86_400)
    code: int | None = Field(None, title="Value of the product signal that selects this product", ge=0, le=2**32 - 1)


class Shift(StrictModel):
    name: str = Field(..., title="Shift name", max_length=40, pattern=r"^[\w -]+$")
    start: str = Field(..., title="Start (HH:MM local)", pattern=_HHMM)
    end: str = Field(..., title="End (HH:MM local, may be past midnight)", pattern=_HHMM)
    days: list[int] = Field([0, 1, 2, 3, 4], title="Weekdays the shift starts on (0 = Monday)", max_length=7)
    breaks: list[str] = Field(default_factory=list, title="Breaks as HH:MM-HH:MM (local, inside the shift)", max_length=12)

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        for d in v:
            if not 0 <= d <= 6:
                raise ValueError(f"weekday {d} is not 0 (Monday) .. 6 (Sunday)")
        return v

    @field_validator("breaks")
    @classmethod
    def _breaks(cls, v: list[str]) -> list[str]:
        for b in v:
            if not _BREAK.match(b):
                raise ValueError(f"break {b!r} is not HH:MM-HH:MM (for example 10:00-10:15)")
        return v


class Reason(StrictModel):
    code: str = Field(..., title="Reason code (unique inside its group)", pattern=_CODE)
    nl: str = Field(..., title="Dutch label", max_length=60)
    en: str = Field(..., title="English label", max_length=60)
    planned: bool | None = Field(None, title="Planned downtime (defaults to the group's)")


class ReasonGroup(StrictModel):
    code: str = Field(..., title="Group code", pattern=_CODE)
    nl: str = Field(..., title="Dutch label", max_length=60)
    en: str = Field(..., title="English label", max_length=60)
    planned: bool = Field(False, title="Planned downtime (excluded from planned busy time)")
    setup: bool = Field(False, title="Stops with this reason count as setup (ISO 22400 AUST)")
    children: list[Reason] = Field(default_factory=list, title="Second-level reasons", max_length=40)


class MachineConfig(StrictModel):
    running_signal: str | None = Field(None, title="Signal that is true while the machine runs")
    speed_signal: str | None = Field(None, title="Signal whose value above speed_threshold means running")
    speed_threshold: float = Field(0.0, title="Speed threshold", description="unit of speed_signal", ge=0)
    counter_signal: str | None = Field(None, title="Total part counter (ISO 22400 PQ)")
    good_signal: str | None = Field(None, title="Good part counter (ISO 22400 GQ); default = total - scrap")
    scrap_signal: str | None = Field(None, title="Scrap counter")
    energy_signal: str | None = Field(None, title="Energy meter (kWh counter)")
    product_signal: str | None = Field(None, title="Signal with the current product code")
    state_signal: str | None = Field(None, title="Signal with a machine state code (see state_codes)")
    state_codes: dict[str, StateCode] = Field(
        default_factory=dict, title="State code -> state",
        description='e.g. {"0" = "idle", "1" = "running", "2" = "down", "3" = "setup"}')
    running_rule: Literal["auto", "running_signal", "speed", "counter", "state_signal", "all", "any"] = Field(
        "auto", title="Which signals decide 'running'",
        description="auto = state_signal, else running_signal, else speed, else counter; "
                    "all/any = combine the configured running_signal, speed and counter")
    counter_active_s: float = Field(
        60, title="Counter rule: running while the counter moved within this time", description="s", gt=0, le=3600)
    stopped_state: Literal["down", "idle"] = Field(
        "down", title="State of a stop when no state code says otherwise")
    counter_wrap: int = Field(2**32, title="Counters wrap at this value (uint32 = 4294967296)", ge=2, le=2**64)
    energy_wrap_kwh: float | None = Field(None, title="Energy meter wraps at this value", description="kWh", gt=0)
    micro_stop_s: float = Field(120, title="Stops shorter than this are micro-stops", description="s", ge=0, le=3600)
    no_data_after_s: float = Field(10, title="No fresh data for this long = no-data", description="s", gt=0, le=3600)
    clock_jump_s: float = Field(
        2.0, title="UTC-vs-monotonic change that counts as a clock jump", description="s", gt=0, le=86_400)
    clock_hold_s: float = Field(
        900, title="At boot, hold KPI writes this long until the clock is NTP-synchronised",
        description="s; periods measured meanwhile are placed on the corrected clock", ge=0, le=86_400)
    flush_s: float = Field(5.0, title="KPI engine writes at least this often", description="s", ge=0.1, le=300)
    max_gap_fill_days: float = Field(
        14, title="At start, time since the engine last ran is shown as no-data up to this long",
        description="days", ge=0, le=366)
    ideal_cycle_s: float = Field(30, title="Default ideal cycle time", description="s", gt=0, le=86_400)
    products: list[Product] = Field(default_factory=list, title="Products")
    shifts: list[Shift] = Field(default_factory=list, title="Shift calendar (empty = 24/7 planned)")
    non_working_days: list[str] = Field(default_factory=list, title="Non-working days (YYYY-MM-DD)")
    oee_target: float = Field(0.6, title="OEE target per shift", ge=0, le=1)
    reasons: list[ReasonGroup] | None = Field(
        None, title="Downtime reason tree (two levels); empty = the default metalworking tree")

    @field_validator("non_working_days")
    @classmethod
    def _dates(cls, v: list[str]) -> list[str]:
        import datetime as dt

        for d in v:
            try:
                dt.date.fromisoformat(d)
            except ValueError:
                raise ValueError(f"{d!r} is not a date YYYY-MM-DD") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MachineConfig:
        codes = [p.code for p in self.products if p.code is not None]
        if len(codes) != len(set(codes)):
            raise ValueError("two products share the same code")
        if self.reasons is not None:
            groups = [g.code for g in self.reasons]
            if len(groups) != len(set(groups)):
                raise ValueError("two reason groups share the same code")
            for g in self.reasons:
                kids = [c.code for c in g.children]
                if len(kids) != len(set(kids)):
                    raise ValueError(f"reason group {g.code!r} has two children with the same code")
        if self.state_signal is None and self.running_rule == "state_signal":
            raise ValueError("running_rule 'state_signal' needs machine.state_signal")
        return self

    def referenced_signals(self) -> list[tuple[str, str]]:
        names = ["running_signal", "speed_signal", "counter_signal", "good_signal", "scrap_signal",
                 "energy_signal", "product_signal", "state_signal"]
        return [(f"machine.{n}", getattr(self, n)) for n in names if getattr(self, n)]
