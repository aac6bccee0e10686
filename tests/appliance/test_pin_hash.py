"""``werkvloer pin hash``: the hash of a PIN for ``[pins]`` in the provisioning
file, made by the same code the UI checks PINs with (appliance.pins). Run as a
person runs it: a real process, on a real terminal (pty) or a pipe."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import sqlite_utils

from appliance.config import load_config
from appliance.pins import PIN_RECORD, check_pin
from appliance.provision import provision
from local_ui import security
from tests.conftest import PY, ROOT

from .test_provision import places, provisioning_file, root  # noqa: F401, F811 - root is a fixture

CMD = [PY, "-m", "appliance.cli", "pin", "hash"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_piped_pin_gives_one_line_the_ui_accepts() -> None:
    out = subprocess.run(CMD, input="2468\n", capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    record = out.stdout.strip()
    assert out.stdout.count("\n") == 1 and PIN_RECORD.match(record)
    assert check_pin("2468", record) and not check_pin("2469", record)
    again = subprocess.run(CMD, input="2468\n", capture_output=True, text=True, env=_env(), timeout=60)
    assert again.stdout.strip() != record  # a new salt every time


def test_a_pin_that_is_not_4_to_12_digits_is_refused() -> None:
    for pin in ("12", "abcd", "1234567890123"):
        out = subprocess.run(CMD, input=pin + "\n", capture_output=True, text=True, env=_env(), timeout=60)
        assert out.returncode == 1 and out.stdout == ""
        assert "a PIN is 4 to 12 digits" in out.stderr


def _on_a_terminal(*answers: str) -> tuple[int, str]:
    """Run the command with a new pty as its controlling terminal (``setsid --ctty``, no fork of
    this process); type each answer after the next prompt. Returns (exit code, all output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(["setsid", "--ctty", *CMD], stdin=slave, stdout=slave, stderr=slave, env=_env())
    os.close(slave)
    seen = b""
    pending = list(answers)
    answered = 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no output for 30 s; so far: {seen!r}"
            try:
                chunk = os.read(master, 1024)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if pending and seen[answered:].rstrip().endswith(b":"):  # a new prompt since the last answer
                os.write(master, pending.pop(0).encode() + b"\n")
                answered = len(seen)
    finally:
        os.close(master)
    return proc.wait(30), seen.decode(errors="replace")


def test_on_a_terminal_the_pin_is_asked_twice_and_not_shown() -> None:
    code, seen = _on_a_terminal("97531", "97531")
    assert code == 0, seen
    assert "PIN: " in seen and "PIN again: " in seen and "97531" not in seen
    record = seen.strip().splitlines()[-1].strip()
    assert PIN_RECORD.match(record) and check_pin("97531", record)


def test_on_a_terminal_two_different_pins_print_nothing() -> None:
    code, seen = _on_a_terminal("97531", "97532")
    assert code == 1 and "the two PINs differ" in seen and "scrypt$" not in seen


def test_the_hash_in_a_provisioning_file_is_a_pin_the_ui_logs_in_with(root: Path) -> None:  # noqa: F811
    out = subprocess.run(CMD, input="86420\n", capture_output=True, text=True, env=_env(), timeout=60)
    provisioning_file(root, pins={"admin": out.stdout.strip()})
    report = provision([root / "boot"], places(root))
    assert any("PINs for admin" in line for line in report.applied)
    db = sqlite_utils.Database(root / "data" / load_config(root / "etc" / "werkvloer.toml").storage.db_name)
    assert security.login(db, role="admin", pin="86420", client="test") is True
    db.conn.close()
