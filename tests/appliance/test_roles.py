"""The one role table (appliance.roles): the guard, the ui and the shell CLI read it."""

from __future__ import annotations

import pytest

from appliance.errors import PermissionDenied
from appliance.roles import CAPABILITIES, CLI_ROLE, LOGIN_ROLES, ROLES, may, require


def test_the_shell_role_may_only_arm_and_reset_and_never_logs_in() -> None:
    assert {c for c, roles in CAPABILITIES.items() if CLI_ROLE in roles} == {"guard.mode", "guard.reset"}
    assert CLI_ROLE not in ROLES and CLI_ROLE not in LOGIN_ROLES


def test_the_guard_mode_is_maintenances_and_the_reset_anyones() -> None:
    assert [r for r in ROLES if may(r, "guard.mode")] == ["maintenance", "admin"]
    assert [r for r in ROLES if may(r, "guard.reset")] == list(ROLES)
    assert not may(None, "guard.reset") and not may("setter", "guard.reset")
    with pytest.raises(PermissionDenied, match="operator may not do guard.mode"):
        require("operator", "guard.mode")


def test_the_stores_check_the_same_table() -> None:
    from appliance.alerts import LABEL_ROLES
    from appliance.models.registry import MODEL_ROLES
    from appliance.roles import roles_for

    assert LABEL_ROLES == roles_for("alerts.label") == ("maintenance", "coordinator", "admin")
    assert MODEL_ROLES == roles_for("models") == ("maintenance", "admin")
    assert roles_for("kpi.edit") == roles_for("sync.consent") == ("coordinator", "admin")
    assert roles_for("guard.mode") == ("maintenance", "admin", CLI_ROLE)
