"""``werkvloer model ...``: the model registry from the command line.

    werkvloer model list                          # versions, slots, candidates
    werkvloer model validate MODEL_DIR | TFLITE [MANIFEST]
    werkvloer model install TFLITE MANIFEST       # validate + register as candidate
    werkvloer model activate ID VERSION [--shadow]
    werkvloer model rollback ID [--shadow]
    werkvloer model shadow-clear ID
    werkvloer model export-dataset OUT_DIR [--model ID]

Every command but ``validate`` takes ``--config FILE`` (default
/etc/werkvloer/werkvloer.toml) or ``--data-dir DIR`` to find the database.
Changes are audited with the role ``maintenance`` (whoever has a shell on the
box is maintenance). ``appliance.cli`` hands the arguments after ``model``
to :func:`main`, with the box's config loader.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.exitcodes import run_command

if TYPE_CHECKING:
    from appliance.config import BoxConfig

DEFAULT_CONFIG = "/etc/werkvloer/werkvloer.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer model", description="Model registry: list, validate, install, activate, roll back.")
    sub = p.add_subparsers(dest="verb", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", default=DEFAULT_CONFIG, help="box config (finds data_dir and the database)")
        sp.add_argument("--data-dir", type=Path, help="use this data dir instead of the config's")
        return sp

    with_db(sub.add_parser("list", help="list model versions and which are active / shadow"))
    v = sub.add_parser("validate", help="check a model file against its manifest (no database needed)")
    v.add_argument("model", type=Path, help="model folder, or the .tflite file")
    v.add_argument("manifest", type=Path, nargs="?", help="manifest.json (default: beside the model)")
    i = with_db(sub.add_parser("install", help="validate a model and register it as a candidate"))
    i.add_argument("tflite", type=Path)
    i.add_argument("manifest", type=Path)
    a = with_db(sub.add_parser("activate", help="make a version active (or run it in shadow with --shadow)"))
    a.add_argument("model_id")
    a.add_argument("version")
    a.add_argument("--shadow", action="store_true", help="run beside the active model, never stops the machine")
    r = with_db(sub.add_parser("rollback", help="undo the last activation (of the shadow slot with --shadow)"))
    r.add_argument("model_id")
    r.add_argument("--shadow", action="store_true")
    c = with_db(sub.add_parser("shadow-clear", help="stop running a shadow model"))
    c.add_argument("model_id")
    e = with_db(sub.add_parser("export-dataset", help="export labelled alert windows for retraining"))
    e.add_argument("out", type=Path)
    e.add_argument("--model", dest="model_id", help="only alerts of this model")
    return p


def _registry(args: argparse.Namespace, load_config: Callable[[str], BoxConfig]):
    from appliance.alerts import migrations as alert_tables
    from appliance.models.registry import ModelRegistry
    from appliance.models.store import migrations as model_tables
    from appliance.storage import open_db

    if args.data_dir:
        data_dir = Path(args.data_dir)
        db_path = data_dir / "werkvloer.db"
    else:
        cfg = load_config(args.config)
        data_dir = Path(cfg.box.data_dir)
        db_path = cfg.db_path
    db = open_db(db_path, sets=[model_tables, alert_tables])  # export-dataset reads the alerts
    return ModelRegistry(db, data_dir=data_dir), db


def _print_list(reg) -> None:
    deps = reg.deployments()
    if not deps:
        print("no models on this box")
        return
    print(f"{'model':<22} {'version':<12} {'source':<10} {'slot':<10} {'sha256':<14} threshold")
    for model_id, dep in deps.items():
        slots = {}
        if dep.active:
            slots[dep.active.version] = "active"
        if dep.shadow:
            slots[dep.shadow.version] = "shadow"
        for mv in reg.versions(model_id):
            slot = slots.get(mv.version, "candidate" if mv.source == "installed" else "-")
            print(f"{model_id:<22} {mv.version:<12} {mv.source:<10} {slot:<10} {mv.sha256[:12]:<14} "
                  f"{mv.manifest.default_threshold:g}")
        cmp = reg.latest_comparison(model_id)
        if cmp and dep.shadow:
            when = dt.datetime.fromtimestamp(cmp["ts"] / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            print(f"  shadow {cmp['shadow_version']} vs active {cmp['active_version']}: "
                  f"agreement {cmp.get('agreement_rate')}, correlation {cmp.get('correlation')} "
                  f"over {cmp.get('n')} windows ({when})")


def _reload_core(data_dir: Path) -> str:
    """Ask a running core to apply the change now (IPC ``models.reload``)."""
    from appliance.ipc import CoreUnavailable, request_sync

    try:
        reply = request_sync(data_dir / "core.sock", "models.reload", timeout_s=5.0)
    except (CoreUnavailable, OSError, ValueError):
        return "the core is not running: the change takes effect at its next start"
    if reply.get("pending"):
        return "the core is loading the new model (werkvloer model list shows the result)"
    errors = [m["error"] for m in reply.get("models", []) if m.get("error")]
    if errors:
        return "the guard kept its previous model: " + "; ".join(errors)
    return "the guard runs: " + (", ".join(
        f"{m['binding']} {m['active']}" + (f" (shadow {m['shadow']})" if m.get("shadow") else "")
        for m in reply.get("models", [])) or "no model bindings")


def run(args: argparse.Namespace, load_config: Callable[[str], BoxConfig]) -> int:
    if args.verb == "validate":
        from models.runtime import model_paths, validate_model

        tflite, manifest = model_paths(args.model)
        m = validate_model(tflite, args.manifest or manifest)
        print(f"{tflite}: OK — {m.name} {m.version} ({m.kind}), input {m.input_tensor.dtype}{m.input_tensor.shape}, "
              f"output {m.output_tensor.dtype}{m.output_tensor.shape}, default threshold {m.default_threshold:g}")
        return 0
    reg, db = _registry(args, load_config)
    try:
        if args.verb == "list":
            _print_list(reg)
        elif args.verb == "install":
            mv = reg.install(args.tflite, args.manifest, by_role="maintenance")
            print(f"installed {mv.model_id} {mv.version} as candidate in {mv.path}")
            print(f"next: werkvloer model activate {mv.model_id} {mv.version} --shadow")
        elif args.verb == "activate":
            slot = "shadow" if args.shadow else "active"
            mv = reg.activate(args.model_id, args.version, slot=slot, by_role="maintenance")
            print(f"{mv.model_id} {mv.version} is now {slot}; {_reload_core(reg.models_dir.parent)}")
        elif args.verb == "rollback":
            slot = "shadow" if args.shadow else "active"
            now = reg.rollback(args.model_id, slot=slot, by_role="maintenance")
            print(f"{args.model_id} {slot}: now {now.version + ' (' + now.source + ')' if now else 'none'}; "
                  f"{_reload_core(reg.models_dir.parent)}")
        elif args.verb == "shadow-clear":
            reg.clear_shadow(args.model_id, by_role="maintenance")
            print(f"{args.model_id}: no shadow model; {_reload_core(reg.models_dir.parent)}")
        elif args.verb == "export-dataset":
            from models.dataset import read_dataset

            from .dataset_export import export_alerts

            out = export_alerts(db, args.out, model_id=args.model_id)
            ds = read_dataset(out)
            print(f"{out}: {len(ds.records)} windows, labels {dict(ds.labels())}")
    finally:
        db.close()
    return 0


def main(argv: list[str] | None = None, *, load_config: Callable[[str], BoxConfig]) -> int:
    """``werkvloer model``. ``load_config`` reads the box config (``appliance.config.load_config``,
    passed in by ``appliance.cli``: the config schema includes the guard's, which uses the registry)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits; the caller wants a code
        return int(exc.code or 0)
    return run_command("werkvloer model", lambda: run(args, load_config))

