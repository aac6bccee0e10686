"""The ``werkvloer`` command.

Each subcommand's help says what it does in one line. Heavy imports happen
inside the subcommand, so ``werkvloer --help`` is instant on a Pi.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ConfigError, WerkvloerError
from .exitcodes import run_command

if TYPE_CHECKING:
    from .config import BoxConfig

log = logging.getLogger("werkvloer")

DEFAULT_CONFIG = "/etc/werkvloer/werkvloer.toml"


def _load(path: str) -> BoxConfig:
    from .config import load_config

    return load_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    from .config import summary
    from .config_checks import check_machine, model_warnings

    try:
        cfg = _load(args.config_file)
        check_machine(cfg, source=str(args.config_file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("\nFix the keys above; `werkvloer config-reference` lists every key.", file=sys.stderr)
        return 2
    for line in model_warnings(cfg):
        print(line, file=sys.stderr)
    print(f"{args.config_file}: OK")
    print(summary(cfg))
    return 0


def cmd_core(args: argparse.Namespace) -> int:
    from .config_checks import data_dir_problems
    from .daemon import run_core
    from .notify import setup_logging

    setup_logging(args.log_level)
    cfg = _load(args.config)
    if problems := data_dir_problems(cfg.box.data_dir):  # a clear message, not a traceback from mkdir
        raise ConfigError(problems, source=str(args.config))
    return asyncio.run(run_core(cfg))


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulator.run import main as sim_main

    return sim_main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main(args)


Command = Callable[[list[str]], int]


def _delegate(command: Command) -> Callable[[argparse.Namespace], int]:
    """Pass the rest of the command line to an area's own ``main(argv)``."""

    def run(args: argparse.Namespace) -> int:
        return int(command(list(args.rest)) or 0)

    return run


def upper_command(name: str) -> Command:
    """A command of a package above the appliance (the ui, sync, the hub).

    Found through the ``werkvloer.commands`` entry points (pyproject.toml), so
    the appliance never imports the layers that import it (ARCHITECTURE.md).
    """

    def run(argv: list[str]) -> int:
        from importlib.metadata import entry_points

        found = list(entry_points(group="werkvloer.commands", name=name))
        if not found:
            raise WerkvloerError(f"the {name!r} command is not installed in this Python environment; "
                                 "reinstall werkvloer (`make venv`, or `pip install -e .`)")
        return int(found[0].load()(argv) or 0)

    return run


# The areas' own commands, imported only when run (``werkvloer --help`` stays instant).
# The box config's schema includes the areas' configs, so an area's command gets the
# config loader from here instead of importing appliance.config (a cycle).
def _export(argv: list[str]) -> int:
    from .kpi.export import main

    return main(argv, load_config=_load)


def _content(argv: list[str]) -> int:
    from content.cli import main

    return main(argv)


def _guard(argv: list[str]) -> int:
    from .guard.cli import main

    return main(argv, load_config=_load)


def _opcua(argv: list[str]) -> int:
    from drivers.opcua.browse import main

    return main(argv)


def _model(argv: list[str]) -> int:
    from .models.cli import main

    return main(argv, load_config=_load)


def _pin(argv: list[str]) -> int:
    from .pins import main

    return main(argv)


def _provision(argv: list[str]) -> int:
    from .provision import main_provision

    return main_provision(argv)


def _wipe(argv: list[str]) -> int:
    from .provision import main_wipe

    return main_wipe(argv)


def _update(argv: list[str]) -> int:
    from .update import main

    return main(argv)


def _simulate_history(argv: list[str]) -> int:
    from .simulator.history import main

    return main(argv)


def cmd_ui(args: argparse.Namespace) -> int:
    argv = ["--config", args.config, "--log-level", args.log_level]
    if args.host:
        argv += ["--host", args.host]
    if args.port:
        argv += ["--port", str(args.port)]
    return upper_command("ui")(argv)


