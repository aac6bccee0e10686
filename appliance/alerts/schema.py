"""The alert tables (migration set ``werkvloer.alerts``) and their fixed vocabularies."""

from __future__ import annotations

from typing import Any

from sqlite_utils.migrations import Migrations

from appliance.roles import roles_for

migrations = Migrations("werkvloer.alerts")

SEVERITIES = ("info", "warning", "critical")
LABELS = ("true", "false", "unsure")
LABEL_ROLES = roles_for("alerts.label")
NS = 1_000_000_000


@migrations()
def m001_alerts(db: Any) -> None:
    db.execute("""
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            detail TEXT,
            dedupe_key TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'raised',
            first_ts INTEGER NOT NULL,
            last_ts INTEGER NOT NULL,
            count INTEGER NOT NULL DEFAULT 1,
            flapping INTEGER NOT NULL DEFAULT 0,
            suppressed INTEGER NOT NULL DEFAULT 0,
            ack_ts INTEGER, ack_role TEXT,
            label TEXT, label_ts INTEGER, label_role TEXT, comment TEXT,
            closed_ts INTEGER, closed_role TEXT
        )""")
    db.execute("CREATE INDEX alerts_key ON alerts(dedupe_key, first_ts)")
    db.execute("CREATE INDEX alerts_first ON alerts(first_ts)")
    db.execute("""
        CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            ts INTEGER NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT
        )""")
    db.execute("CREATE INDEX alert_events_alert ON alert_events(alert_id)")
    # kind: window (data = float32 BLOB of one signal), snapshot (path), values (json)
    db.execute("""
        CREATE TABLE alert_evidence (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            kind TEXT NOT NULL,
            name TEXT,
            rate_hz REAL,
            start_ts INTEGER,
            data BLOB,
            json TEXT,
            path TEXT
        )""")
    db.execute("CREATE INDEX alert_evidence_alert ON alert_evidence(alert_id)")
