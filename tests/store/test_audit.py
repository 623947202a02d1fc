"""The audit chain: verify_chain names the first record that was tampered with, whatever was done."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, select, update

from fengkong.store import (
    ChainReport,
    Database,
    DecisionLog,
    NewDecision,
    StoredDecision,
    record_hash,
    tenants_with_chains,
    verify_chain,
)
from fengkong.store._log import from_row
from fengkong.store._tables import chain_heads, decisions

N = 20
TENANT = "bank_a"


@pytest.fixture
def chain(db: Database, new_decision: Callable[..., NewDecision]) -> Iterator[list[StoredDecision]]:
    """Twenty records of ``bank_a`` (and three of ``bank_b``, which no tampering touches)."""
    log = DecisionLog(db)
    log.start()
    try:
        stored = [log.append_now(new_decision(TENANT)) for _ in range(N)]
        for _ in range(3):
            log.append_now(new_decision("bank_b"))
    finally:
        log.stop()
    yield stored


def _verify(db: Database, tenant: str = TENANT) -> ChainReport:
    with db.snapshot() as conn:
        return verify_chain(conn, tenant)


def _row(conn: Connection, seq: int) -> StoredDecision:
    return from_row(conn.execute(select(decisions).where(
        decisions.c.tenant_id == TENANT, decisions.c.seq == seq)).one())


def _at(seq: int) -> object:
    return (decisions.c.tenant_id == TENANT) & (decisions.c.seq == seq)


def _shift_up_from(conn: Connection, seq: int) -> None:
    """Renumber records ``seq``.. one up (in two steps: the (tenant, seq) key is unique)."""
    where = (decisions.c.tenant_id == TENANT) & (decisions.c.seq >= seq)
    conn.execute(update(decisions).where(where).values(seq=decisions.c.seq + 1000))
    conn.execute(update(decisions).where(
        (decisions.c.tenant_id == TENANT) & (decisions.c.seq >= seq + 1000))
        .values(seq=decisions.c.seq - 999))


def _forge(after: StoredDecision, seq: int, prev_hash: str) -> dict[str, object]:
    forged = dataclasses.replace(after, id="00000000-0000-4000-8000-00000000f0f0",
                                 request_id="forged", outcome="approve",
                                 record='{"decision":{"forged":true},"inputs":{}}')
    fields = {f.name: getattr(forged, f.name) for f in dataclasses.fields(NewDecision)}
    return {**fields, "seq": seq, "prev_hash": prev_hash,
            "hash": record_hash(forged, seq, prev_hash)}


def test_an_untouched_chain_verifies(db: Database, chain: list[StoredDecision]) -> None:
    report = _verify(db)
    assert report.ok and report.problem is None
    assert (report.records, report.head_seq, report.head_hash) == (N, N, chain[-1].hash)
    assert (report.bad_seq, report.bad_id) == (None, None)
    assert _verify(db, "bank_b").records == 3
    empty = _verify(db, "nobody")
    assert empty.ok and empty.records == 0
    with db.reader.connect() as conn:
        assert tenants_with_chains(conn) == ["bank_a", "bank_b"]


def test_progress_is_reported_per_record(db: Database, chain: list[StoredDecision]) -> None:
    seen: list[int] = []
    with db.reader.connect() as conn:
        assert verify_chain(conn, TENANT, seen.append).ok
    assert seen == [1] * N


@pytest.mark.parametrize(("column", "value"), [
    ("outcome", "approve-forged"),
    ("record", '{"decision":{"decision":"approve"},"inputs":{}}'),
    ("latency_us", 1),
    ("request_id", "someone-else"),
])
def test_an_edited_record_is_named(db: Database, chain: list[StoredDecision], column: str,
                                   value: object) -> None:
    with db.writer.begin() as conn:
        conn.execute(update(decisions).where(_at(7)).values({column: value}))
    report = _verify(db)
    assert not report.ok
    assert (report.bad_seq, report.bad_id) == (7, chain[6].id)
    assert "edited" in (report.problem or "")
    assert report.records == 6  # the intact records before it


def test_an_edited_decision_time_is_named(db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        later = chain[6].decided_at.replace(year=2027)
        conn.execute(update(decisions).where(_at(7)).values(decided_at=later))
    report = _verify(db)
    assert (report.bad_seq, report.bad_id) == (7, chain[6].id)
    assert "edited" in (report.problem or "")


def test_a_deleted_middle_record_is_reported_at_the_next_one(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.delete().where(_at(7)))
    report = _verify(db)
    assert not report.ok
    assert (report.bad_seq, report.bad_id) == (8, chain[7].id)
    assert "record 7 is missing" in (report.problem or "")
    assert "deleted" in (report.problem or "")


def test_a_deleted_and_renumbered_record_breaks_the_link(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.delete().where(_at(7)))
        for seq in range(8, N + 1):
            conn.execute(update(decisions).where(_at(seq)).values(seq=seq - 1))
    report = _verify(db)
    assert (report.bad_seq, report.bad_id) == (7, chain[7].id)
    assert "does not follow" in (report.problem or "")


def test_an_inserted_record_with_a_valid_own_hash_is_caught_at_the_record_after_it(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        _shift_up_from(conn, 11)
        conn.execute(decisions.insert().values(_forge(chain[9], 11, chain[9].hash)))
    report = _verify(db)
    assert not report.ok
    assert (report.bad_seq, report.bad_id) == (12, chain[10].id)
    assert "does not follow" in (report.problem or "")


def test_an_appended_record_with_a_wrong_previous_hash_is_named(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.insert().values(_forge(chain[-1], N + 1, "f" * 64)))
        conn.execute(update(chain_heads).where(chain_heads.c.tenant_id == TENANT)
                     .values(seq=N + 1))
    report = _verify(db)
    assert (report.bad_seq, report.bad_id) == (N + 1, "00000000-0000-4000-8000-00000000f0f0")
    assert "does not follow" in (report.problem or "")


def test_an_appended_record_that_links_correctly_but_misses_the_head_is_caught(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.insert().values(_forge(chain[-1], N + 1, chain[-1].hash)))
    report = _verify(db)
    assert not report.ok
    assert report.head_seq == N
    # The first record that does not fit is the one after the head, which exists:
    # not a record N + 2, and nothing was "deleted from the end".
    assert (report.bad_seq, report.bad_id) == (N + 1, "00000000-0000-4000-8000-00000000f0f0")
    assert "deleted" not in (report.problem or "")


def test_records_committed_while_a_chain_is_verified_do_not_break_it(
        db: Database, chain: list[StoredDecision],
        new_decision: Callable[..., NewDecision]) -> None:
    """A live server keeps appending while an auditor verifies: the verdict is on one
    consistent snapshot (head and records), not a false "broken"."""
    log = DecisionLog(db)
    log.start()
    appended: list[StoredDecision] = []

    def append_meanwhile(_n: int) -> None:
        if not appended:
            appended.extend(log.append_now(new_decision(TENANT)) for _ in range(3))

    try:
        with db.snapshot() as conn:
            report = verify_chain(conn, TENANT, append_meanwhile)
    finally:
        log.stop()
    assert [s.seq for s in appended] == [N + 1, N + 2, N + 3]
    assert report.ok, report.problem
    assert _verify(db).records == N + 3


def test_reordered_records_are_named(db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(update(decisions).where(_at(5)).values(seq=-5))
        conn.execute(update(decisions).where(_at(6)).values(seq=5))
        conn.execute(update(decisions).where(_at(-5)).values(seq=6))
    report = _verify(db)
    assert not report.ok
    assert (report.bad_seq, report.bad_id) == (5, chain[5].id)
    assert "does not follow" in (report.problem or "")


def test_a_truncated_tail_is_caught_by_the_head(db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.delete().where(
            (decisions.c.tenant_id == TENANT) & (decisions.c.seq > N - 2)))
    report = _verify(db)
    assert not report.ok
    assert report.records == N - 2
    assert (report.bad_seq, report.bad_id, report.head_seq) == (N - 1, None, N)
    assert "deleted from the end" in (report.problem or "")
    assert _verify(db, "bank_b").ok  # the other tenant's chain is not affected


def test_a_truncated_tail_with_a_rewound_head_hash_but_not_seq_is_caught(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(decisions.delete().where(_at(N)))
        conn.execute(update(chain_heads).where(chain_heads.c.tenant_id == TENANT)
                     .values(hash=chain[N - 2].hash))
    report = _verify(db)
    assert not report.ok and report.bad_seq == N


def test_an_edit_with_a_recomputed_own_hash_is_caught_at_the_next_record(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        edited = dataclasses.replace(_row(conn, 7), outcome="approve-forged")
        conn.execute(update(decisions).where(_at(7)).values(
            outcome=edited.outcome, hash=record_hash(edited, 7, edited.prev_hash)))
    report = _verify(db)
    assert not report.ok
    assert (report.bad_seq, report.bad_id) == (8, chain[7].id)
    assert "does not follow" in (report.problem or "")


def test_a_deleted_head_is_caught(db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(chain_heads.delete().where(chain_heads.c.tenant_id == TENANT))
    report = _verify(db)
    assert not report.ok
    assert "no head" in (report.problem or "")
    with db.reader.connect() as conn:
        assert "bank_a" in tenants_with_chains(conn)


def test_the_first_bad_record_is_named_when_several_are_bad(
        db: Database, chain: list[StoredDecision]) -> None:
    with db.writer.begin() as conn:
        conn.execute(update(decisions).where(_at(15)).values(outcome="x"))
        conn.execute(update(decisions).where(_at(4)).values(outcome="y"))
    assert _verify(db).bad_seq == 4
