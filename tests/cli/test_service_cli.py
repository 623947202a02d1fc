"""The service's commands: ``keys create/list/revoke``, ``audit verify`` and ``db upgrade``,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.store import (
    Database,
    DecisionLog,
    NewDecision,
    StoredDecision,
    authenticate,
    verify_chain,
)
from fengkong.store._tables import api_keys, decisions

KEY = re.compile(r"^fk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def where(database_url: str, tmp_path: Path) -> list[str]:
    """The options that point a command at the test database."""
    return ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.connect(database_url)
    try:
        yield database
    finally:
        database.dispose()


def _create(runner: CliRunner, where: list[str], *args: str) -> str:
    result = runner.invoke(app, ["keys", "create", *args, *where])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def _log(db: Database, tenant: str, n: int) -> list[StoredDecision]:
    db.upgrade()
    log = DecisionLog(db)
    log.start()
    try:
        return [log.append_now(NewDecision(
            id=str(uuid.uuid4()), tenant_id=tenant, request_id=f"r{i}",
            input_hash=hashlib.sha256(str(i).encode()).hexdigest(), strategy_id="consumer_loan",
            strategy_version="1", strategy_digest="sha256:x",
            decided_at=dt.datetime(2026, 3, 14, tzinfo=dt.UTC) + dt.timedelta(seconds=i),
            segment="default", outcome="approve", latency_us=10, record=f'{{"n":{i}}}'))
            for i in range(n)]
    finally:
        log.stop()


def test_keys_create_prints_the_key_once_on_stdout(runner: CliRunner, where: list[str],
                                                    db: Database) -> None:
    result = runner.invoke(app, ["keys", "create", "--tenant", "bank_a", "--role", "decide",
                                 "--role", "audit", "--name", "scoring", *where])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and KEY.match(lines[0])
    key = lines[0]
    key_id = KEY.match(key).group(1)  # type: ignore[union-attr]
    assert key not in result.stderr
    assert key_id in result.stderr and "shown once" in result.stderr
    assert "audit, decide" in result.stderr
    with db.reader.connect() as conn:
        who = authenticate(conn, key)
        stored = " ".join(str(v) for row in conn.execute(select(api_keys)) for v in row)
    assert who is not None
    assert (who.key_id, who.tenant_id, who.name, who.roles) == (
        key_id, "bank_a", "scoring", frozenset({"decide", "audit"}))
    assert key.split("_", 2)[2] not in stored


def test_keys_create_with_a_bad_role_exits_2_naming_it(runner: CliRunner, where: list[str],
                                                        db: Database) -> None:
    result = runner.invoke(app, ["keys", "create", "--tenant", "bank_a", "--role", "decide",
                                 "--role", "superuser", *where])
    assert result.exit_code == 2
    assert "'superuser'" in result.stderr
    assert "decide, author, approve, audit, admin" in result.stderr
    assert result.stdout == ""
    with db.reader.connect() as conn:
        assert conn.execute(select(api_keys)).all() == []


def test_keys_create_with_a_bad_tenant_exits_2(runner: CliRunner, where: list[str]) -> None:
    result = runner.invoke(app, ["keys", "create", "--tenant", "Bank A", "--role", "decide",
                                 *where])
    assert result.exit_code == 2
    assert "not a valid id" in result.stderr
    assert result.stdout == ""


def test_keys_list_and_revoke(runner: CliRunner, where: list[str], db: Database) -> None:
    first = _create(runner, where, "--tenant", "bank_a", "--role", "decide", "--name", "app-one")
    second = _create(runner, where, "--tenant", "bank_a", "--role", "admin", "--name", "ops")
    elsewhere = _create(runner, where, "--tenant", "bank_b", "--role", "decide", "--name", "zzz")
    first_id = KEY.match(first).group(1)  # type: ignore[union-attr]
    second_id = KEY.match(second).group(1)  # type: ignore[union-attr]

    listed = runner.invoke(app, ["keys", "list", "--tenant", "bank_a", *where])
    assert listed.exit_code == 0, listed.output
    assert first_id in listed.stdout and second_id in listed.stdout
    assert "app-one" in listed.stdout and "ops" in listed.stdout
    assert "zzz" not in listed.stdout  # another tenant's key
    for key in (first, second, elsewhere):
        assert key.split("_", 2)[2] not in listed.stdout

    done = runner.invoke(app, ["keys", "revoke", first_id, "--tenant", "bank_a", *where])
    assert done.exit_code == 0, done.output
    assert f"Revoked {first_id}" in done.stdout
    with db.reader.connect() as conn:
        assert authenticate(conn, first) is None
        assert authenticate(conn, second) is not None
        assert authenticate(conn, elsewhere) is not None

    again = runner.invoke(app, ["keys", "revoke", first_id, "--tenant", "bank_a", *where])
    assert again.exit_code == 1
    assert "no active key" in again.stderr
    foreign = runner.invoke(app, ["keys", "revoke", second_id, "--tenant", "bank_b", *where])
    assert foreign.exit_code == 1  # not bank_b's key
    with db.reader.connect() as conn:
        assert authenticate(conn, second) is not None

    listed = runner.invoke(app, ["keys", "list", "--tenant", "bank_a", *where])
    row = next(line for line in listed.stdout.splitlines() if first_id in line)
    assert re.search(r"\d{4}-\d\d-\d\d.*\d{4}-\d\d-\d\d", row), row  # created and revoked


def test_audit_verify_ok_then_names_the_tampered_record(runner: CliRunner, where: list[str],
                                                        db: Database) -> None:
    chain = _log(db, "bank_a", 12)
    _log(db, "bank_b", 3)
    ok = runner.invoke(app, ["audit", "verify", *where])
    assert ok.exit_code == 0, ok.output
    assert f"bank_a: ok, 12 records, head {chain[-1].hash}" in ok.stdout
    assert "bank_b: ok, 3 records" in ok.stdout

    with db.writer.begin() as conn:
        conn.execute(update(decisions).where(
            (decisions.c.tenant_id == "bank_a") & (decisions.c.seq == 7)).values(outcome="decline"))
    bad = runner.invoke(app, ["audit", "verify", *where])
    assert bad.exit_code == 1
    assert f"bank_a: BROKEN at seq 7 (record id {chain[6].id})" in bad.stdout
    assert "edited" in bad.stdout
    assert "bank_b: ok, 3 records" in bad.stdout  # every tenant is still checked

    one = runner.invoke(app, ["audit", "verify", "--tenant", "bank_b", *where])
    assert one.exit_code == 0 and "bank_a" not in one.stdout


def test_audit_verify_names_a_deleted_record(runner: CliRunner, where: list[str],
                                             db: Database) -> None:
    chain = _log(db, "bank_a", 10)
    with db.writer.begin() as conn:
        conn.execute(decisions.delete().where(decisions.c.seq == 4))
    result = runner.invoke(app, ["audit", "verify", "--tenant", "bank_a", *where])
    assert result.exit_code == 1
    assert f"BROKEN at seq 5 (record id {chain[4].id})" in result.stdout
    assert "record 4 is missing" in result.stdout


# The failing command leaves its connection pool open (no dispose on the error path);
# collect it here so the leak is not reported against whichever test runs next.
@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_audit_verify_of_a_database_without_a_schema_fails_cleanly(
        runner: CliRunner, where: list[str]) -> None:
    result = runner.invoke(app, ["audit", "verify", *where])
    code, stderr = result.exit_code, result.stderr
    clean = result.exception is None or isinstance(result.exception, SystemExit)
    raised = repr(result.exception)
    del result  # its traceback holds the leaked pool: free it inside this test
    gc.collect()
    assert code == 1
    # A message, not a driver traceback: the schema is missing (run `fengkong db upgrade`).
    assert clean, raised
    assert "error" in stderr.lower()


def test_db_upgrade_creates_the_schema_and_is_idempotent(
        runner: CliRunner, where: list[str], db: Database) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade", *where])
        assert result.exit_code == 0, result.output
        assert f"{db.dialect} database is at the newest schema." in result.stdout
    assert {"decisions", "chain_heads", "api_keys", "alembic_version"} <= set(
        inspect(db.writer).get_table_names())
    with db.reader.connect() as conn:
        assert verify_chain(conn, "default").ok


def test_db_upgrade_on_a_fresh_data_dir_makes_the_sqlite_file(runner: CliRunner,
                                                              tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "sqlite database is at the newest schema." in result.stdout
    assert (data / "fengkong.db").is_file()
    key = _create(runner, ["--data-dir", str(data)], "--tenant", "default", "--role", "decide")
    assert KEY.match(key)


def test_a_bad_database_url_is_an_error_not_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path),
                                 "--database-url", "mysql://nowhere/db"])
    assert result.exit_code == 1
    assert "Unsupported database" in result.stderr
    unreachable = runner.invoke(app, ["keys", "list", "--tenant", "x", "--database-url",
                                      "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
    assert unreachable.exit_code == 1
    assert "cannot open the database" in unreachable.stderr


def test_keys_create_accepts_the_review_role(runner: CliRunner, where: list[str],
                                             db: Database) -> None:
    key = _create(runner, where, "--tenant", "bank_a", "--role", "review", "--name", "Chen Jing")
    with db.reader.connect() as conn:
        who = authenticate(conn, key)
    assert who is not None and who.roles == frozenset({"review"})
    bad = runner.invoke(app, ["keys", "create", "--tenant", "bank_a", "--role", "reviewer",
                              "--name", "x", *where])
    assert bad.exit_code == 2
    assert "consent, review" in bad.stderr
