"""Config model of the guard: models, rules, stop outputs. Owned by appliance.guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from drivers.gpio.config import GpioOutputConfig
from drivers.modbus.config import ModbusOutputConfig
from drivers.opcua.config import OpcuaOutputConfig
from drivers.schema import TAG_PREFIX, SignalName, StrictModel


class ModelBinding(StrictModel):
    name: SignalName = Field(..., title="Binding name (shown in alerts)")
    model: str = Field(..., title="Model id in the registry, e.g. vibration-anomaly", min_length=1, max_length=64)
    inputs: list[str] = Field(..., title="Signals fed to the model, in manifest order", min_length=1)
    threshold: float | None = Field(None, title="Trip threshold", description="defaults to the manifest's")
    trip_n: int = Field(3, title="N of the N-of-M debounce", ge=1, le=100)
    trip_m: int = Field(5, title="M of the N-of-M debounce", ge=1, le=100)
    hysteresis: float = Field(0.1, title="Hysteresis", description="fraction of threshold to fall below before re-arming", ge=0, le=1)
    threads: int = Field(1, title="Inference threads", ge=1, le=4)
    while_signal: str | None = Field(
        None, title="Score only while this signal is true (e.g. running)",
        description="a model learnt on a machine at work; windows while it stands still are not scored, and "
                    "the N-of-M debounce starts afresh at every start. Not set: machine.running_signal when "
                    "the model's manifest says scores_only_while_running; \"\" = score always")
    settle_s: float = Field(
        3.0, title="Settling time after while_signal turns true",
        description="s; windows that begin sooner are not scored: spin-up after a stop is not what the model "
                    "learnt and reads as an anomaly. The rules still watch meanwhile. Set it to the machine's "
                    "spin-up time with some margin", ge=0, le=600)
    while_signal_timeout_s: float = Field(
        60.0, title="Alert when while_signal has no good value this long",
        description="s; a gated model cannot score while its while_signal never arrived, its source is down or "
                    "its quality is bad: after this long (while the guard is not off) one warning alert names the "
                    "model and the signal to check, and an info alert follows when it has a good value again. A "
                    "machine that stands still (the signal good and false) is not an alert", ge=1, le=86400)

    @model_validator(mode="after")
    def _n_of_m(self) -> ModelBinding:
        if self.trip_n > self.trip_m:
            raise ValueError(f"trip_n ({self.trip_n}) must not exceed trip_m ({self.trip_m})")
        return self


class Rule(StrictModel):
    name: SignalName = Field(..., title="Rule name")
    kind: Literal["above", "below", "stalled"] = Field(
        ..., title="Rule kind",
        description="above/below: signal beyond limit for for_ms; stalled: counter unchanged for for_ms while while_signal is true")
    signal: str = Field(..., title="Signal watched")
    limit: float | None = Field(None, title="Limit (above/below)", description="in the signal's unit")
    for_ms: float = Field(0, title="Must hold for", description="ms", ge=0, le=3_600_000)
    while_signal: str | None = Field(None, title="Only while this signal is true (e.g. running)")

    @model_validator(mode="after")
    def _limit(self) -> Rule:
        if self.kind in ("above", "below") and self.limit is None:
            raise ValueError(f"rule kind {self.kind!r} needs a limit")
        if self.kind == "stalled" and self.for_ms <= 0:
            raise ValueError("rule kind 'stalled' needs for_ms > 0 (how long the counter may stand still)")
        return self


OUTPUT_KINDS = ("gpio", "modbus", "opcua")


class _UnknownOutput(StrictModel):
    """Only there to say what ``kind`` may be when it is missing or unknown (same message as a Literal)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["gpio", "modbus", "opcua"] = Field(..., title="Output kind")


def _output_tag(v: Any) -> str:
    kind = v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None)
    return f"{TAG_PREFIX}{kind}" if kind in OUTPUT_KINDS else f"{TAG_PREFIX}?"


# A stop output: the driver's own config class, chosen by ``kind`` (issue 13: each driver owns
# its output config; the guard composes them). The tag is not a key path (appliance.config drops it).
AnyOutput = GpioOutputConfig | ModbusOutputConfig | OpcuaOutputConfig
if TYPE_CHECKING:  # an _UnknownOutput never validates: it only words the error
    GuardOutput = AnyOutput
else:
    GuardOutput = Annotated[
        Annotated[GpioOutputConfig, Tag(f"{TAG_PREFIX}gpio")]
        | Annotated[ModbusOutputConfig, Tag(f"{TAG_PREFIX}modbus")]
        | Annotated[OpcuaOutputConfig, Tag(f"{TAG_PREFIX}opcua")]
        | Annotated[_UnknownOutput, Tag(f"{TAG_PREFIX}?")],
        Discriminator(_output_tag),
    ]


