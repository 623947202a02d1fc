"""Connecting to the store: SQLite (embedded default) or PostgreSQL, same code.

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction survives
a power cut. Writes take the lock up front (``BEGIN IMMEDIATE``) so two writers
never deadlock upgrading a read lock; reads use a second engine and never block
the writer.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from fengkong.errors import FengkongError

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x66656E67  # "feng": one server migrates at a time


class StoreError(FengkongError):
    """The database cannot be reached or its URL is not one the store supports."""

    code = "store-error"


def utcnow() -> dt.datetime:
    """Now, in UTC, to the microsecond."""
    return dt.datetime.now(dt.UTC)


def as_utc(when: dt.datetime) -> dt.datetime:
    """``when`` in UTC; naive times are taken as UTC (SQLite keeps no offset)."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite database file."""
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Database:
    """A writer and a reader engine on one database (the same engine on PostgreSQL)."""

    url: str
    writer: Engine
    reader: Engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.writer.dialect.name

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 8) -> Database:
        """Open ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
        try:
            parsed = make_url(url)
        except Exception:
            msg = f"Not a database URL: {url!r}. Use sqlite:///PATH or postgresql://HOST/DB."
            raise StoreError(msg) from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                msg = "The store needs a SQLite file, not an in-memory database."
                raise StoreError(msg)
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            writer = _sqlite_engine(url, immediate=True)
            reader = _sqlite_engine(url, immediate=False)
            return cls(url, writer, reader)
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size,
                                   pool_pre_ping=True)
            return cls(url, engine, engine)
        msg = f"Unsupported database {backend!r}: use sqlite:///PATH or postgresql://HOST/DB."
        raise StoreError(msg)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (safe to run on every start)."""
        with self.writer.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction that sees one consistent state of the database."""
        with self.reader.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def has_schema(self) -> bool:
        """Whether the store's tables exist (a SQLite file is not created to find out)."""
        if self.dialect == "sqlite":
            path = make_url(self.url).database
            if not path or not Path(path).exists():
                return False
        with self.reader.connect() as conn:
            return inspect(conn).has_table("chain_heads")

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _wal(cur: Any, wait_s: float = 30.0) -> None:
    """Switch to WAL, waiting for other connections doing the same.

    On a fresh file, connections opening at once race to change the journal mode, and
    SQLite answers the losers "database is locked" at once, without its busy handler;
    the switch is retried until it succeeds or ``wait_s`` have passed.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL may wait for a lock
        _wal(cur)
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
