"""Config model of the machine-state model, shifts and products. Owned by appliance.kpi."""

from __future__ import annotations

from pydantic import Field

from appliance.schema import SignalName, StrictModel


class Product(StrictModel):
    id: SignalName = Field(..., title="Product id")
    name: str = Field(..., title="Product name", max_length=80)
    ideal_cycle_s: float = Field(..., title="Ideal cycle time per part", description="s", gt=0, le=86_400)


class Shift(StrictModel):
    name: str = Field(..., title="Shift name", max_length=40)
    start: str = Field(..., title="Start (HH:MM local)", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(..., title="End (HH:MM local, may be past midnight)", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    days: list[int] = Field([0, 1, 2, 3, 4], title="Weekdays (0 = Monday)")
    breaks: list[str] = Field(default_factory=list, title="Breaks as HH:MM-HH:MM")


class MachineConfig(StrictModel):
    running_signal: str | None = Field(None, title="Signal that is true while the machine runs")
    speed_signal: str | None = Field(None, title="Signal whose value above speed_threshold means running")
    speed_threshold: float = Field(0.0, title="Speed threshold", ge=0)
    counter_signal: str | None = Field(None, title="Total part counter")
    scrap_signal: str | None = Field(None, title="Scrap counter")
    energy_signal: str | None = Field(None, title="Energy meter (kWh counter)")
    product_signal: str | None = Field(None, title="Signal with the current product id")
    micro_stop_s: float = Field(120, title="Stops shorter than this are micro-stops", description="s", ge=0, le=3600)
    no_data_after_s: float = Field(10, title="No fresh data for this long = no-data", description="s", gt=0, le=3600)
    ideal_cycle_s: float = Field(30, title="Default ideal cycle time", description="s", gt=0, le=86_400)
    products: list[Product] = Field(default_factory=list, title="Products")
    shifts: list[Shift] = Field(default_factory=list, title="Shift calendar")
    non_working_days: list[str] = Field(default_factory=list, title="Non-working days (YYYY-MM-DD)")
    oee_target: float = Field(0.6, title="OEE target per shift", ge=0, le=1)

    def referenced_signals(self) -> list[tuple[str, str]]:
        names = ["running_signal", "speed_signal", "counter_signal", "scrap_signal", "energy_signal", "product_signal"]
        return [(f"machine.{n}", getattr(self, n)) for n in names if getattr(self, n)]
