"""The hub's storage: one schema, two engines (SQLite and PostgreSQL), the same SQL.

Queries are written with ``?`` placeholders and portable SQL (``ON CONFLICT
... DO NOTHING``, ``BIGINT``, ``TEXT``); for PostgreSQL (psycopg 3) the
placeholders become ``%s``. A small fixed pool hands out connections; when
none is free within ``acquire_timeout_s`` the caller gets ``Overloaded``
(the API answers 503 + Retry-After; nothing is lost, the box sends again).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.errors import WerkvloerError


class HubError(WerkvloerError):
    pass


class BadDatabaseUrl(HubError, ValueError):
    pass


class Overloaded(HubError):
    """No connection free in time; try again later."""


KPI_COLS = ("planned_s", "run_s", "down_s", "planned_down_s", "setup_s", "no_data_s", "total_count", "good_count",
            "scrap_count", "micro_stops", "failures", "availability", "performance", "quality", "oee", "mtbf_s",
            "mttr_s", "energy_per_good_kwh")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS hub_tokens (
        box TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL DEFAULT 'box',
        created_ts BIGINT NOT NULL,
        revoked_ts BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS hub_loans (
        loan TEXT PRIMARY KEY,
        box TEXT NOT NULL,
        programme TEXT NOT NULL,
        sector TEXT NOT NULL,
        size_class TEXT NOT NULL,
        first_ts BIGINT NOT NULL,
        last_contact BIGINT NOT NULL,
        highest_contiguous_seq BIGINT NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS hub_loans_box ON hub_loans(box)",
    """CREATE TABLE IF NOT EXISTS hub_batches (
        loan TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        body TEXT NOT NULL,
        received_ts BIGINT NOT NULL,
        PRIMARY KEY (loan, seq)
    )""",
    f"""CREATE TABLE IF NOT EXISTS hub_periods (
        loan TEXT NOT NULL,
        granularity TEXT NOT NULL,
        start_ts BIGINT NOT NULL,
        end_ts BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        phase TEXT NOT NULL,
        {", ".join(f"{c} DOUBLE PRECISION" for c in KPI_COLS)},
        PRIMARY KEY (loan, granularity, start_ts)
    )""",
    """CREATE TABLE IF NOT EXISTS hub_alerts (
        loan TEXT NOT NULL,
        seq BIGINT NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        alerts BIGINT NOT NULL,
        labelled BIGINT NOT NULL,
        false_share DOUBLE PRECISION,
        PRIMARY KEY (loan, seq, source, kind)
    )""",
    # A coordinator's login session: the cookie holds a random id, the hub its hash; logout deletes
    # the row, so a copied cookie is dead after logout (the token itself never leaves the login form).
    """CREATE TABLE IF NOT EXISTS hub_sessions (
        session_hash TEXT PRIMARY KEY,
        box TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        expires_ts BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS hub_idem (
        box TEXT NOT NULL,
        key TEXT NOT NULL,
        body_sha TEXT NOT NULL,
        state TEXT NOT NULL,
        status INTEGER,
        response TEXT,
        ts BIGINT NOT NULL,
        PRIMARY KEY (box, key)
    )""",
]


class Database:
    """``sqlite:///path`` (one hub) or ``postgresql://user@host:port/db`` (a programme)."""

    def __init__(self, url: str, *, pool_size: int | None = None, acquire_timeout_s: float = 2.0) -> None:
        self.url = url
        u = urlsplit(url)
        if u.scheme == "sqlite":
            path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
            if not path:
                raise BadDatabaseUrl(f"{url!r}: write sqlite:///path/to/hub.db")
            self.kind = "sqlite"
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = pool_size or 1  # SQLite has one writer; more connections only wait on each other
        elif u.scheme in ("postgresql", "postgres"):
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise BadDatabaseUrl("PostgreSQL needs psycopg 3: pip install 'psycopg[binary]'") from None
            self.kind = "postgresql"
            size = pool_size or 4
        else:
            raise BadDatabaseUrl(f"{url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        self.acquire_timeout_s = acquire_timeout_s
        self._pool: queue.Queue[Any] = queue.Queue()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        for _ in range(size):
            conn = self._open()
            self._all.append(conn)
            self._pool.put(conn)
        with self.tx() as c:
            for stmt in SCHEMA:
                c.execute(stmt)

    def _open(self) -> Any:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            return conn
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise HubError(f"cannot connect to {self.url}: {exc}".strip()) from None

    def close(self) -> None:
        for conn in self._all:
            with contextlib.suppress(Exception):
                conn.close()
        self._all.clear()

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.kind == "postgresql" else text

    @contextlib.contextmanager
    def tx(self) -> Iterator[Cursor]:
        """A transaction on a pooled connection; raises ``Overloaded`` when none is free in time."""
        try:
            conn = self._pool.get(timeout=self.acquire_timeout_s)
        except queue.Empty:
            raise Overloaded("all database connections are busy") from None
        try:
            if self.kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                cur = Cursor(self, conn)
                try:
                    yield cur
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield Cursor(self, conn)
        except Exception as exc:
            if self.kind == "postgresql" and getattr(conn, "closed", False):
                # A dead server connection: replace it so the pool heals after a restart.
                conn = self._reopen(conn)
            if self.kind == "sqlite" and isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise Overloaded(str(exc)) from None
            raise
        finally:
            self._pool.put(conn)

    def _reopen(self, dead: Any) -> Any:
        with self._lock:
            try:
                fresh = self._open()
            except HubError:
                return dead
            self._all = [fresh if c is dead else c for c in self._all]
            return fresh


class Cursor:
    def __init__(self, db: Database, conn: Any) -> None:
        self.db = db
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = self.conn.execute(self.db.sql(sql), tuple(args))
        return int(cur.rowcount or 0)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.db.kind == "sqlite":
            self.conn.executemany(sql, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self.db.sql(sql), rows)

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(self.db.sql(sql), tuple(args)).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(self.db.sql(sql), tuple(args)).fetchall())