class Heartbeat(StrictModel):
    output: str = Field(..., title="Name of the output toggled",
                        description="an entry of guard.outputs; it is then a heartbeat, not a stop output")
    period_ms: int = Field(500, title="Toggle period", description="ms", ge=10, le=60_000)


class GuardConfig(StrictModel):
    mode: Literal["off", "shadow", "armed"] = Field(
        "shadow", title="Start mode",
        description="shadow = alerts only, no stop; maintenance arms it in the UI. A mode set in the UI "
                    "(settings key guard.mode) wins over this value")
    run_permit: bool = Field(False, title="Run-permit mode", description="relay energised only while healthy and not tripped")
    models: list[ModelBinding] = Field(default_factory=list, title="Models")
    rules: list[Rule] = Field(default_factory=list, title="Rules")
    outputs: list[GuardOutput] = Field(default_factory=list, title="Stop outputs")
    heartbeat: Heartbeat | None = Field(None, title="Heartbeat output")
    reset_pin: int | None = Field(None, title="BCM pin of a physical reset button", ge=0, le=53)
    inference_timeout_ms: float = Field(200, title="Inference watchdog", description="ms", gt=0, le=60_000)
    switch_interval_us: int = Field(
        250, title="Python thread switch interval while the guard runs",
        description="µs; 0 = keep Python's 5000 µs. A woken guard thread waits up to this long for the GIL "
                    "when another thread of the core is busy (see appliance/guard/README.md)", ge=0, le=5000)
    keepalive_ms: int = Field(
        250, title="Stop output keep-alive",
        description="ms; each stop output's connection is checked with one cheap read this often, so a PLC that "
                    "closes idle connections or died quietly is noticed before a stop is needed", ge=20, le=10_000)
    reconnect_max_ms: int = Field(
        2000, title="Stop output reconnect backoff cap",
        description="ms; a stop output that cannot be reached is retried forever, the delay doubling up to this",
        ge=100, le=60_000)
    confirm_ms: int = Field(
        1000, title="Stop confirmation deadline",
        description="ms; a stop an output has not confirmed by then is declared failed (critical alert, guard "
                    "unhealthy); the output keeps retrying while the stop is latched", ge=10, le=60_000)
    fast_path: bool = Field(
        True, title="Read watched signals on the guard's own connection",
        description="scalar signals of Modbus TCP devices that a rule watches are read by the guard's own thread "
                    "and connection at their poll_interval_ms (0 = back to back), decided and written out there; "
                    "the recorder and UI get the same samples (see appliance/guard/README.md, fast path)")
    rt_priority: int = Field(
        10, title="Real-time priority of the guard's threads",
        description="SCHED_FIFO priority (1-99) for the guard thread and its fast-path readers, where the OS "
                    "permits it (root, CAP_SYS_NICE or LimitRTPRIO in the unit; the image's core unit allows up to "
                    "20); refused elsewhere (one log line, normal scheduling); 0 = normal scheduling. The threads "
                    "block on I/O and timers, so they never starve the rest of the box", ge=0, le=99)
    tick_ms: int = Field(20, title="Guard thread tick",
                         description="ms; how often timed rules and the inference watchdog are checked when no sample comes",
                         ge=1, le=1000)

    def with_default_gates(self, running_signal: str | None, needs_gate: Callable[[str], bool]) -> GuardConfig:
        """A binding without ``while_signal`` whose model scores only a machine at work
        (``needs_gate(model_id)``: the manifest's ``scores_only_while_running``) is gated on
        ``running_signal`` (``machine.running_signal``). An explicit value wins; ``""`` = score always."""
        if not running_signal:
            return self
        models = [m.model_copy(update={"while_signal": running_signal})
                  if m.while_signal is None and needs_gate(m.model) else m for m in self.models]
        return self.model_copy(update={"models": models})

    def referenced_signals(self) -> list[tuple[str, str]]:
        """(key path, signal name) of every signal the guard refers to."""
        refs = [(f"guard.models[{i}].inputs", s) for i, m in enumerate(self.models) for s in m.inputs]
        refs += [(f"guard.models[{i}].while_signal", m.while_signal)
                 for i, m in enumerate(self.models) if m.while_signal]
        refs += [(f"guard.rules[{i}].signal", r.signal) for i, r in enumerate(self.rules)]
        refs += [(f"guard.rules[{i}].while_signal", r.while_signal)
                 for i, r in enumerate(self.rules) if r.while_signal]
        return refs

    @property
    def stop_outputs(self) -> list[AnyOutput]:
        """The outputs fired on a trip (every output but the heartbeat)."""
        hb = self.heartbeat.output if self.heartbeat else None
        return [o for o in self.outputs if o.name != hb]
