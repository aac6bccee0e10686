"""Config model of the guard: models, rules, stop outputs. Owned by appliance.guard."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import SignalName, StrictModel


class ModelBinding(StrictModel):
    name: SignalName = Field(..., title="Binding name (shown in alerts)")
    model: str = Field(..., title="Model id in the registry, e.g. vibration-anomaly", min_length=1, max_length=64)
    inputs: list[str] = Field(..., title="Signals fed to the model, in manifest order", min_length=1)
    threshold: float | None = Field(None, title="Trip threshold", description="defaults to the manifest's")
    trip_n: int = Field(3, title="N of the N-of-M debounce", ge=1, le=100)
    trip_m: int = Field(5, title="M of the N-of-M debounce", ge=1, le=100)
    hysteresis: float = Field(0.1, title="Hysteresis", description="fraction of threshold to fall below before re-arming", ge=0, le=1)
    threads: int = Field(1, title="Inference threads", ge=1, le=4)


class Rule(StrictModel):
    name: SignalName = Field(..., title="Rule name")
    kind: Literal["above", "below", "stalled"] = Field(..., title="Rule kind")
    signal: str = Field(..., title="Signal watched")
    limit: float | None = Field(None, title="Limit (above/below)")
    for_ms: float = Field(0, title="Must hold for", description="ms", ge=0, le=3_600_000)
    while_signal: str | None = Field(None, title="Only while this signal is true (e.g. running)")


class GuardOutput(StrictModel):
    name: SignalName = Field(..., title="Output name")
    kind: Literal["gpio", "modbus", "opcua"] = Field(..., title="Output kind")
    pin: int | None = Field(None, title="BCM pin (gpio)", ge=0, le=53)
    active_high: bool = Field(True, title="Relay energised = high (gpio)")
    host: str | None = Field(None, title="Host (modbus)")
    port: int = Field(502, title="Port (modbus)", ge=1, le=65535)
    unit_id: int = Field(1, title="Unit id (modbus)", ge=0, le=247)
    table: Literal["coil", "holding"] = Field("coil", title="Table (modbus)")
    address: int | None = Field(None, title="Address (modbus)", ge=0, le=65535)
    url: str | None = Field(None, title="Endpoint URL (opcua)")
    node_id: str | None = Field(None, title="Node id (opcua)")
    value: float = Field(1, title="Value written on trip")
    timeout_ms: float = Field(50, title="Confirmation timeout", description="ms", gt=0, le=5000)


class Heartbeat(StrictModel):
    output: str = Field(..., title="Name of the output toggled")
    period_ms: int = Field(500, title="Toggle period", description="ms", ge=10, le=60_000)


class GuardConfig(StrictModel):
    mode: Literal["off", "shadow", "armed"] = Field(
        "shadow", title="Start mode", description="shadow = alerts only, no stop; maintenance arms it in the UI")
    run_permit: bool = Field(False, title="Run-permit mode", description="relay energised only while healthy and not tripped")
    models: list[ModelBinding] = Field(default_factory=list, title="Models")
    rules: list[Rule] = Field(default_factory=list, title="Rules")
    outputs: list[GuardOutput] = Field(default_factory=list, title="Stop outputs")
    heartbeat: Heartbeat | None = Field(None, title="Heartbeat output")
    reset_pin: int | None = Field(None, title="BCM pin of a physical reset button", ge=0, le=53)
    inference_timeout_ms: float = Field(200, title="Inference watchdog", description="ms", gt=0, le=60_000)

    def referenced_signals(self) -> list[tuple[str, str]]:
        """(key path, signal name) of every signal the guard refers to."""
        refs = [(f"guard.models[{i}].inputs", s) for i, m in enumerate(self.models) for s in m.inputs]
        refs += [(f"guard.rules[{i}].signal", r.signal) for i, r in enumerate(self.rules)]
        refs += [(f"guard.rules[{i}].while_signal", r.while_signal)
                 for i, r in enumerate(self.rules) if r.while_signal]
        return refs
