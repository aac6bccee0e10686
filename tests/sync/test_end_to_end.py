"""Box to hub over TLS on loopback (a test CA made in the test): 7 simulated
days arrive exactly once, in order; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Clock, box_config
from .helpers import (
    DAY,
    HOUR_NS,
    T0,
    box_hours,
    box_with_history,
    contiguous,
    fill,
    hourly_pushes,
    hub_batches,
    hub_hours,
    make_box,
)


def test_seven_days_arrive_exactly_once_in_order(hub_db_url: str, tls: dict[str, Path], hub_factory,
                                                  tmp_path: Path) -> None:
    hub = hub_factory(hub_db_url, tls).start()
    token = hub.cli("token", "create", "cel-1")
    cfg, clock, ob, client = box_with_history(hub.url, token, tmp_path, 7, ca_file=tls["ca"])

    results = hourly_pushes(client, clock, T0 + 2 * HOUR_NS)
    # Send the same batches again from the box's side: the hub must not double them.
    for sealed in ob.batches():
        assert client.transport.post(ob.body(sealed.loan, sealed.seq) or b"", {
            "Authorization": f"Bearer {token}", "Idempotency-Key": f"{sealed.loan}:{sealed.seq}",
            "Content-Type": "application/json"})[0] == 200

    sent = [s for r in results for s in r.sent]
    assert sent and all(s.outcome == "delivered" for s in sent)
    assert [s.seq for s in sent] == sorted(s.seq for s in sent)
    held = hub_batches(hub_db_url)
    assert contiguous([seq for _, seq, _ in held])
    assert {loan for loan, _, _ in held} == {ob.loan}
    # The hub holds each batch's sealed bytes: same sha256 as the box sealed.
    assert [sha for _, _, sha in held] == [b.sha256 for b in ob.batches()]
    # Every hour of the 7 days, exactly once, with the box's good count.
    assert hub_hours(hub_db_url) == box_hours(ob, T0 - 7 * DAY, T0)
    assert len(hub_hours(hub_db_url)) == 7 * 16  # two 8-hour shifts a day
    assert all(b.state == "delivered" for b in ob.batches())

    boxes = json.loads(hub.cli("boxes", "--json"))
    assert boxes == [{"box": "cel-1", "batches": len(held), "last_seq": len(held),
                      "last_contact": boxes[0]["last_contact"]}]
    assert boxes[0]["last_contact"]


def test_tls_is_verified_against_the_pinned_ca(tls: dict[str, Path], hub_factory, tmp_path: Path) -> None:
    """A hub whose certificate is not signed by the pinned CA gets nothing."""
    from .conftest import make_ca

    hub = hub_factory(f"sqlite:///{tmp_path / 'hub.db'}", tls).start()
    token = hub.cli("token", "create", "cel-1")
    other_ca = make_ca(tmp_path / "other")["ca"]
    cfg = box_config(tmp_path / "box", url=hub.url, ca_file=other_ca)
    fill(cfg, 1)
    clock = Clock(T0 + HOUR_NS)
    ob, client = make_box(cfg, token, clock)
    res = client.push()
    assert res.sent and res.sent[0].outcome == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in res.sent[0].detail
    assert hub_batches(hub.db_url) == []
    assert ob.batches(state="pending")


@pytest.mark.parametrize("url", ["http://192.0.2.1:8443", "ftp://127.0.0.1/"])
def test_plain_http_only_to_loopback(tmp_path: Path, url: str) -> None:
    from appliance.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback"):
        box_config(tmp_path, url=url)
