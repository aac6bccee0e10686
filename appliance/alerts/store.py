"""``AlertStore``: raise (with de-duplication and flapping), acknowledge,
label, comment, close, list and count the alerts in the box database."""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.roles import ROLES, check_role
from appliance.storage import audit_row, raw_conn, write_tx

from .schema import LABEL_ROLES, LABELS, NS, SEVERITIES

log = logging.getLogger(__name__)


@dataclass
class Alert:
    id: int
    source: str
    kind: str
    severity: str
    title: str
    detail: str | None
    dedupe_key: str
    state: str
    first_ts: int
    last_ts: int
    count: int
    flapping: bool
    suppressed: int
    ack_ts: int | None
    ack_role: str | None
    label: str | None
    label_ts: int | None
    label_role: str | None
    comment: str | None
    closed_ts: int | None
    closed_role: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)


class AlertStore:
    """Alert rows on one connection. Each call is its own short transaction."""

    def __init__(self, db: Any, *, flap_window_s: float = 600.0, flap_threshold: int = 3) -> None:
        self.conn = raw_conn(db)
        self.flap_window_ns = int(flap_window_s * NS)
        self.flap_threshold = flap_threshold
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction at a time on this store's connection."""
        with self._lock, write_tx(self.conn) as c:
            yield c

    # ------------------------------------------------------------- raise
    def raise_alert(self, *, source: str, kind: str, severity: str, title: str | Mapping[str, str],
                    detail: str | Mapping[str, Any] | None = None, dedupe_key: str, evidence: dict[str, Any] | None = None,
                    ts_ns: int | None = None) -> int:
        if severity not in SEVERITIES:
            raise ValueError(f"severity {severity!r}: use one of {', '.join(SEVERITIES)}")
        title = encode_title(title)
        detail = encode_detail(detail)
        for name, v in (("source", source), ("kind", kind), ("dedupe_key", dedupe_key)):
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"alert {name} must be a non-empty text")
        ts = ts_ns or time.time_ns()
        with self._tx() as c:
            row = c.execute("SELECT id FROM alerts WHERE dedupe_key = ? AND state != 'closed' "
                            "ORDER BY id DESC LIMIT 1", [dedupe_key]).fetchone()
            if row is not None:
                c.execute("UPDATE alerts SET count = count + 1, last_ts = max(last_ts, ?) WHERE id = ?", [ts, row[0]])
                self._event(c, row[0], ts, source, "repeated", None)
                return int(row[0])
            recent = c.execute("SELECT id FROM alerts WHERE dedupe_key = ? AND first_ts >= ? ORDER BY id DESC",
                               [dedupe_key, ts - self.flap_window_ns]).fetchall()
            if len(recent) >= self.flap_threshold:
                aid = recent[0][0]
                c.execute("UPDATE alerts SET count = count + 1, suppressed = suppressed + 1, flapping = 1, "
                          "last_ts = max(last_ts, ?) WHERE id = ?", [ts, aid])
                self._event(c, aid, ts, source, "suppressed_flapping", None)
                return int(aid)
            cur = c.execute("INSERT INTO alerts(source, kind, severity, title, detail, dedupe_key, first_ts, last_ts) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [source, kind, severity, title, detail, dedupe_key, ts, ts])
            aid = int(cur.lastrowid or 0)
            self._event(c, aid, ts, source, "raised", {"severity": severity})
            if evidence:
                self._store_evidence(c, aid, evidence)
            return aid

    def _event(self, c: sqlite3.Connection, aid: int, ts: int, role: str, action: str, detail: Any) -> None:
        c.execute("INSERT INTO alert_events(alert_id, ts, role, action, detail) VALUES (?, ?, ?, ?, ?)",
                  [aid, ts, role, action, None if detail is None else json.dumps(detail, default=str)])

    def _store_evidence(self, c: sqlite3.Connection, aid: int, evidence: dict[str, Any]) -> None:
        """Evidence dict: ``window`` {signal: 1-D array}, ``rate_hz`` (float or {signal: float}),
        ``window_start_ts`` (UTC ns), ``snapshot`` (local file path); other keys stored as JSON."""
        ev = dict(evidence)
        window = ev.pop("window", None) or {}
        rate = ev.pop("rate_hz", None)
        start = ev.pop("window_start_ts", None)
        snapshot = ev.pop("snapshot", None)
        for name, data in dict(window).items():
            arr = np.asarray(data, dtype="<f4").ravel()
            r = rate.get(name) if isinstance(rate, dict) else rate
            c.execute("INSERT INTO alert_evidence(alert_id, kind, name, rate_hz, start_ts, data) "
                      "VALUES (?, 'window', ?, ?, ?, ?)", [aid, str(name), r, start, arr.tobytes()])
        if snapshot:
            c.execute("INSERT INTO alert_evidence(alert_id, kind, path) VALUES (?, 'snapshot', ?)", [aid, str(snapshot)])
        if ev:
            c.execute("INSERT INTO alert_evidence(alert_id, kind, json) VALUES (?, 'values', ?)",
                      [aid, json.dumps(ev, default=_jsonable)])

    # ------------------------------------------------------------- lifecycle
    def _load_state(self, c: sqlite3.Connection, alert_id: int) -> str:
        row = c.execute("SELECT state FROM alerts WHERE id = ?", [alert_id]).fetchone()
        if row is None:
            raise ValueError(f"alert {alert_id} does not exist; list alerts to get a valid id")
        return str(row[0])

    def _user_action(self, c: sqlite3.Connection, alert_id: int, role: str, action: str, detail: Any) -> None:
        ts = time.time_ns()
        self._event(c, alert_id, ts, role, action, detail)
        # Serialised here (keys in their given order, as the alert's own events).
        audit_row(c, role=role, action=f"alert.{action}", target=f"alert:{alert_id}", ts=ts,
                  detail=None if detail is None else json.dumps(detail, default=str))

    def acknowledge(self, alert_id: int, *, role: str) -> Alert:
        check_role(role, ROLES)
        with self._tx() as c:
            state = self._load_state(c, alert_id)
            if state != "raised":
                raise ValueError(f"alert {alert_id} is already {state}")
            c.execute("UPDATE alerts SET state = 'acknowledged', ack_ts = ?, ack_role = ? WHERE id = ?",
                      [time.time_ns(), role, alert_id])
            self._user_action(c, alert_id, role, "acknowledge", None)
        return self.get(alert_id)

    def label(self, alert_id: int, label: str, *, role: str, comment: str | None = None) -> Alert:
        check_role(role, LABEL_ROLES)
        if label not in LABELS:
            raise ValueError(f"label {label!r}: use true (real problem), false (false alarm) or unsure")
        if comment is not None and len(comment) > 1000:
            raise ValueError("comment is longer than 1000 characters; shorten it")
        with self._tx() as c:
            state = self._load_state(c, alert_id)
            if state == "closed":
                raise ValueError(f"alert {alert_id} is closed; it can no longer be labelled")
            now = time.time_ns()
            c.execute("UPDATE alerts SET state = 'labelled', label = ?, label_ts = ?, label_role = ?, "
                      "comment = coalesce(?, comment), ack_ts = coalesce(ack_ts, ?), ack_role = coalesce(ack_role, ?) "
                      "WHERE id = ?", [label, now, role, comment, now, role, alert_id])
            self._user_action(c, alert_id, role, "label", {"label": label, "comment": comment})
        return self.get(alert_id)

    def unlabel(self, alert_id: int, *, role: str, back_to: str | None = None) -> Alert:
        """Undo a wrong label: the alert gets ``back_to`` (its label before, or none: acknowledged
        again, so it is back in the review queue). Audited like a label; a closed alert stays closed."""
        check_role(role, LABEL_ROLES)
        if back_to is not None and back_to not in LABELS:
            raise ValueError(f"label {back_to!r}: use true (real problem), false (false alarm) or unsure")
        with self._tx() as c:
            state = self._load_state(c, alert_id)
            if state == "closed":
                raise ValueError(f"alert {alert_id} is closed; its label can no longer be undone")
            was = c.execute("SELECT label FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
            if back_to is None:
                c.execute("UPDATE alerts SET state = 'acknowledged', label = NULL, label_ts = NULL, "
                          "label_role = NULL WHERE id = ?", [alert_id])
            else:
                c.execute("UPDATE alerts SET state = 'labelled', label = ?, label_ts = ?, label_role = ? WHERE id = ?",
                          [back_to, time.time_ns(), role, alert_id])
            self._user_action(c, alert_id, role, "unlabel", {"from": was, "to": back_to})
        return self.get(alert_id)

    def close(self, alert_id: int, *, role: str) -> Alert:
        check_role(role, LABEL_ROLES)
        with self._tx() as c:
            state = self._load_state(c, alert_id)
            if state == "closed":
                raise ValueError(f"alert {alert_id} is already closed")
            if state != "labelled":
                raise ValueError(f"label alert {alert_id} (true / false / unsure) before closing it")
            c.execute("UPDATE alerts SET state = 'closed', closed_ts = ?, closed_role = ? WHERE id = ?",
                      [time.time_ns(), role, alert_id])
            self._user_action(c, alert_id, role, "close", None)
        return self.get(alert_id)

    # ------------------------------------------------------------- reads
    def get(self, alert_id: int) -> Alert:
        c = self.conn
        rows = _dicts(c, "SELECT * FROM alerts WHERE id = ?", [alert_id])
        if not rows:
            raise ValueError(f"alert {alert_id} does not exist; list alerts to get a valid id")
        a = _alert(rows[0])
        a.events = _dicts(c, "SELECT ts, role, action, detail FROM alert_events WHERE alert_id = ? ORDER BY id",
                          [alert_id])
        for ev in _dicts(c, "SELECT kind, name, rate_hz, start_ts, data, json, path FROM alert_evidence "
                            "WHERE alert_id = ? ORDER BY id", [alert_id]):
            data = ev.pop("data")
            if data is not None:
                ev["values"] = np.frombuffer(data, dtype="<f4")
            if ev["json"]:
                ev["values"] = json.loads(ev["json"])
            ev.pop("json")
            a.evidence.append(ev)
        return a

    def list(self, *, state: str | None = None, open_only: bool = False, source: str | None = None,
             kind: str | None = None, since_ns: int | None = None, until_ns: int | None = None,
             limit: int = 200) -> list[Alert]:
        sql, args = "SELECT * FROM alerts WHERE 1 = 1", []
        for cond, val in (("state = ?", state), ("source = ?", source), ("kind = ?", kind),
                          ("last_ts >= ?", since_ns), ("first_ts < ?", until_ns)):
            if val is not None:
                sql += f" AND {cond}"
                args.append(val)
        if open_only:
            sql += " AND state != 'closed'"
        sql += " ORDER BY last_ts DESC LIMIT ?"
        return [_alert(r) for r in _dicts(self.conn, sql, [*args, int(limit)])]

    list_alerts = list

    def model_stats(self, *, since_ns: int | None = None, until_ns: int | None = None,
                    source: str | None = None) -> builtins.list[dict[str, Any]]:
        """Per (source, kind) — for the guard: per model or rule — alerts per day and false-alarm share."""
        until_ns = until_ns or time.time_ns()
        sql = ("SELECT source, kind, count(*), sum(count), min(first_ts), "
               "sum(label = 'true'), sum(label = 'false'), sum(label = 'unsure') "
               "FROM alerts WHERE first_ts < ?")
        args: list[Any] = [until_ns]
        if since_ns is not None:
            sql += " AND first_ts >= ?"
            args.append(since_ns)
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        groups: dict[tuple[str, str], list[Any]] = {}
        for src, kind, key, n, raised, first, t, f, u in self.conn.execute(
                sql.replace("SELECT source, kind,", "SELECT source, kind, dedupe_key,")
                + " GROUP BY source, kind, dedupe_key", args).fetchall():
            # A guard trip's dedupe key names its model binding or rule
            # (guard.trip.<name>, guard.shadow.<name>): the stats are per model or rule.
            name = key.split(".", 2)[2] if kind == "guard.trip" and key.count(".") >= 2 else kind
            g = groups.setdefault((src, name), [0, 0, None, 0, 0, 0])
            g[0] += n
            g[1] += raised or 0
            g[2] = first if g[2] is None else min(g[2], first)
            g[3] += t or 0
            g[4] += f or 0
            g[5] += u or 0
        out = []
        for (src, name), (n, raised, first, t, f, u) in sorted(groups.items()):
            start = since_ns if since_ns is not None else first
            days = max((until_ns - start) / (86_400 * NS), 1.0)
            labelled = t + f + u
            out.append({"source": src, "kind": name, "alerts": n, "raised": raised, "days": days,
                        "alerts_per_day": n / days, "labelled": labelled, "true": t, "false": f,
                        "unsure": u, "false_share": f / labelled if labelled else None})
        return out


def encode_title(title: str | Mapping[str, str]) -> str:
    """An alert title as stored: plain text, or ``{"nl": ..., "en": ...}`` as
    JSON so each reader sees it in their own language (``title_in``)."""
    if isinstance(title, str):
        if not title.strip():
            raise ValueError("alert title must be a non-empty text")
        return title[:200]
    texts = {lang: str(text)[:200] for lang, text in title.items() if isinstance(text, str) and text.strip()}
    if not texts.get("nl") and not texts.get("en"):
        raise ValueError("an alert title in two languages needs 'nl' and 'en'")
    _fill_language(texts, "title")
    return json.dumps(texts, ensure_ascii=False, sort_keys=True)


def _fill_language(texts: dict[str, Any], what: str) -> None:
    """A text in one language only is a raiser's bug, but never costs the alert: the other
    language shows the same text (a warning names it, once per text)."""
    for lang, other in (("nl", "en"), ("en", "nl")):
        if not isinstance(texts.get(lang), str) or not texts[lang].strip():
            texts[lang] = texts[other]
            key = (what, texts[other][:60])
            if key not in _WARNED:
                _WARNED.add(key)
                log.warning("alert %s without %r: shown as %r in both languages (%s)", what, lang, other,
                            texts[other][:80])


_WARNED: set[tuple[str, str]] = set()


def title_in(stored: str, lang: str) -> str:
    """The stored title in ``lang`` (English as fallback); plain titles as they are."""
    if stored.startswith("{"):
        try:
            texts = json.loads(stored)
        except ValueError:
            return stored
        if isinstance(texts, dict) and texts:
            return str(texts.get(lang) or texts.get("en") or next(iter(texts.values())))
    return stored


def encode_detail(detail: str | Mapping[str, Any] | None) -> str | None:
    """An alert detail as stored: ``{"nl": ..., "en": ...}`` as JSON (the sentence in each
    language), with an optional ``"error"`` (a library's or the OS's own error text, shown as it
    is, never translated) and other structured keys of the raiser (the guard's ``"rule"`` and
    ``"outputs"``). Plain text is stored as it is (old rows, tools)."""
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail[:2000] or None
    out: dict[str, Any] = {k: v for k, v in detail.items() if v is not None}
    if not any(isinstance(out.get(lang), str) and out[lang].strip() for lang in ("nl", "en")):
        raise ValueError("an alert detail in two languages needs 'nl' and 'en'")
    _fill_language(out, "detail")
    for lang in ("nl", "en"):
        out[lang] = out[lang][:1000]
    if "error" in out:
        out["error"] = str(out["error"])[:500]
        if not out["error"].strip():
            del out["error"]
    return json.dumps(out, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class DetailText:
    """A stored detail for one reader: ``text`` in their language (an old plain row as it was
    stored: ``plain``), ``error`` the raw technical error, ``data`` the stored mapping."""
    text: str
    error: str | None = None
    plain: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def detail_in(stored: str | None, lang: str) -> DetailText:
    """The stored detail in ``lang`` (English as fallback); plain text as it is."""
    if not stored:
        return DetailText("")
    if stored.startswith("{"):
        try:
            data = json.loads(stored)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("en") or data.get("nl"), str):
            error = data.get("error")
            return DetailText(str(data.get(lang) or data.get("en") or data.get("nl")),
                              None if error is None else str(error), False, data)
    return DetailText(stored, None, True)


def nl_number(x: float, spec: str = "g") -> str:
    """A number for a Dutch sentence: decimal comma (``23,341``)."""
    return format(x, spec).replace(".", ",")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _dicts(c: sqlite3.Connection, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    cur = c.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _alert(r: dict[str, Any]) -> Alert:
    r = dict(r)
    r["flapping"] = bool(r["flapping"])
    return Alert(**r)
