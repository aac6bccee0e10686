"""The one thing that leaves the box: a KPI batch (schema version 1).

Shared by the box (``sync.outbox`` builds and seals it) and the programme hub
(``sync.hub`` validates it). Strict on both sides: a field that is not named
here is an error (``extra="forbid"``), every model is frozen, every enumerated
value is a ``Literal``. What the fields mean is documented field by field in
the README ("What leaves the box").

There is deliberately no free text anywhere in a batch: no names, comments,
notes, reasons, recipes, images or raw signals; identifiers are a random
pseudonymous loan id, a programme id and SBI/size codes with fixed patterns.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

LOAN_PATTERN = r"^[0-9a-f]{32}$"
# SBI 2008: a section letter (A..U) or a 2-digit division (01..99).
SECTOR_PATTERN = r"^([A-U]|[0-9]{2})$"
SIZE_CLASSES = ("1-9", "10-49", "50-249", "250+")
SizeClass = Literal["1-9", "10-49", "50-249", "250+"]
ConsentLevel = Literal["off", "kpi", "kpi+check"]
Granularity = Literal["hour", "shift", "day"]
Phase = Literal["baseline", "pilot", "none"]

NonNeg = Annotated[float, Field(ge=0, le=1e9)]
Ratio = Annotated[float | None, Field(ge=0, le=10)]
Count = Annotated[int, Field(ge=0, le=10**9)]
# A short machine-made token (model or rule name, shift key) — never prose.
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class KpiPeriod(Strict):
    """One closed KPI period (ISO 22400-2 elements; ratios 0..1, None = undefined)."""

    granularity: Granularity
    start_ts: int = Field(ge=0, description="UTC seconds")
    end_ts: int = Field(ge=0, description="UTC seconds")
    phase: Phase
    planned_s: NonNeg
    run_s: NonNeg
    down_s: NonNeg
    planned_down_s: NonNeg
    setup_s: NonNeg
    no_data_s: NonNeg
    total_count: NonNeg
    good_count: NonNeg
    scrap_count: NonNeg
    micro_stops: Count
    failures: Count
    availability: Ratio = None
    performance: Ratio = None
    quality: Ratio = None
    oee: Ratio = None
    mtbf_s: Annotated[float | None, Field(ge=0)] = None
    mttr_s: Annotated[float | None, Field(ge=0)] = None
    energy_per_good_kwh: Annotated[float | None, Field(ge=0)] = None


class AlertCount(Strict):
    """Alerts raised in the batch's span for one model or rule, and the false-alarm share of the labelled ones."""

    source: Token
    kind: Token
    alerts: Count
    labelled: Count
    false_share: Ratio = None


class CheckScores(Strict):
    """The four domain scores of the workplace-innovation check (only at consent ``kpi+check``)."""

    scores: dict[Token, Annotated[float | None, Field(ge=0, le=100)]] = Field(max_length=4)


class Batch(Strict):
    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    loan: str = Field(pattern=LOAN_PATTERN, description="pseudonymous loan id, random 128 bit")
    seq: int = Field(ge=1, le=2**62, description="per-loan sequence number, contiguous from 1")
    programme: Token
    sector: str = Field(pattern=SECTOR_PATTERN)
    size_class: SizeClass
    consent: Literal["kpi", "kpi+check"]
    consent_version: int = Field(ge=1, le=10_000)
    software_version: str = Field(pattern=r"^[0-9A-Za-z.+-]{1,32}$")
    boot_id: str = Field(pattern=r"^[0-9a-f-]{1,36}$")
    clock_synced: bool
    periods: list[KpiPeriod] = Field(max_length=400)
    alerts: list[AlertCount] = Field(default_factory=list, max_length=200)
    check: CheckScores | None = None


def canonical_bytes(batch: Batch) -> bytes:
    """The frozen bytes of a batch: sorted keys, no spaces, UTF-8. Sealed once, sent as is."""
    return json.dumps(batch.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_batch(data: bytes) -> Batch:
    """Validate received bytes (the hub's side); raises pydantic.ValidationError."""
    return Batch.model_validate_json(data)


class Receipt(Strict):
    """The hub's answer to a batch."""

    loan: str = Field(pattern=LOAN_PATTERN)
    seq: int = Field(ge=1)
    stored: bool = Field(description="false when the hub already held this (loan, seq)")
    highest_contiguous_seq: int = Field(ge=0)