def cmd_config_reference(args: argparse.Namespace) -> int:
    from .config_doc import reference_markdown, update_readme

    if args.update:
        print("README updated" if update_readme(args.update) else "README already current")
        return 0
    print(reference_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer", description="Werkvloer shop-floor box: read machines, guard them, measure OEE.")
    p.add_argument("--version", action="version", version="werkvloer " + __import__("appliance").__version__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int], **kw: object) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_, **kw)  # type: ignore[arg-type]
        sp.set_defaults(func=func)
        return sp

    sp = add("demo", "Start the simulator, the core and the UI together and print the URL.", cmd_demo)
    sp.add_argument("--config", default="configs/demo.toml", help="box config (default: configs/demo.toml)")
    sp.add_argument("--data-dir", help="override box.data_dir (default: ./var/demo)")
    sp.add_argument("--port", type=int, default=None, help="UI port (default from config, 8080)")
    sp.add_argument("--no-history", action="store_true", help="do not fill a fresh store with 28 days of simulated KPIs")

    sp = add("core", "Run the box daemon: drivers, guard, recorder, KPIs (systemd Type=notify).", cmd_core)
    sp.add_argument("--config", default=DEFAULT_CONFIG)
    sp.add_argument("--log-level", default="INFO")

    sp = add("ui", "Run the local web UI (touchscreen and laptop) on the configured port.", cmd_ui)
    sp.add_argument("--config", default=DEFAULT_CONFIG)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--log-level", default="INFO")

    sp = add("simulate", "Run the machine simulator (Modbus TCP + OPC UA servers), or send it a fault.", cmd_simulate)
    from .simulator.args import add_arguments

    add_arguments(sp)

    sp = add("check-config", "Validate a config file: list every problem with its key path, or print a summary.", cmd_check_config)
    sp.add_argument("config_file")

    sp = add("config-reference", "Print the config reference (every key, type, default, bounds) as Markdown.", cmd_config_reference)
    sp.add_argument("--update", metavar="README", help="rewrite the generated block in this README instead")

    for name, help_, command in DELEGATED:
        # add_help=False: `werkvloer export --help` reaches the area's own parser.
        sp = add(name, help_, _delegate(command), add_help=False)
        sp.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of the subcommand (try --help)")
    return p


# Subcommands whose arguments belong to an area's own ``main(argv)``.
DELEGATED: list[tuple[str, str, Command]] = [
    ("export", "Export KPIs as CSV (also Dutch Excel) or JSON for a period and granularity.", _export),
    ("content", "Content packs: check, list, install (blueprint steps, skills cards, role profiles, workplace check).", _content),
    ("guard", "Guard over a shell: status, arm, disarm, reset (root or the service user: maintenance, audited as cli).", _guard),
    ("opcua", "OPC UA tools: `werkvloer opcua browse URL` lists node ids, types and access.", _opcua),
    ("model", "Model tools: list, validate, install, activate, roll back.", _model),
    ("pin", "PIN hashes for the provisioning file: `werkvloer pin hash` asks for a PIN, prints its scrypt hash.", _pin),
    ("provision", "First boot: install the company config and secrets the hub put on the boot partition.", _provision),
    ("wipe", "After a loan: delete all company data, config and secrets (needs --yes).", _wipe),
    ("sync", "Anonymised KPIs to the programme hub: status, preview, push, consent LEVEL.", upper_command("sync")),
    ("hub", "The programme hub: serve, token create/revoke BOX, boxes.", upper_command("hub")),
    ("update", "Install a signed offline update bundle (rolls back if the core is not READY), or --build one.", _update),
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    delegated = {name: command for name, _, command in DELEGATED}
    if argv[:2] == ["simulate", "history"]:
        argv = ["simulate", *argv[2:]]  # `simulate history` has its own parser: --config --days --pilot-from-day
        delegated["simulate"] = _simulate_history
    if argv and argv[0] in delegated:
        # Hand every argument, options included, to the area's own parser.
        args = argparse.Namespace(rest=argv[1:], func=_delegate(delegated[argv[0]]))
    else:
        args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        from .notify import LOG_FORMAT, quiet_libraries

        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        quiet_libraries()
    return run_command("werkvloer", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
