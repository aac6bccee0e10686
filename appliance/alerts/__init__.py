"""Alerts: from the guard (model or rule), drivers (device lost), KPIs (OEE
below target for a shift) and the box itself (disk, clock jump).

Lifecycle: ``raised`` -> ``acknowledged`` -> ``labelled`` (true alarm / false
alarm / unsure, optional comment) -> ``closed``. Every step is an
``alert_events`` row and, for people, an ``audit`` row with the role.

- De-duplication: raising a ``dedupe_key`` that has an open (not closed) alert
  adds to that alert (``count``, ``last_ts``) instead of a new one.
- Flapping: when ``flap_threshold`` alerts with the same key were created in
  the last ``flap_window_s``, a further raise is attached to the latest of
  them (``flapping`` = 1, ``suppressed`` += 1) instead of creating another.
- Titles and details in both languages: ``title`` and ``detail`` may be
  ``{"nl": ..., "en": ...}`` (stored as JSON; ``title_in`` / ``detail_in`` give
  the reader's language, English as fallback, old plain text as it is). A
  library's or the OS's own error text goes in the detail's ``"error"``: data,
  shown apart from the sentence and never translated.
- Evidence (local only, never synced): the signal window that tripped the
  alert (float32 BLOBs per signal) and the camera snapshot path.

``AlertSink`` is what the guard thread and drivers hold: ``submit`` is
thread-safe and never blocks on SQLite. ``AlertConsumer`` (a thread with
``start``/``stop``) drains it into ``AlertStore``.

The package: ``schema`` (the migration set and the fixed vocabularies),
``store`` (``AlertStore``: raise, de-duplicate, acknowledge, label, close,
statistics), ``sink`` (``AlertSink`` and ``AlertConsumer``, the thread that
drains it). The disk check that raises a box alert: ``appliance.health``.
"""

from __future__ import annotations

from .schema import LABEL_ROLES, LABELS, NS, SEVERITIES, migrations
from .sink import AlertConsumer, AlertSink
from .store import (
           Alert,
           AlertStore,
           DetailText,
           detail_in,
           encode_detail,
           encode_title,
           nl_number,
           title_in,
)

__all__ = ["LABELS", "LABEL_ROLES", "NS", "SEVERITIES", "Alert", "AlertConsumer", "AlertSink", "AlertStore",
           "DetailText", "detail_in", "encode_detail", "encode_title", "migrations", "nl_number", "title_in"]
