"""Config model of an OPC UA server connection. Owned by drivers.opcua."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import SignalBase, SignalName, StrictModel


class OpcuaSignal(SignalBase):
    node_id: str = Field(..., title="Node id", description="e.g. ns=2;s=Machine.SpindleSpeed", min_length=3)
    mode: Literal["subscribe", "poll"] = Field("subscribe", title="Subscribe to data changes or poll")
    sampling_interval_ms: float = Field(100, title="Sampling interval", description="ms", ge=0, le=3_600_000)


class OpcuaServer(StrictModel):
    name: SignalName = Field(..., title="Server name")
    url: str = Field(..., title="Endpoint URL", pattern=r"^opc\.tcp://")
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field("None", title="Message security mode")
    security_policy: Literal["Basic256Sha256"] = Field("Basic256Sha256", title="Security policy")
    username: str | None = Field(None, title="User name")
    password_secret: str | None = Field(None, title="Name of the password in the secrets file")
    publishing_interval_ms: float = Field(100, title="Publishing interval", description="ms", ge=10, le=60_000)
    poll_interval_ms: int = Field(1000, title="Poll interval for mode=poll", description="ms", ge=10, le=3_600_000)
    stall_intervals: int = Field(10, title="Publishing intervals without data or keep-alive before reconnecting", ge=3, le=1000)
    timeout_s: float = Field(4.0, title="Request timeout", description="s", gt=0, le=60)
    signals: list[OpcuaSignal] = Field(default_factory=list, title="Signals")
