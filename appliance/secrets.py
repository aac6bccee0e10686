"""Secrets (OPC UA passwords, the sync token) live outside the config file.

``/etc/werkvloer/secrets.toml`` (mode 0600, owned by the werkvloer user), or
the file named by ``WERKVLOER_SECRETS``; a flat table of name = "value". The
config refers to a secret by name (``password_secret = "opcua_plc"``).
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PATH = "/etc/werkvloer/secrets.toml"


def secrets_path() -> Path:
    return Path(os.environ.get("WERKVLOER_SECRETS", DEFAULT_PATH))


def load_secrets(path: str | Path | None = None) -> dict[str, str]:
    """The secrets as a dict; an absent file is an empty dict."""
    p = Path(path) if path else secrets_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read secrets file {p}: {exc.strerror}")], str(p)) from None
    mode = p.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("secrets file %s is readable by others; run: chmod 600 %s", p, p)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([("(syntax)", f"not valid TOML: {exc}")], str(p)) from None
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError([(k, 'a secret is a string: name = "value"') for k in bad], str(p))
    return data
