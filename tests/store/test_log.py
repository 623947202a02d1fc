"""The decision log: group commit, per-tenant chains, idempotency, failed batches, draining."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fengkong.store import (
    Database,
    DecisionLog,
    NewDecision,
    RequestIdReused,
    StoredDecision,
    count_records,
    get_decision,
    list_decisions,
    verify_chain,
)
from fengkong.store._tables import chain_heads, decisions

THREADS, PER_THREAD = 8, 200


def _rows(db: Database, tenant: str | None = None) -> list[tuple[int, str, str]]:
    q = select(decisions.c.seq, decisions.c.request_id, decisions.c.id).order_by(
        decisions.c.tenant_id, decisions.c.seq)
    if tenant is not None:
        q = q.where(decisions.c.tenant_id == tenant)
    with db.reader.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]


def test_append_assigns_the_first_sequence_number_and_links_to_genesis(
        db: Database, log: DecisionLog, new_decision: Callable[..., NewDecision]) -> None:
    item = new_decision()
    stored = log.append_now(item)
    assert (stored.seq, stored.prev_hash, stored.existing) == (1, "0" * 64, False)
    assert stored.id == item.id and stored.request_id == item.request_id
    with db.reader.connect() as conn:
        back = get_decision(conn, "bank_a", item.id)
        head = conn.execute(select(chain_heads)).one()
        assert get_decision(conn, "bank_b", item.id) is None  # another tenant finds nothing
    assert back is not None
    assert (back.seq, back.hash, back.record, back.decided_at) == (
        1, stored.hash, item.record, item.decided_at)
    assert (head.tenant_id, head.seq, head.hash) == ("bank_a", 1, stored.hash)


def test_many_threads_get_distinct_gapless_sequence_numbers_and_share_commits(
        db: Database, log: DecisionLog, new_decision: Callable[..., NewDecision]) -> None:
    start = threading.Barrier(THREADS)

    def work(t: int) -> list[StoredDecision]:
        items = [new_decision(request_id=f"t{t}-{i}") for i in range(PER_THREAD)]
        start.wait(30)
        return [log.append_now(item) for item in items]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [s for batch in pool.map(work, range(THREADS)) for s in batch]

    total = THREADS * PER_THREAD
    assert sorted(s.seq for s in results) == list(range(1, total + 1))
    assert len({s.id for s in results}) == total
    assert not any(s.existing for s in results)
    assert log.appended == total
    assert 0 < log.batches < total, "every decision got its own commit: no group commit"
    # Each answer's hash links to the answer before it in sequence order.
    by_seq = sorted(results, key=lambda s: s.seq)
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(by_seq))
    with db.reader.connect() as conn:
        report = verify_chain(conn, "bank_a")
        assert count_records(conn, "bank_a") == total
    assert report.ok, report.problem
    assert (report.records, report.head_seq, report.head_hash) == (total, total, by_seq[-1].hash)
    assert [r[0] for r in _rows(db)] == list(range(1, total + 1))


def test_two_tenants_interleaved_keep_separate_chains(
        db: Database, log: DecisionLog, new_decision: Callable[..., NewDecision]) -> None:
    tenants = ("bank_a", "bank_b")

    def work(t: int) -> list[StoredDecision]:
        return [log.append_now(new_decision(tenants[(t + i) % 2])) for i in range(60)]

    with ThreadPoolExecutor(6) as pool:
        results = [s for batch in pool.map(work, range(6)) for s in batch]

    for tenant in tenants:
        mine = sorted((s for s in results if s.tenant_id == tenant), key=lambda s: s.seq)
        assert [s.seq for s in mine] == list(range(1, 181))
        assert mine[0].prev_hash == "0" * 64
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(mine))
        with db.reader.connect() as conn:
            report = verify_chain(conn, tenant)
        assert report.ok, report.problem
        assert report.records == 180
    with db.reader.connect() as conn:
        heads = dict(conn.execute(select(chain_heads.c.tenant_id, chain_heads.c.seq)).all())
        listed = list_decisions(conn, "bank_b", limit=500)
    assert heads == {"bank_a": 180, "bank_b": 180}
    assert {d.tenant_id for d in listed} == {"bank_b"} and len(listed) == 180


def test_same_request_id_and_input_across_batches_returns_the_stored_decision(
        db: Database, log: DecisionLog, new_decision: Callable[..., NewDecision]) -> None:
    first = log.append_now(new_decision(request_id="r-1", body="same"))
    log.append_now(new_decision(request_id="r-2"))
    again = log.append_now(new_decision(request_id="r-1", body="same"))
    assert again.existing is True
    assert (again.id, again.seq, again.hash) == (first.id, first.seq, first.hash)
    assert log.appended == 2
    assert [r[1] for r in _rows(db)] == ["r-1", "r-2"]


def test_same_request_id_with_other_input_is_refused_across_batches(
        db: Database, log: DecisionLog, new_decision: Callable[..., NewDecision]) -> None:
    log.append_now(new_decision(request_id="r-1", body="one"))
    with pytest.raises(RequestIdReused, match="request id was used before"):
        log.append_now(new_decision(request_id="r-1", body="another"))
    # The same request id stays usable in another tenant: ids are per tenant.
    other = log.append_now(new_decision("bank_b", request_id="r-1", body="another"))
    assert (other.seq, other.existing) == (1, False)
    assert len(_rows(db, "bank_a")) == 1
    with db.reader.connect() as conn:
        assert verify_chain(conn, "bank_a").ok


def test_idempotency_within_one_batch(db: Database, log: DecisionLog, gate: Any,
                                      answers: Any,
                                      new_decision: Callable[..., NewDecision]) -> None:
    held = gate(log, new_decision(request_id="gate"))
    batches_before = log.batches
    items = [new_decision(request_id="dup", body="x"),       # stored
             new_decision(request_id="other"),               # stored
             new_decision(request_id="dup", body="x"),       # the same decision again
             new_decision(request_id="dup", body="changed")]  # reused for another input
    got = answers(len(items))
    for i, item in enumerate(items):
        log.submit(item, got.callback(i))
    held.open()
    first, other, again, reused = got.wait()
    assert log.batches == batches_before + 1, "the four decisions were not written together"
    assert isinstance(first, StoredDecision) and isinstance(other, StoredDecision)
    assert (first.seq, other.seq, first.existing) == (2, 3, False)
    assert isinstance(again, StoredDecision)
    assert (again.existing, again.id, again.seq) == (True, first.id, first.seq)
    assert isinstance(reused, RequestIdReused)
    assert [r[1] for r in _rows(db)] == ["gate", "dup", "other"]
    with db.reader.connect() as conn:
        assert verify_chain(conn, "bank_a").records == 3


def test_a_failing_batch_answers_every_caller_with_the_error_and_writes_nothing(
        db: Database, log: DecisionLog, gate: Any,
        answers: Any, new_decision: Callable[..., NewDecision]) -> None:
    held = gate(log, new_decision(request_id="gate"))
    batches_before = log.batches
    items = [new_decision(request_id="good-1"),
             new_decision("bank_b", request_id="good-other-tenant"),
             new_decision(request_id="bad", outcome=None),  # violates NOT NULL
             new_decision(request_id="good-2")]
    got = answers(len(items))
    for i, item in enumerate(items):
        log.submit(item, got.callback(i))
    held.open()
    results = got.wait()
    assert all(isinstance(r, IntegrityError) for r in results), results
    assert log.batches == batches_before
    assert [r[1] for r in _rows(db)] == ["gate"]
    with db.reader.connect() as conn:
        heads = dict(conn.execute(select(chain_heads.c.tenant_id, chain_heads.c.seq)).all())
        assert verify_chain(conn, "bank_a").ok
    assert heads == {"bank_a": 1}
    # The writer carries on: the next decision takes the next sequence number.
    after = log.append_now(new_decision(request_id="good-1"))
    assert (after.seq, after.existing) == (2, False)
    with db.reader.connect() as conn:
        assert verify_chain(conn, "bank_a").records == 2


def test_a_batch_the_database_refuses_raises_and_the_writer_carries_on(
        database_url: str, new_decision: Callable[..., NewDecision]) -> None:
    database = Database.connect(database_url)
    database.upgrade()
    decision_log = DecisionLog(database)
    decision_log.start()
    try:
        decision_log.append_now(new_decision(request_id="before"))
        # Drop the schema under the writer: the next batch cannot be written.
        with database.writer.begin() as conn:
            conn.execute(decisions.delete())
            conn.execute(chain_heads.delete())
            conn.exec_driver_sql("DROP TABLE decisions")
        with pytest.raises(Exception, match="decisions"):
            decision_log.append_now(new_decision(request_id="after"))
        assert decision_log.running
    finally:
        decision_log.stop()
        database.dispose()


def test_stop_writes_what_is_queued(db: Database, gate: Any,
                                    answers: Any,
                                    new_decision: Callable[..., NewDecision]) -> None:
    decision_log = DecisionLog(db)
    decision_log.start()
    held = gate(decision_log, new_decision(request_id="gate"))
    items = [new_decision(request_id=f"queued-{i}") for i in range(50)]
    got = answers(len(items))
    for i, item in enumerate(items):
        decision_log.submit(item, got.callback(i))
    stopper = threading.Thread(target=decision_log.stop)
    stopper.start()  # queues the stop behind the 50 decisions and waits for the writer
    held.open()
    stopper.join(30)
    assert not stopper.is_alive() and not decision_log.running
    results = got.wait()
    assert [r.seq for r in results] == list(range(2, 52))
    with db.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == 51
        assert verify_chain(conn, "bank_a").records == 51
    with pytest.raises(RuntimeError, match="not running"):
        decision_log.submit(new_decision(), lambda _r: None)


def test_submit_before_start_is_refused(db: Database,
                                        new_decision: Callable[..., NewDecision]) -> None:
    decision_log = DecisionLog(db)
    assert not decision_log.running
    with pytest.raises(RuntimeError, match="not running"):
        decision_log.append_now(new_decision())


def test_async_append_waits_for_the_commit(db: Database, log: DecisionLog,
                                           new_decision: Callable[..., NewDecision]) -> None:
    import asyncio

    async def run() -> list[StoredDecision]:
        return await asyncio.gather(*(log.append(new_decision()) for _ in range(40)))

    stored = asyncio.run(run())
    assert sorted(s.seq for s in stored) == list(range(1, 41))
    with db.reader.connect() as conn:
        assert count_records(conn, "bank_a") == 40

    async def reused() -> None:
        await log.append(new_decision(request_id=stored[0].request_id, body="other"))

    with pytest.raises(RequestIdReused):
        asyncio.run(reused())


def test_list_decisions_filters_and_pages(db: Database, log: DecisionLog,
                                          new_decision: Callable[..., NewDecision]) -> None:
    stored = [log.append_now(new_decision()) for _ in range(12)]
    with db.reader.connect() as conn:
        page1 = list_decisions(conn, "bank_a", limit=5)
        page2 = list_decisions(conn, "bank_a", limit=5, before_seq=page1[-1].seq)
        declines = list_decisions(conn, "bank_a", outcome="decline", limit=50)
        late = list_decisions(conn, "bank_a", start=stored[9].decided_at, limit=50)
    assert [d.seq for d in page1] == [12, 11, 10, 9, 8]
    assert [d.seq for d in page2] == [7, 6, 5, 4, 3]
    assert {d.outcome for d in declines} == {"decline"}
    assert sorted(d.id for d in declines) == sorted(s.id for s in stored if s.outcome == "decline")
    assert [d.seq for d in late] == [12, 11, 10]


def test_two_writers_on_one_database_keep_one_chain(
        db: Database, new_decision: Callable[..., NewDecision]) -> None:
    """Two servers' log writers append to one tenant in turn: each finds the head moved by
    the other, reads it again, and the chain stays whole and gapless."""
    first, second = DecisionLog(db), DecisionLog(db)
    first.start()
    second.start()
    try:
        stored = []
        for i in range(30):
            writer = first if i % 3 else second
            stored.append(writer.append_now(new_decision("bank_a")))
    finally:
        first.stop()
        second.stop()
    assert [s.seq for s in stored] == list(range(1, 31))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    with db.snapshot() as conn:
        report = verify_chain(conn, "bank_a")
    assert report.ok, report.problem
    assert report.records == 30


def test_two_writers_appending_at_once_keep_one_chain(
        db: Database, new_decision: Callable[..., NewDecision]) -> None:
    writers = [DecisionLog(db), DecisionLog(db)]
    for w in writers:
        w.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            stored = list(pool.map(lambda i: writers[i % 2].append_now(new_decision("bank_a")),
                                   range(400)))
    finally:
        for w in writers:
            w.stop()
    assert sorted(s.seq for s in stored) == list(range(1, 401))
    with db.snapshot() as conn:
        report = verify_chain(conn, "bank_a")
    assert report.ok, report.problem
    assert report.records == 400
