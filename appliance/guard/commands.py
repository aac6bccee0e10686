"""Commands: the mode (armed / shadow / off), the reset, the physical reset button. Mixed into ``Guard``.

Who may do what (``appliance.roles``, capabilities ``guard.mode`` and
``guard.reset``): the mode is maintenance's or the admin's, the reset anyone's
(the operator resets at the machine); ``werkvloer guard`` over a shell acts as
role ``cli``. Every command is audited; the mode is persisted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.errors import PermissionDenied
from appliance.roles import CAPABILITIES, may

from . import store
from .bank import OutputBank
from .latch import Latch

log = logging.getLogger(__name__)


class GuardCommands:
    # Provided by the guard.
    cfg: Any
    _mode: str
    _trip_lock: threading.RLock
    _latch: Latch
    _bank: OutputBank
    _writer: store.GuardWriter
    _bindings: list[Any]
    _rules: list[Any]
    _gpio_factory: Any
    _reset_button: Any

    status: Callable[[], dict[str, Any]]  # GuardStatus
    _alert: Callable[..., None]  # TripHandling

    def set_mode(self, mode: str, role: str) -> dict[str, Any]:
        """off | shadow | armed. Maintenance or admin only; audited; persisted."""
        if not may(role, "guard.mode"):
            raise PermissionDenied(f"role {role!r} may not change the guard mode; log in as maintenance or admin")
        if mode not in store.MODES:
            raise ValueError(f"guard mode {mode!r} unknown; use one of {', '.join(store.MODES)}")
        old = self._mode
        with self._trip_lock:
            self._mode = mode
        if mode != old:
            log.info("guard mode %s -> %s (role %s)", old, mode, role)
        self._writer.put(store.SettingRecord(store.MODE_KEY, mode))
        self._writer.put(store.AuditRecord(ts=time.time_ns(), role=role, action="guard.set_mode", target="guard",
                                           detail=f"{old} -> {mode}"))
        return self.status()

    def reset(self, role: str, *, source: str = "ui") -> dict[str, Any]:
        """Release a latched stop (any role: the operator resets at the machine). Audited."""
        if not may(role, "guard.reset"):
            raise PermissionDenied(f"role {role!r} unknown; one of {', '.join(sorted(CAPABILITIES['guard.reset']))}")
        now = time.monotonic_ns()
        with self._trip_lock:
            errors = [f"{r.name}: {r.error}" for r in self._bank.release_all() if not r.ok]
            was = self._latch.reset()
            for b in self._bindings:
                b.reset_requested = True
            for r in self._rules:
                r.reset(now)
        ts = time.time_ns()
        if was:
            self._writer.put(store.ResetRecord(ts=ts, role=role, source=source))
            log.info("guard reset by %s (%s)", role, source)
        self._writer.put(store.AuditRecord(ts=ts, role=role, action="guard.reset", target="guard",
                                           detail=f"source {source}; was {'tripped' if was else 'not tripped'}"
                                                  + (f"; release failed: {'; '.join(errors)}" if errors else "")))
        return self.status()

    def _open_reset_button(self) -> None:
        from drivers.gpio.button import PushButton

        try:
            self._reset_button = PushButton(self.cfg.reset_pin, lambda: self.reset("operator", source="button"),
                                            pin_factory=self._gpio_factory)
        except Exception as exc:
            log.error("guard: reset button on GPIO%s cannot be used: %s", self.cfg.reset_pin, exc)
            self._alert(kind="guard.output", severity="warning", dedupe_key="guard.reset_button",
                        title={"nl": f"Resetknop op GPIO{self.cfg.reset_pin} is niet te gebruiken",
                               "en": f"Reset button on GPIO{self.cfg.reset_pin} cannot be used"},
                        detail={"nl": "Geef een stop van de box vrij op het scherm tot de knop werkt. Controleer de "
                                      "bedrading en het pinnummer in de instellingen (guard.reset_pin).",
                                "en": "Reset the stop on the screen until the button works. Check the wiring and the "
                                      "pin number in the configuration (guard.reset_pin).", "error": str(exc)})
