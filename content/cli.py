"""``werkvloer content ...``: work with content packs from the command line.

    werkvloer content check [PACK_DIR ...]   # default: every shipped pack
    werkvloer content list [--lang nl|en] [--blueprint ID]
    werkvloer content install PACK_DIR [--data-dir DIR]   # add or replace a pack on the box

``appliance.cli`` hands the arguments after ``content`` to ``main``; this
module also runs on its own: ``python -m content.cli check``. Issue 6.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from content.check import check_packs
from content.schema import FUNCTION_NAMES, LANGUAGES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="werkvloer content", description="Content packs: blueprint steps, skills cards, check.")
    sub = parser.add_subparsers(dest="verb", required=True)
    check = sub.add_parser("check", help="validate packs; exit 1 when any pack has problems")
    check.add_argument("packs", nargs="*", type=Path, metavar="PACK_DIR", help="pack folders (default: every shipped pack)")
    lst = sub.add_parser("list", help="list the steps of the shipped packs by business function")
    lst.add_argument("--lang", choices=LANGUAGES, default="nl")
    lst.add_argument("--blueprint", default=None, help="pack id of a blueprint, e.g. machine-building")
    inst = sub.add_parser("install", help="check a pack and install it on the box; replaces a pack with the same id")
    inst.add_argument("pack", type=Path, metavar="PACK_DIR", help="folder that holds pack.toml")
    inst.add_argument("--data-dir", type=Path, default=None,
                      help="box data directory (default: $WERKVLOER_DATA_DIR or /var/lib/werkvloer)")
    inst.add_argument("--db", type=Path, default=None, help="box database (default: DATA_DIR/werkvloer.db)")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits; the caller wants a code
        return int(exc.code or 0)
    if args.verb == "check":
        return _check(args.packs)
    if args.verb == "install":
        return _install(args.pack, args.data_dir, args.db)
    return _list(args.lang, args.blueprint)


def _check(paths: list[Path]) -> int:
    results = check_packs(paths or None)
    if not results:
        print("no packs found", file=sys.stderr)
        return 2
    from content.glossary import GLOSSARY_PATH, read_glossary

    _, glossary_problems = read_glossary()
    checked = [*results.items(), (GLOSSARY_PATH, glossary_problems)]
    failed = sum(_report(where, problems) for where, problems in checked)
    return 1 if failed else 0


def _report(where: Path, problems: Sequence[object]) -> bool:
    """Print ``where: ok`` or its problems, one a line; whether there were any."""
    if not problems:
        print(f"{where}: ok")
        return False
    print(f"{where}: {len(problems)} problem(s)")
    for problem in problems:
        print(f"  {problem}")
    return True


def _install(pack: Path, data_dir: Path | None, db: Path | None) -> int:
    from content.install import DEFAULT_DATA_DIR, install_pack
    from content.loader import ContentError

    data_dir = data_dir or Path(os.environ.get("WERKVLOER_DATA_DIR") or DEFAULT_DATA_DIR)
    try:
        result = install_pack(pack, data_dir=data_dir, db_path=db or data_dir / "werkvloer.db")
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"not installed: {exc}; check that {data_dir} exists and is writable (run as the werkvloer user)",
              file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def _list(lang: str, blueprint: str | None) -> int:
    from content.errors import ContentError
    from content.loader import load_library

    try:
        lib = load_library()
        by_function = lib.steps_by_function(blueprint=blueprint)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    for function, steps in by_function.items():
        print(f"{FUNCTION_NAMES[function][lang]}:")
        for step in steps:
            print(f"  {step.id:<24} {step.kind:<10} {step.text(lang).title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
