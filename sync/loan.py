"""The pseudonymous loan id: random 128 bit, one per loan, never derived from
a serial number, a MAC address or the company.

It lives in ``<data_dir>/sync_loan_id`` (mode 0600). ``werkvloer wipe``
deletes the data directory, so the next loan gets a new id; an image or
wipe step that keeps the data directory calls ``rotate_loan(data_dir)``.
Sequence numbers are per loan, so a new loan starts again at seq 1.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

FILE_NAME = "sync_loan_id"
_VALID = re.compile(r"^[0-9a-f]{32}$")


def _write(path: Path, loan: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(loan + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_loan_id() -> str:
    return secrets.token_hex(16)


def loan_id(data_dir: str | Path) -> str:
    """The current loan id (made on first use)."""
    path = Path(data_dir) / FILE_NAME
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if _VALID.match(text):
        return text
    loan = new_loan_id()
    _write(path, loan)
    return loan


def rotate_loan(data_dir: str | Path) -> str:
    """Start a new loan: a fresh random id (the old one is forgotten). Returns it."""
    loan = new_loan_id()
    _write(Path(data_dir) / FILE_NAME, loan)
    return loan
