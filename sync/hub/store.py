"""What the hub does with a batch: tokens, idempotent intake, the box list.

Intake (``ingest``) follows the IETF idempotency-key draft
(draft-ietf-httpapi-idempotency-key-header): the key is scoped per box; the
same key and body again gets the first answer; the same key with another
body gets 422; a retry while the first is still in progress gets 409. Under
the idempotency layer the batch rows themselves are keyed on (loan, seq), so
a batch is stored once even if that layer were bypassed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..schema import Batch, Receipt, parse_batch, sha256_hex
from .db import KPI_COLS, Database

NS = 1_000_000_000
# An 'in progress' idempotency row older than this belongs to a request that
# died with its process (hub killed mid-batch): the retry takes it over. It must
# not be longer than the box's shortest backoff (30 s, sync/client.py), or the
# box's first retry after a hub crash meets a 409 for a request nobody serves.
STALE_IN_PROGRESS_S = 30.0
MAX_BODY = 1_000_000


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def hash_token(token: str) -> str:
    # Tokens are 256-bit random: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, box: str, *, role: str = "box", now_ns: int | None = None) -> str:
    """A new token for ``box`` (or a coordinator, ``role="coordinator"``: the hub's pages);
    replaces an earlier one of that name; only its hash is stored."""
    if role not in ("box", "coordinator"):
        raise ValueError("role: box or coordinator")
    if not box or len(box) > 64 or not all(ch.isalnum() or ch in "-_." for ch in box):
        raise ValueError("box label: 1-64 letters, digits, '-', '_' or '.'")
    token = "wvh_" + secrets.token_urlsafe(32)
    now = now_ns or time.time_ns()
    with db.tx() as c:
        c.execute("DELETE FROM hub_tokens WHERE box = ?", [box])
        c.execute("INSERT INTO hub_tokens(box, token_hash, role, created_ts) VALUES (?, ?, ?, ?)",
                  [box, hash_token(token), role, now])
    return token


def revoke_token(db: Database, box: str) -> bool:
    with db.tx() as c:
        return c.execute("UPDATE hub_tokens SET revoked_ts = ? WHERE box = ? AND revoked_ts IS NULL",
                         [time.time_ns(), box]) > 0


def box_for_token(db: Database, token: str | None, *, role: str = "box") -> str | None:
    if not token:
        return None
    with db.tx() as c:
        row = c.one("SELECT box FROM hub_tokens WHERE token_hash = ? AND role = ? AND revoked_ts IS NULL",
                    [hash_token(token), role])
    return row[0] if row else None


SESSION_S = 8 * 3600  # a coordinator's working day; then log in again


def open_session(db: Database, coordinator: str, *, now_ns: int | None = None) -> str:
    """A login session of ``coordinator``; the returned id goes in the cookie, only its hash is stored."""
    sid = "wvs_" + secrets.token_urlsafe(32)
    now = now_ns or time.time_ns()
    with db.tx() as c:
        c.execute("DELETE FROM hub_sessions WHERE expires_ts <= ?", [now])
        c.execute("INSERT INTO hub_sessions(session_hash, box, created_ts, expires_ts) VALUES (?, ?, ?, ?)",
                  [hash_token(sid), coordinator, now, now + SESSION_S * NS])
    return sid


def session_coordinator(db: Database, sid: str | None, *, now_ns: int | None = None) -> str | None:
    """The coordinator of a live session (its token not revoked since), or None."""
    if not sid:
        return None
    with db.tx() as c:
        row = c.one("SELECT s.box FROM hub_sessions s JOIN hub_tokens t ON t.box = s.box "
                    "WHERE s.session_hash = ? AND s.expires_ts > ? AND t.role = 'coordinator' "
                    "AND t.revoked_ts IS NULL", [hash_token(sid), now_ns or time.time_ns()])
    return row[0] if row else None


def close_session(db: Database, sid: str | None) -> bool:
    if not sid:
        return False
    with db.tx() as c:
        return c.execute("DELETE FROM hub_sessions WHERE session_hash = ?", [hash_token(sid)]) > 0


def boxes(db: Database) -> list[dict[str, Any]]:
    """Each box: batches held, highest seq, last contact (UTC ISO), over all its loans."""
    with db.tx() as c:
        rows = c.all("SELECT t.box, count(b.seq), max(b.seq), max(l.last_contact) FROM hub_tokens t "
                     "LEFT JOIN hub_loans l ON l.box = t.box LEFT JOIN hub_batches b ON b.loan = l.loan "
                     "WHERE t.role = 'box' GROUP BY t.box ORDER BY t.box")
    import datetime as dt

    return [{"box": r[0], "batches": int(r[1] or 0), "last_seq": int(r[2] or 0),
             "last_contact": (dt.datetime.fromtimestamp(r[3] / NS, dt.UTC).isoformat(timespec="seconds")
                              if r[3] else None)} for r in rows]


def _problem(status: int, detail: str, **extra: Any) -> Answer:
    return Answer(status, {"detail": detail, **extra})


def ingest(db: Database, *, box: str, key: str | None, body: bytes, now_ns: int | None = None,
           stale_after_s: float = STALE_IN_PROGRESS_S) -> Answer:
    """One POSTed batch from an authenticated box."""
    now = now_ns or time.time_ns()
    if not key:
        return _problem(400, "Idempotency-Key header missing: send '<loan>:<seq>'")
    if len(body) > MAX_BODY:
        return _problem(413, f"batch larger than {MAX_BODY} bytes")
    body_sha = sha256_hex(body)
    with db.tx() as c:
        row = c.one("SELECT body_sha, state, status, response, ts FROM hub_idem WHERE box = ? AND key = ?", [box, key])
        if row is None:
            if not c.execute("INSERT INTO hub_idem(box, key, body_sha, state, ts) VALUES (?, ?, ?, 'in_progress', ?) "
                             "ON CONFLICT (box, key) DO NOTHING", [box, key, body_sha, now]):
                # Another worker inserted the same key between our read and our write.
                return Answer(409, {"detail": "a request with this Idempotency-Key is still in progress"},
                              {"Retry-After": "2"})
        elif row[0] != body_sha:
            return _problem(422, "this Idempotency-Key was used with a different body")
        elif row[1] == "done":
            return Answer(int(row[2]), json.loads(row[3]))
        elif (now - int(row[4])) / NS < stale_after_s:
            return Answer(409, {"detail": "a request with this Idempotency-Key is still in progress"},
                          {"Retry-After": "2"})
        else:
            c.execute("UPDATE hub_idem SET ts = ? WHERE box = ? AND key = ?", [now, box, key])
    try:
        answer = _store(db, box=box, key=key, body=body, body_sha=body_sha, now=now)
    except BaseException:
        with db.tx() as c:
            c.execute("DELETE FROM hub_idem WHERE box = ? AND key = ? AND state = 'in_progress'", [box, key])
        raise
    return answer


def _finish(c: Any, box: str, key: str, answer: Answer) -> Answer:
    c.execute("UPDATE hub_idem SET state = 'done', status = ?, response = ? WHERE box = ? AND key = ?",
              [answer.status, json.dumps(answer.body), box, key])
    return answer


def _store(db: Database, *, box: str, key: str, body: bytes, body_sha: str, now: int) -> Answer:
    try:
        batch = parse_batch(body)
    except ValidationError as exc:
        errs = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)[:20]]
        with db.tx() as c:
            return _finish(c, box, key, _problem(422, "not a valid batch (schema version 1)", errors=errs))
    if key != f"{batch.loan}:{batch.seq}":
        with db.tx() as c:
            return _finish(c, box, key, _problem(422, "Idempotency-Key must be '<loan>:<seq>' of the batch"))
    with db.tx() as c:
        owner = c.one("SELECT box FROM hub_loans WHERE loan = ?", [batch.loan])
        if owner is not None and owner[0] != box:
            return _finish(c, box, key, _problem(403, "this loan id belongs to another box's token"))
        if owner is None:
            c.execute("INSERT INTO hub_loans(loan, box, programme, sector, size_class, first_ts, last_contact) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (loan) DO NOTHING",
                      [batch.loan, box, batch.programme, batch.sector, batch.size_class, now, now])
        held = c.one("SELECT sha256 FROM hub_batches WHERE loan = ? AND seq = ?", [batch.loan, batch.seq])
        if held is not None and held[0] != body_sha:
            return _finish(c, box, key, _problem(422, f"seq {batch.seq} is already held with other content"))
        stored = held is None
        if stored:
            c.execute("INSERT INTO hub_batches(loan, seq, sha256, body, received_ts) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT (loan, seq) DO NOTHING", [batch.loan, batch.seq, body_sha, body.decode("ascii"), now])
            _explode(c, batch)
        hc = _advance(c, batch.loan)
        c.execute("UPDATE hub_loans SET last_contact = ?, programme = ?, sector = ?, size_class = ? WHERE loan = ?",
                  [now, batch.programme, batch.sector, batch.size_class, batch.loan])
        receipt = Receipt(loan=batch.loan, seq=batch.seq, stored=stored, highest_contiguous_seq=hc)
        return _finish(c, box, key, Answer(200, receipt.model_dump()))


def _explode(c: Any, batch: Batch) -> None:
    """The batch's periods and alert counts as rows, each table in one multi-row INSERT
    (one round trip on PostgreSQL instead of one per row)."""
    cols = ", ".join(KPI_COLS)
    rows = [[batch.loan, p.granularity, p.start_ts, p.end_ts, batch.seq, p.phase, *(getattr(p, k) for k in KPI_COLS)]
            for p in batch.periods]
    # A period the box sends again (a correction: a reason or a baseline entered after sealing)
    # replaces the held one when it comes from a later batch; an older batch never overwrites.
    newer = ", ".join(f"{k} = excluded.{k}" for k in ("end_ts", "seq", "phase", *KPI_COLS))
    _insert_many(c, f"hub_periods(loan, granularity, start_ts, end_ts, seq, phase, {cols})", rows,
                 f"(loan, granularity, start_ts) DO UPDATE SET {newer} WHERE hub_periods.seq < excluded.seq")
    _insert_many(c, "hub_alerts(loan, seq, source, kind, alerts, labelled, false_share)",
                 [[batch.loan, batch.seq, a.source, a.kind, a.alerts, a.labelled, a.false_share] for a in batch.alerts],
                 "(loan, seq, source, kind) DO NOTHING")


def _insert_many(c: Any, target: str, rows: list[list[Any]], on_conflict: str) -> None:
    if not rows:
        return
    one = "(" + ", ".join("?" for _ in rows[0]) + ")"
    c.execute(f"INSERT INTO {target} VALUES {', '.join(one for _ in rows)} ON CONFLICT {on_conflict}",
              [v for r in rows for v in r])


def _advance(c: Any, loan: str) -> int:
    hc = int(c.one("SELECT highest_contiguous_seq FROM hub_loans WHERE loan = ?", [loan])[0])
    start = hc
    while c.one("SELECT 1 FROM hub_batches WHERE loan = ? AND seq = ?", [loan, hc + 1]) is not None:
        hc += 1
    if hc != start:
        c.execute("UPDATE hub_loans SET highest_contiguous_seq = ? WHERE loan = ?", [hc, loan])
    return hc
