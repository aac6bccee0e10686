"""Every module of the project imports, and every `werkvloer` command builds
its parser: a moved module whose importers were not all updated fails here,
not on a box (a relative import that only one command reaches is easy to miss)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ("appliance", "drivers", "models", "content", "local_ui", "sync", "bench")


def _modules() -> list[str]:
    names = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg_name + ".")]
    return names


@pytest.mark.parametrize("name", _modules())
def test_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_every_werkvloer_command_has_help() -> None:
    from appliance.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = sorted(sub.choices)  # type: ignore[attr-defined]
    assert {"core", "check-config", "guard", "sync", "ui", "hub"} <= set(commands)
    for cmd in commands:
        out = subprocess.run([sys.executable, "-m", "appliance.cli", cmd, "--help"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, f"werkvloer {cmd} --help: {out.stderr[-2000:]}"
        assert "usage" in out.stdout.lower(), f"werkvloer {cmd} --help printed no usage"
