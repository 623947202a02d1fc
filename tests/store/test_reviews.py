"""Human-review cases: one per decision, tenant-scoped, closed with a hash-chained record.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from tests.store.conftest import DecisionFactory

from fengkong.store import Database, DecisionLog, get_decision, reviews, verify_chain

DECISION = {"decision": "approve", "limit": 5000.0, "apr": 0.12, "reasons": []}


def _logged(log: DecisionLog, new_decision: DecisionFactory, tenant: str = "bank_a") -> str:
    return log.append_now(new_decision(tenant, outcome="decline")).id


def test_one_case_per_decision_and_only_in_its_tenant(db: Database, log: DecisionLog,
                                                      new_decision: DecisionFactory) -> None:
    did = _logged(log, new_decision)
    with db.writer.begin() as conn:
        case, created = reviews.open_case(conn, "bank_a", did, "key-1", lang="en",
                                          reason="I have a new job.")
        again, created_again = reviews.open_case(conn, "bank_a", did, "key-2", lang="zh",
                                                 reason=None)
    assert created and not created_again
    assert again == case
    assert (case.status, case.lang, case.opened_by, case.reason) == (
        "pending", "en", "key-1", "I have a new job.")
    with db.reader.connect() as conn:
        assert reviews.get_case(conn, "bank_a", case.id) == case
        assert reviews.get_case(conn, "bank_b", case.id) is None
        assert reviews.case_for_decision(conn, "bank_b", did) is None
        assert [c.id for c in reviews.list_cases(conn, "bank_a", status="pending")] == [case.id]
        assert reviews.list_cases(conn, "bank_a", status="decided") == []
        assert reviews.list_cases(conn, "bank_b") == []
    assert case.summary() == {"status": "pending", "case_id": case.id}


def test_deciding_closes_the_case_and_appends_to_the_chain(db: Database, log: DecisionLog,
                                                          new_decision: DecisionFactory) -> None:
    did = _logged(log, new_decision)
    with db.writer.begin() as conn:
        case, _ = reviews.open_case(conn, "bank_a", did, "key-1", lang="zh", reason=None)
    with db.reader.connect() as conn:
        original = get_decision(conn, "bank_a", did)
    assert original is not None
    record = reviews.review_record(original, case, reviewer_id="key-9", reviewer_name="Chen",
                                   decision=DECISION, note="Payslips checked.")
    with db.writer.begin() as conn:
        closed, stored = reviews.decide_case(conn, case, record, reviewer_id="key-9",
                                             reviewer_name="Chen", note="Payslips checked.")
    assert (closed.status, closed.outcome, closed.decided_by) == ("decided", "approve", "key-9")
    assert closed.review_decision_id == stored.id
    assert stored.seq == original.seq + 1 and stored.prev_hash == original.hash
    body = orjson.loads(stored.record)
    assert body["human_reviewed"] is True
    assert body["review"]["original_decision_id"] == did
    assert body["review"]["case_id"] == case.id
    assert body["review"]["reviewer"] == {"key_id": "key-9", "name": "Chen"}
    assert "Payslips" not in stored.record  # the note stays in the case; the log has its hash
    assert body["review"]["note_sha256"]
    assert reviews.is_human_review(stored.record)
    # The log's writer, whose cached chain head is now stale, keeps the chain whole.
    after = log.append_now(new_decision("bank_a"))
    assert after.seq == stored.seq + 1 and after.prev_hash == stored.hash
    with db.reader.connect() as conn:
        assert verify_chain(conn, "bank_a").ok
    with pytest.raises(reviews.ReviewError) as err, db.writer.begin() as conn:
        reviews.decide_case(conn, case, reviews.review_record(
            original, case, reviewer_id="key-8", reviewer_name="Li", decision=DECISION,
            note=None), reviewer_id="key-8", reviewer_name="Li", note=None)
    assert (err.value.status, err.value.error_code) == (409, "case-closed")
    with db.reader.connect() as conn:
        assert verify_chain(conn, "bank_a").ok
        assert reviews.get_case(conn, "bank_a", case.id) == closed
