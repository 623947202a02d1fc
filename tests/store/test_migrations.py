"""Migrations: the schema they make is the schema the code uses, and upgrading is idempotent."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from fengkong.store import Database, StoreError, utcnow
from fengkong.store._tables import decisions, metadata

TABLES = {"tenants", "api_keys", "strategy_versions", "deployments", "release_events",
          "decisions", "chain_heads", "consents", "review_cases"}


def _schema(db: Database) -> dict[str, set[str]]:
    insp = inspect(db.writer)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}


def _revision(db: Database) -> list[str]:
    with db.reader.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_upgrade_creates_every_table_with_the_columns_the_code_uses(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        assert _schema(db) == {}
        db.upgrade()
        schema = _schema(db)
        assert set(schema) == TABLES | {"alembic_version"}
        for table in metadata.sorted_tables:
            assert schema[table.name] == {c.name for c in table.columns}, table.name
        insp = inspect(db.writer)
        uniques = {u["name"] for u in insp.get_unique_constraints("decisions")}
        assert {"uq_decisions_tenant_seq", "uq_decisions_tenant_request"} <= uniques
        indexes = {i["name"] for i in insp.get_indexes("decisions")}
        assert {"ix_decisions_strategy_time", "ix_decisions_time"} <= indexes
        consent_ix = {i["name"]: i["column_names"] for i in insp.get_indexes("consents")}
        assert consent_ix["ix_consents_subject"] == ["tenant_id", "subject", "source", "purpose"]
        assert _revision(db) == ["0003"]
    finally:
        db.dispose()


def test_upgrade_twice_is_a_no_op_and_keeps_data(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        db.upgrade()
        with db.writer.begin() as conn:
            conn.execute(text("INSERT INTO tenants (id, created_at) VALUES ('bank_a', :t)"),
                         {"t": utcnow()})
        before = _schema(db)
        db.upgrade()
        assert _schema(db) == before
        assert _revision(db) == ["0003"]
        with db.reader.connect() as conn:
            assert conn.execute(text("SELECT id FROM tenants")).scalars().all() == ["bank_a"]
    finally:
        db.dispose()
    again = Database.connect(database_url)  # a second process starting on the same database
    try:
        again.upgrade()
        assert _revision(again) == ["0003"]
    finally:
        again.dispose()


def test_concurrent_upgrades_of_a_fresh_database_both_succeed(database_url: str) -> None:
    dbs = [Database.connect(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def up(db: Database) -> None:
        try:
            db.upgrade()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=up, args=(db,)) for db in dbs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert _revision(dbs[0]) == ["0003"]
    finally:
        for db in dbs:
            db.dispose()


def test_the_unique_constraints_hold(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        db.upgrade()
        row = {"id": "d1", "tenant_id": "bank_a", "seq": 1, "request_id": "r1",
               "input_hash": "0" * 64, "strategy_id": "s", "strategy_version": "1",
               "strategy_digest": "sha256:x", "decided_at": utcnow(), "segment": "default",
               "outcome": "approve", "latency_us": 1, "record": "{}", "prev_hash": "0" * 64,
               "hash": "1" * 64}
        with db.writer.begin() as conn:
            conn.execute(decisions.insert().values(row))
        for clash in ({"id": "d2", "request_id": "r2"},  # same (tenant, seq)
                      {"id": "d3", "seq": 2}):          # same (tenant, request id)
            with pytest.raises(IntegrityError), db.writer.begin() as conn:
                conn.execute(decisions.insert().values({**row, **clash}))
        with db.writer.begin() as conn:  # another tenant may reuse both
            conn.execute(decisions.insert().values({**row, "id": "d4", "tenant_id": "bank_b"}))
        with db.reader.connect() as conn:
            assert sorted(conn.execute(select(decisions.c.id)).scalars()) == ["d1", "d4"]
    finally:
        db.dispose()


def test_ping_answers(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        db.ping()
        assert db.dialect in ("sqlite", "postgresql")
        assert database_url.startswith(db.dialect)
    finally:
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://host/db",
                                 "not a url at all"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        Database.connect(url)


def test_a_sqlite_file_in_a_new_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "fengkong.db"
    db = Database.connect(f"sqlite:///{path}")
    try:
        db.upgrade()
        assert path.exists()
        with db.reader.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        db.dispose()
