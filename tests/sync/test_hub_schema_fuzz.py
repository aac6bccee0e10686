"""Schema fuzzing of the hub's API (schemathesis against its OpenAPI
document, bounded examples): no answer is a 5xx; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from sync.hub import store
from sync.hub.app import create_app
from sync.hub.db import Database


def test_no_5xx(hub_db_url: str) -> None:
    db = Database(hub_db_url)
    token = store.create_token(db, "cel-1")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(db))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/batches", "/api/v1/health"}
    calls: list[int] = []
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            headers = {"Authorization": f"Bearer {token}"} if case.path == "/api/v1/batches" else {}
            response = case.call(headers=headers)
            calls.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    db.close()
    assert len(calls) > 60 and not [c for c in calls if c >= 500]
    print("status codes:", {c: calls.count(c) for c in sorted(set(calls))})
