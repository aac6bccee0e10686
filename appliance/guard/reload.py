"""Model updates: registry changes applied without a restart (``models.reload``, issue 4).

A ``guard-models`` watcher thread (its own SQLite connection) loads and
validates new versions; each binding's inference thread swaps them in between
two inferences; a version that fails keeps the old model running and raises an
alert. Mixed into :class:`~appliance.guard.engine.Guard` (this module holds the
watcher, the guard the state it works on).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from appliance.errors import ModelError

from .bindings import Binding

log = logging.getLogger(__name__)

COMPARISON_EVERY_S = 60.0  # shadow comparison figures go to the registry at most this often


class ModelReload:
    """The watcher thread and the swap of models into running bindings."""

    # Provided by the guard.
    _registry: Any
    _bindings: list[Binding]
    _model_poll_s: float
    _models_thread: threading.Thread | None
    _reload_cv: threading.Condition
    _reload_asked: int
    _reload_done: int
    _reload_result: dict[str, Any]
    _revision: int | None
    _stopping: threading.Event
    _trip_lock: Any
    db_path: Any
    cfg: Any
    _alert: Any
    _build_routes: Any
    _flush_shadow: Any
    _inference_loop: Any

    def _registry_revision(self, registry: Any = None) -> int | None:
        reg = registry if registry is not None else self._registry
        try:
            return int(reg.revision()) if reg is not None else None
        except Exception:  # a closed connection (the core closes the one it built the guard with)
            return None

    def _open_registry(self) -> tuple[Any, Any]:
        """A registry on the watcher thread's own connection (never the fast path's business)."""
        from .store import open_db

        reg = self._registry
        db = open_db(self.db_path)
        try:
            return type(reg)(db, data_dir=reg.models_dir.parent, shipped_dir=reg.shipped_dir), db
        except BaseException:
            db.conn.close()
            raise

    def reload_models(self, *, wait_s: float = 10.0) -> dict[str, Any]:
        """Apply the registry's active/shadow versions now (IPC ``models.reload``).

        The watcher thread loads and validates the new versions, then each
        binding's inference thread swaps them in between two inferences. A
        version that fails to load is not used: the old one keeps running and
        an alert says why. Returns ``{"ok", "pending", "models": [...]}``;
        ``pending`` when the result is not there within ``wait_s``.
        """
        if self._registry is None or all(b.fixed for b in self._bindings):
            return {"ok": True, "pending": False, "models": [], "note": "the guard runs no registry models"}
        t = self._models_thread
        if t is None or not t.is_alive():
            reg, db = self._open_registry()  # not started: do it here
            try:
                return self._reload_once(reg)
            finally:
                db.conn.close()
        with self._reload_cv:
            self._reload_asked += 1
            mine = self._reload_asked
            self._reload_cv.notify_all()
            done = self._reload_cv.wait_for(lambda: self._reload_done >= mine or self._stopping.is_set(), wait_s)
            if not done or self._reload_done < mine:
                return {"ok": True, "pending": True, "models": []}
            return dict(self._reload_result)

    def _models_loop(self) -> None:
        reg = db = None
        next_record = time.monotonic() + COMPARISON_EVERY_S
        try:
            while not self._stopping.is_set():
                with self._reload_cv:
                    self._reload_cv.wait_for(lambda: self._reload_asked > self._reload_done
                                             or self._stopping.is_set(), self._model_poll_s)
                    asked = self._reload_asked
                if self._stopping.is_set():
                    break
                try:
                    if reg is None:
                        reg, db = self._open_registry()
                    rev = self._registry_revision(reg)
                    result: dict[str, Any] | None = None
                    if asked > self._reload_done or (rev is not None and rev != self._revision):
                        self._record_comparisons(reg)
                        result = self._reload_once(reg)
                        self._revision = rev
                    elif time.monotonic() >= next_record:
                        self._record_comparisons(reg)
                        next_record = time.monotonic() + COMPARISON_EVERY_S
                except Exception as exc:  # the database briefly unreadable: try again next poll
                    log.error("guard: checking the model registry failed: %s", exc)
                    result = {"ok": False, "pending": False, "models": [], "error": str(exc)}
                    if db is not None:
                        db.conn.close()
                    reg = db = None
                if asked > self._reload_done:
                    with self._reload_cv:
                        self._reload_done = asked
                        self._reload_result = result or {"ok": True, "pending": False, "models": []}
                        self._reload_cv.notify_all()
            if reg is not None:
                self._record_comparisons(reg)
        except Exception:
            log.exception("guard: model watcher stopped")
        finally:
            if db is not None:
                db.conn.close()

    def _record_comparisons(self, reg: Any) -> None:
        """Agreement and correlation of each shadow with its active model -> the registry (model page)."""
        from appliance.models.registry import ShadowComparison

        for b in self._bindings:
            a, model, shadow = b.agree, b.model, b.shadow
            n = a["windows"]
            if model is None or shadow is None or n == 0 or n == b.agree_recorded:
                continue
            b.agree_recorded = n
            corr = b.correlation()
            cmp = ShadowComparison(n=n, agreement_rate=(a["both_hit"] + a["neither"]) / n,
                                   correlation=math.nan if corr is None else corr,
                                   mean_abs_diff=a["abs_diff_sum"] / n,
                                   active_alarm_rate=(a["both_hit"] + a["active_only"]) / n,
                                   shadow_alarm_rate=(a["both_hit"] + a["shadow_only"]) / n)
            try:
                reg.record_comparison(b.cfg.model, cmp, active_version=model.version, shadow_version=shadow.version)
            except Exception as exc:
                log.error("guard: storing the shadow comparison of %s failed: %s", b.name, exc)

    def _reload_once(self, reg: Any) -> dict[str, Any]:
        out = []
        ok = True
        for b in list(self._bindings):
            if b.fixed:
                continue
            entry = self._reload_binding(reg, b)
            ok = ok and entry["error"] is None
            out.append(entry)
        return {"ok": ok, "pending": False, "models": out}

    def _reload_binding(self, reg: Any, b: Binding) -> dict[str, Any]:
        cfg = b.cfg
        cur_a = b.model.version if b.model is not None else None
        cur_s = b.shadow.version if b.shadow is not None else None
        entry: dict[str, Any] = {"binding": b.name, "model": cfg.model, "active": cur_a, "shadow": cur_s,
                                 "changed": False, "error": None}
        try:
            dep = reg.deployment(cfg.model)
        except Exception as exc:
            entry["error"] = f"registry: {exc}"
            return entry
        want_a = dep.active.version if dep.active is not None else None
        want_s = dep.shadow.version if dep.shadow is not None else None
        if want_a == cur_a and want_s == cur_s:
            return entry
        new_a = new_s = None
        if want_a != cur_a:
            try:
                new_a = reg.load(cfg.model, slot="active", num_threads=cfg.threads)
                if b.model is not None and new_a.manifest.inputs != b.model.manifest.inputs:
                    # Another window, hop or inputs: a fresh binding with its own rings checks them.
                    probe = Binding(cfg, new_a, None, None)
                    if probe.model is None:
                        raise ModelError(probe.error or "inputs do not fit the binding")
            except Exception as exc:
                return self._update_failed(b, entry, want_a or "?", "active", exc)
        shadow_changed = want_s != cur_s
        if shadow_changed and want_s is not None:
            try:
                new_s = reg.load(cfg.model, slot="shadow", num_threads=cfg.threads)
            except Exception as exc:
                self._update_failed(b, entry, want_s, "shadow", exc)
                shadow_changed = False  # keep comparing with the shadow it has
        if new_a is None and not shadow_changed:
            return entry
        in_place = (b.thread is not None and b.thread.is_alive() and b.state == "ok" and b.model is not None
                    and (new_a is None or new_a.manifest.inputs == b.model.manifest.inputs))
        if in_place:
            b.swapped.clear()
            b.swap = (new_a, new_s, shadow_changed)
            b.q.put("swap")
            if not b.swapped.wait(max(1.0, self.cfg.inference_timeout_ms / 1000)):
                log.warning("guard: %s takes the new model after its current inference", b.name)
        else:
            try:
                self._replace_binding(b, reg, new_a, new_s if shadow_changed else None)
            except Exception as exc:
                return self._update_failed(b, entry, want_a or "?", "active", exc)
        entry.update(changed=True, active=(new_a.version if new_a is not None else cur_a),
                     shadow=(new_s.version if new_s is not None else None) if shadow_changed else cur_s)
        log.info("guard: %s now runs %s %s%s", b.name, cfg.model, entry["active"],
                 f" with shadow {entry['shadow']}" if entry["shadow"] else "")
        return entry

    def _replace_binding(self, old: Binding, reg: Any, new_a: Any, new_s: Any) -> None:
        """A binding with new rings and a new inference thread (another input layout, or the old
        model is gone, hung or failed). The old thread ends after its current inference."""
        cfg = old.cfg
        if new_a is None:  # only the shadow changed: a fresh active model for the new thread
            new_a = reg.load(cfg.model, slot="active", num_threads=cfg.threads)
        if new_s is None and old.shadow is not None:
            try:
                new_s = reg.load(cfg.model, slot="shadow", num_threads=cfg.threads)
            except Exception:
                new_s = None
        nb = Binding(cfg, new_a, new_s, None)
        if nb.model is None:
            raise ModelError(nb.error or f"model {cfg.model} does not fit binding {cfg.name}")
        self._flush_shadow(old)
        old.retired = True
        with self._trip_lock:
            self._bindings = [nb if x is old else x for x in self._bindings]
            self._build_routes()
        nb.thread = threading.Thread(target=self._inference_loop, args=(nb,), name=f"guard-model-{nb.name}",
                                     daemon=True)
        nb.thread.start()
        old.q.put(None)
        if old.state != "ok":
            self._alert(kind="guard.model", severity="info", dedupe_key=f"guard.model.{nb.name}.recovered",
                        title={"nl": f"Model {cfg.model} {new_a.version} voor {nb.name} draait weer",
                               "en": f"Model {cfg.model} {new_a.version} for {nb.name} is running again"})

    def _update_failed(self, b: Binding, entry: dict[str, Any], version: str, slot: str,
                       exc: BaseException) -> dict[str, Any]:
        keeps = f"keeps {b.model.version}" if slot == "active" and b.model is not None else (
            "runs rules only" if slot == "active" else "keeps its shadow" if b.shadow is not None else "runs no shadow")
        keeps_nl = f"houdt {b.model.version}" if slot == "active" and b.model is not None else (
            "werkt alleen met regels" if slot == "active" else "houdt zijn schaduwmodel" if b.shadow is not None
            else "draait geen schaduwmodel")
        why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ModelError) else str(exc)
        log.error("guard: %s version %s of model %s for %s not loaded (%s); the guard %s",
                  slot, version, b.cfg.model, b.name, why, keeps)
        self._alert(kind="guard.model", severity="warning", dedupe_key=f"guard.model.{b.name}.update",
                    title={"nl": f"Model {b.cfg.model} {version} ({slot}) voor {b.name} niet geladen: de bewaking {keeps_nl}",
                           "en": f"Model {b.cfg.model} {version} ({slot}) for {b.name} not loaded: the guard {keeps}"},
                    detail={"nl": "De nieuwe versie is niet in gebruik genomen; de bewaking werkt door zoals "
                                  "hiervoor. Controleer het modelbestand en installeer het opnieuw.",
                            "en": "The new version was not taken into use; the guard goes on as before. Check the "
                                  "model file and install it again.", "error": why})
        entry["error"] = f"{slot} {version}: {why}"
        return entry
