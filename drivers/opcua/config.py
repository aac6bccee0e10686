"""Config model of an OPC UA server connection. Owned by drivers.opcua."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from drivers.schema import OutputBase, SignalBase, SignalName, StrictModel


class OpcuaSignal(SignalBase):
    node_id: str = Field(..., title="Node id", description="e.g. ns=2;s=Machine.SpindleSpeed", min_length=3, max_length=512)
    mode: Literal["subscribe", "poll"] = Field(
        "subscribe", title="Subscribe to data changes or poll",
        description="poll = read every poll_interval_ms of the server (for servers without subscriptions); a poll "
                    "signal that a guard rule watches is read back to back on the guard's own session instead "
                    "(guard.fast_path), the fastest way to a stop over OPC UA")
    sampling_interval_ms: float = Field(
        100, title="Sampling interval", description="ms; 0 = as fast as the server can (data-change driven)",
        ge=0, le=3_600_000)
    seq_node_id: str | None = Field(
        None, title="Sequence-number node of a block",
        description="node holding the sequence number of the block's first sample, written together with the "
                    "block (e.g. ns=2;s=Cell.Vibration.Seq); fills Sample.seq so consumers see gaps",
        min_length=3, max_length=512)
    queue_size: int = Field(
        1, title="Server-side queue size of the monitored item",
        description="1 = latest value only; more keeps every change between publishes", ge=1, le=10_000)


class OpcuaServer(StrictModel):
    name: SignalName = Field(..., title="Server name")
    url: str = Field(..., title="Endpoint URL", pattern=r"^opc\.tcp://", max_length=512)
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field(
        "None", title="Message security mode",
        description="Sign/SignAndEncrypt use the box's client certificate in <data_dir>/pki/; "
                    "the PLC admin must trust it (see `werkvloer opcua certificate`)")
    security_policy: Literal["Basic256Sha256"] = Field("Basic256Sha256", title="Security policy")
    username: str | None = Field(None, title="User name", min_length=1, max_length=128)
    password_secret: str | None = Field(
        None, title="Name of the password in the secrets file", min_length=1, max_length=128)
    publishing_interval_ms: float = Field(
        100, title="Publishing interval",
        description="ms; 0 = as fast as the server grants (it revises the request to its minimum; the box uses "
                    "the revised interval and logs it). The server may revise any value upwards. Left unset on a "
                    "server with a subscribed signal a guard rule watches, the box asks 0", ge=0, le=60_000)
    poll_interval_ms: int = Field(1000, title="Poll interval for mode=poll", description="ms", ge=10, le=3_600_000)
    stall_intervals: int = Field(
        10, title="Publishing intervals without data or keep-alive before reconnecting",
        description="never less than stall_min_s", ge=3, le=1000)
    stall_min_s: float = Field(
        1.0, title="Shortest stall timeout", description="s; guards very short publishing intervals against "
                                                           "false alarms from a busy CPU", ge=0.1, le=600)
    timeout_s: float = Field(4.0, title="Request timeout", description="s", gt=0, le=60)
    session_timeout_s: float = Field(
        60, title="Session timeout",
        description="s; the server drops a session the box abandoned (crash, cable) after this", ge=5, le=3600)
    reconnect_min_s: float = Field(1.0, title="First reconnect delay", description="s; doubles up to reconnect_max_s",
                                   ge=0.05, le=600)
    reconnect_max_s: float = Field(30.0, title="Longest reconnect delay", description="s", ge=0.05, le=3600)
    signals: list[OpcuaSignal] = Field(default_factory=list, title="Signals")

    @model_validator(mode="after")
    def _consistent(self) -> OpcuaServer:
        if self.password_secret is not None and self.username is None:
            raise ValueError("password_secret is set but username is not; add username = \"...\"")
        if 0 < self.publishing_interval_ms < 10:
            raise ValueError("publishing_interval_ms must be 0 (= the fastest the server grants) or at least 10")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class OpcuaOutputConfig(OutputBase):
    """A stop written to a node on a session of its own (``guard.outputs`` entry with
    ``kind = "opcua"``)."""

    NEEDS = ("url", "node_id")

    kind: Literal["opcua"] = Field(..., title="Output kind")
    url: str | None = Field(None, title="Endpoint URL (opcua)")
    node_id: str | None = Field(None, title="Node id (opcua)")
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field(
        "None", title="Message security mode (opcua)", description="Basic256Sha256 with the box's client certificate")
    username: str | None = Field(None, title="User name (opcua)")
    password_secret: str | None = Field(None, title="Name of the password in the secrets file (opcua)")

