"""sd_notify and journald, with or without systemd-python.

Under systemd (Type=notify) ``NOTIFY_SOCKET`` names a datagram socket; we send
READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1 there (sd_notify(3)). When
systemd-python is installed its ``daemon.notify`` is used; otherwise the same
protocol is spoken directly, so the box runs unchanged on a laptop.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

try:  # pragma: no cover - depends on the machine
    from systemd import daemon as _sd_daemon  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    _sd_daemon = None


class Notifier:
    def __init__(self, socket_path: str | None = None) -> None:
        self.path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.path)

    def send(self, **fields: str | int) -> bool:
        if not self.path:
            return False
        msg = "\n".join(f"{k.upper()}={v}" for k, v in fields.items())
        if _sd_daemon is not None and self.path == os.environ.get("NOTIFY_SOCKET"):
            return bool(_sd_daemon.notify(msg))
        addr = self.path
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(msg.encode(), addr)
            return True
        except OSError as exc:
            log.debug("sd_notify to %s failed: %s", self.path, exc)
            return False

    def ready(self, status: str) -> None:
        self.send(ready=1, status=status)

    def status(self, status: str) -> None:
        self.send(status=status)

    def watchdog(self) -> None:
        self.send(watchdog=1)

    def stopping(self, status: str = "stopping") -> None:
        self.send(stopping=1, status=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec (sd_watchdog_enabled(3)), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


# Libraries whose own lines are noise for the people reading the box's log:
# asyncua and pymodbus log every lost connection (with tracebacks and frame
# dumps) and every retry; the drivers report each outage once instead (ERROR
# when a device is lost, INFO when it is back: issue 16). uvicorn's lines are
# kept from WARNING up. At --log-level DEBUG every library speaks again.
LIBRARY_LEVELS = {"asyncua": logging.CRITICAL, "pymodbus": logging.CRITICAL,
                  "uvicorn": logging.WARNING, "uvicorn.error": logging.WARNING, "uvicorn.access": logging.WARNING}


def quiet_libraries() -> None:
    """Set the library loggers' levels to fit the root logger's level."""
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    for name, quiet in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(logging.DEBUG if debug else quiet)


def setup_logging(level: str = "INFO", *, journald: bool | None = None) -> None:
    """Log to journald when started by systemd with systemd-python, else to stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    quiet_libraries()
    use_journal = journald if journald is not None else bool(os.environ.get("JOURNAL_STREAM"))
    if use_journal:
        try:
            from systemd.journal import JournalHandler  # type: ignore[import-not-found]

            root.addHandler(JournalHandler(SYSLOG_IDENTIFIER="werkvloer"))
            return
        except ImportError:
            pass
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
