"""The one mapping from an error to what a person sees and the exit code, for
every ``werkvloer`` command: a config problem prints its key paths and exits
2, any other error Werkvloer raises on purpose prints its message and exits 1,
Ctrl-C exits 130. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .errors import EXPECTED, ConfigError

CONFIG_PROBLEM = 2
FAILED = 1
INTERRUPTED = 130


def run_command(prog: str, command: Callable[[], int | None]) -> int:
    """Run ``command`` and turn the errors we raise on purpose into exit codes."""
    try:
        return int(command() or 0)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return CONFIG_PROBLEM
    except EXPECTED as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return INTERRUPTED
