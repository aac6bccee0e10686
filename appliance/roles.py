"""Who may do what: the box's roles and the one check, used by the API and the
pages (``local_ui``), the guard's commands, the alert and KPI stores, the model
registry and the provisioning. Admin may do everything; the operator logs in
with no PIN."""

from __future__ import annotations

from .errors import PermissionDenied

ROLES: tuple[str, ...] = ("operator", "maintenance", "coordinator", "admin")
LOGIN_ROLES: tuple[str, ...] = ("maintenance", "coordinator", "admin")  # with a PIN
# ``werkvloer guard ...`` run by root or the service user on the box: maintenance without a PIN
# for the guard's two commands (shell access already is that trust), audited under its own name
# (issue 11). Never a login role: the ui cannot sign a grant for it.
CLI_ROLE = "cli"

# Which roles may use a capability.
CAPABILITIES: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "stops": frozenset(ROLES),            # assign a downtime reason, split a stop
    "content": frozenset(ROLES),          # blueprint progress, the check
    "guard.reset": frozenset({*ROLES, CLI_ROLE}),  # the operator resets a stop at the machine
    "alerts": frozenset({"maintenance", "admin"}),
    "alerts.label": frozenset({"maintenance", "coordinator", "admin"}),  # true / false alarm, for retraining
    "guard.mode": frozenset({"maintenance", "admin", CLI_ROLE}),  # armed / shadow / off
    "kpi": frozenset({"coordinator", "maintenance", "admin"}),
    "kpi.edit": frozenset({"coordinator", "admin"}),
    "models": frozenset({"maintenance", "admin"}),
    "models.edit": frozenset({"admin"}),
    "settings": frozenset({"admin"}),
    "sync.consent": frozenset({"coordinator", "admin"}),  # what leaves the box (DESIGN.md)
}


def may(role: str | None, capability: str) -> bool:
    """Whether ``role`` may use ``capability`` (a key of :data:`CAPABILITIES`)."""
    return role is not None and role in CAPABILITIES[capability]


def roles_for(capability: str) -> tuple[str, ...]:
    """The roles that may use ``capability``, in the order of :data:`ROLES` (the shell role last)."""
    return tuple(r for r in (*ROLES, CLI_ROLE) if r in CAPABILITIES[capability])


def require(role: str | None, capability: str) -> str:
    """``role`` if it may use ``capability``, else ``PermissionDenied``."""
    if not may(role, capability):
        raise PermissionDenied(f"role {role or 'none'} may not do {capability}; log in with a role that may")
    assert role is not None
    return role


def check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    """``ValueError`` for a role that does not exist, ``PermissionDenied`` for one not in ``allowed``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if role not in allowed:
        raise PermissionDenied(f"role {role!r} may not do this; log in as {' or '.join(allowed)}")
