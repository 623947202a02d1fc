"""Databases for the store and service tests: every such test runs on SQLite and on the
PostgreSQL server of the machine (127.0.0.1:5432, database ``test``), through the same code.

PostgreSQL is started if it is not running; if it cannot be reached the tests fail,
they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

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


# -- a data provider on loopback: answers, is slow, fails or talks nonsense on request ------
@dataclass
class Behaviour:
    """How one path answers: ``status`` and ``body`` (a dict is sent as JSON, bytes as is),
    after ``delay`` seconds; ``fail_first`` answers 503 that many times first."""

    body: Any = field(default_factory=dict)
    status: int = 200
    delay: float = 0.0
    fail_first: int = 0


class Provider:
    """A real HTTP server on 127.0.0.1 that records every call it gets."""

    Behaviour = Behaviour

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self) -> None:
                path = self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with provider._lock:
                    provider.calls.append((path, json.loads(raw) if raw else self.path))
                    b = provider.behaviours.get(path, Behaviour(status=404))
                    failing = b.fail_first > 0
                    if failing:
                        b.fail_first -= 1
                if b.delay:
                    time.sleep(b.delay)
                status = 503 if failing else b.status
                body = b.body if isinstance(b.body, bytes) else json.dumps(b.body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """The address of ``path`` on this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def set(self, path: str, behaviour: Behaviour) -> None:
        """How ``path`` answers from now on."""
        with self._lock:
            self.behaviours[path] = behaviour

    def count(self, path: str) -> int:
        """Calls ``path`` got so far."""
        with self._lock:
            return sum(1 for p, _ in self.calls if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[Provider]:
    """A loopback data provider; see :class:`Provider`."""
    p = Provider()
    try:
        yield p
    finally:
        p.close()


# -- Redis (velocity stores): the machine's server, started if it is not running ----------
REDIS_URL = "redis://127.0.0.1:6379/0"


def _up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a running Redis (started with ``redis-server --daemonize yes`` if need be)."""
    if not _up() and shutil.which("redis-server"):
        subprocess.run(["redis-server", "--daemonize", "yes"], check=False, capture_output=True,
                       timeout=30)
        for _ in range(50):
            if _up():
                break
            time.sleep(0.1)
    if not _up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL} and could not be started; the "
                    "velocity tests of the Redis store need it.")
    return REDIS_URL
