"""Databases for the store and service tests: every such test runs on SQLite and on the
PostgreSQL server of the machine (127.0.0.1:5432, database ``test``), through the same code.

PostgreSQL is started if it is not running; if it cannot be reached the tests fail,
they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_HOST = os.environ.get("FENGKONG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_up() -> bool:
    try:
        with psycopg.connect(PG_HOST, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _start_pg() -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        return
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                   check=False, capture_output=True, timeout=60)
    for _ in range(30):
        if _pg_up():
            return
        time.sleep(1)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The URL of the machine's PostgreSQL ``test`` database (started if need be)."""
    if not _pg_up():
        _start_pg()
    if not _pg_up():
        pytest.fail(f"PostgreSQL is not reachable at {PG_HOST} and could not be started; "
                    "the PostgreSQL tests need it.")
    return PG_HOST


def fresh_pg_database(server: str) -> tuple[str, str]:
    """Create an empty database on the server; returns its name and SQLAlchemy URL."""
    name = f"fk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_pg_database(server: str, name: str) -> None:
    """Drop a database made by :func:`fresh_pg_database`."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fengkong.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name, url = fresh_pg_database(server)
    try:
        yield url
    finally:
        drop_pg_database(server, name)
