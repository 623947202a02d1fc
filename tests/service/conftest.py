"""Fixtures of the HTTP API tests: a running app on each test database, and keys to call it with.

``api`` starts the app (lifespan included) on the ``database_url`` of tests/conftest.py,
so every test that uses it runs on SQLite and on PostgreSQL. Tenant A (``bank-a``) has
the example strategy deployed at start-up; tenant B (``bank-b``) only when a test asks.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fengkong.demo import example_pack_dir, example_record
from fengkong.service import Settings, create_app
from fengkong.service._logging import JsonFormatter
from fengkong.store import create_key
from fengkong.store._tables import metadata

TENANT_A = "bank-a"
TENANT_B = "bank-b"
ALL_ROLES = ("decide", "author", "approve", "audit", "admin", "consent", "review")
STRATEGY = "consumer_loan"

# Distinctive personal data: none of these may ever come back in a response or a log line.
ID_NUMBER = "11010519491231002X"
PHONE = "13912345678"
NAME = "王小明"
PII = (ID_NUMBER, PHONE, NAME)


@dataclass(frozen=True)
class Key:
    """A minted API key."""

    id: str
    tenant: str
    name: str
    roles: frozenset[str]
    text: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.text}"}


@dataclass
class Api:
    """The running app, its client and helpers to mint keys, decide and count rows."""

    app: FastAPI
    client: TestClient
    data_dir: Path
    logs: io.StringIO = field(default_factory=io.StringIO)

    tenant_a = TENANT_A
    tenant_b = TENANT_B
    strategy = STRATEGY
    pii = PII
    id_number, phone, name = ID_NUMBER, PHONE, NAME
    all_roles = ALL_ROLES

    @property
    def service(self) -> Any:
        return self.app.state.service

    # -- keys -----------------------------------------------------------------------------
    def key(self, *roles: str, tenant: str = TENANT_A, name: str | None = None) -> Key:
        """Mint a key of ``tenant`` with ``roles`` (all roles when none are given)."""
        roles = roles or ALL_ROLES
        name = name or f"person-{secrets.token_hex(4)}"
        with self.service.db.writer.begin() as conn:
            who, text = create_key(conn, tenant, list(roles), name)
        return Key(who.key_id, tenant, name, who.roles, text)

    def deploy_b(self) -> None:
        """Deploy the example strategy for tenant B too."""
        assert self.service.deploy_example(TENANT_B) is True

    # -- records and requests -------------------------------------------------------------
    @staticmethod
    def record(**changes: Any) -> dict[str, Any]:
        """The example application with distinctive personal data; ``changes`` use dotted
        names (``applicant.age=17``; a value of ``...`` removes the field)."""
        rec = copy.deepcopy(example_record())
        rec["applicant"].update(id_number=ID_NUMBER, phone=PHONE, name=NAME)
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__") if "__" in dotted else dotted.split(".")
            node = rec
            for part in parents:
                node = node.setdefault(part, {})
            if value is ...:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        return rec

    def decide(self, key: Key, record: dict[str, Any] | None = None, *,
               strategy: str = STRATEGY, request_id: str | None = None) -> httpx.Response:
        headers = dict(key.headers)
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        return self.client.post(f"/v1/decisions/{strategy}",
                                json=self.record() if record is None else record,
                                headers=headers)

    def upload(self, key: Key, files: dict[str, str], entry: str = "strategy.yaml"
               ) -> httpx.Response:
        return self.client.post("/v1/strategies", json={"entry": entry, "files": files},
                                headers=key.headers)

    # -- the database ---------------------------------------------------------------------
    def count(self, table: str = "decisions", tenant: str | None = None) -> int:
        t = metadata.tables[table]
        q = select(func.count()).select_from(t)
        if tenant is not None:
            q = q.where(t.c.tenant_id == tenant)
        with self.service.db.reader.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def rows(self, table: str = "decisions") -> list[dict[str, Any]]:
        t = metadata.tables[table]
        with self.service.db.reader.connect() as conn:
            return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(select(t))]

    def log_lines(self) -> list[dict[str, Any]]:
        """The ``fengkong`` loggers' output since the app started, one JSON object a line."""
        return [orjson.loads(line) for line in self.logs.getvalue().splitlines() if line]


def example_pack(version: str = "1", **replace: str) -> dict[str, str]:
    """The example pack's files, with ``version`` set and each ``old=new`` text replaced
    in strategy.yaml (keys are given as ``replace={'old': 'new'}`` via ``**``)."""
    root = example_pack_dir()
    files = {p.relative_to(root).as_posix(): p.read_text("utf-8")
             for p in sorted(root.rglob("*.yaml"))}
    text = files["strategy.yaml"]
    assert "\nversion: 1\n" in text
    text = text.replace("\nversion: 1\n", f"\nversion: {version}\n", 1)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    files["strategy.yaml"] = text
    return files


@pytest.fixture
def pack() -> Any:
    """``pack(version, **{old: new})``: the example pack's files, changed."""
    return example_pack


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on ``database_url`` with the example deployed for tenant A, running."""
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fengkong")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, tenant=TENANT_A,
                        deploy_example=True, max_body_bytes=1 << 20)
    app = create_app(settings)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(app, client, tmp_path / "data", logs)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# -- a real server in a subprocess (crash recovery, scanning what it writes) -------------------
_SCRIPT = Path(sys.executable).parent / "fengkong"
FENGKONG = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "fengkong.cli"]
READY_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a ``fengkong`` command."""
    return subprocess.run([*FENGKONG, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


@dataclass
class Server:
    """One ``fengkong serve`` process in its own session (process group)."""

    options: list[str]
    log_path: Path
    log_level: str = "warning"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to this process's environment

    @property
    def base(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, cwd: Path) -> None:
        """Start it (logs, stdout and stderr, to ``log_path``)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*FENGKONG, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", self.log_level, *self.options],
                cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env=None if self.env is None else {**os.environ, **self.env})

    def wait_ready(self) -> None:
        """Wait for ``/readyz``; fail with the log if it exits or takes too long."""
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the server was not ready within {READY_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, and wait for a clean exit; the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL the server's whole process group and wait until nothing of it is left."""
        if self.proc is None:
            return
        pid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while process_group(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = process_group(pid)
        self.proc = None
        assert left == [], f"processes of the killed server survived: {left}"

    def log(self) -> str:
        """The end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture
def fengkong_server() -> Iterator[Callable[..., Server]]:
    """Makes real ``fengkong serve`` processes (``Server(options, log_path, ...)``), and
    kills every one of them at the end, whatever happened."""
    started: list[Server] = []

    def make(options: list[str], log_path: Path, log_level: str = "warning") -> Server:
        server = Server(options, log_path, log_level)
        started.append(server)
        return server

    try:
        yield make
    finally:
        for s in started:
            s.kill()


@pytest.fixture
def fengkong_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs a ``fengkong`` command: ``fengkong_cli("keys", "create", ..., cwd=path)``."""
    return cli
