"""Human-review cases (PIPL art. 24, GDPR art. 22): one per automated decision.

A case is opened when the customer asks for a person to look at an automated decision;
while it is ``pending`` the automated outcome is on hold. A reviewer (another key than
the one that opened it) decides; the human decision is appended to the tenant's
hash-chained decision log, in the same transaction that closes the case, as a record
saying ``human_reviewed`` with the original decision id, the case id and the reviewer.
The log never holds free text: the reviewer's note stays in the case (the log keeps its
SHA-256), so the immutable chain holds no words that may later have to be erased.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fengkong.errors import FengkongError
from fengkong.store._db import as_utc, utcnow
from fengkong.store._ids import new_id
from fengkong.store._log import NewDecision, StoredDecision, append_decisions
from fengkong.store._tables import review_cases

STATUSES = ("pending", "decided")
OUTCOMES = ("approve", "decline", "refer")


class ReviewError(FengkongError):
    """A review request that cannot be done: carries the HTTP status and error code."""

    code = "review-invalid"

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


@dataclass(frozen=True)
class ReviewCase:
    """One human-review case."""

    id: str
    tenant_id: str
    decision_id: str
    status: str
    lang: str
    reason: str | None
    opened_by: str
    opened_at: dt.datetime
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: dt.datetime | None = None
    outcome: str | None = None
    note: str | None = None
    review_decision_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it (the tenant is the caller's own, so it is left out)."""
        out = asdict(self)
        del out["tenant_id"]
        return out

    def summary(self) -> dict[str, Any]:
        """What a decision's view says about its review."""
        out: dict[str, Any] = {"status": self.status, "case_id": self.id}
        if self.status == "decided":
            out |= {"decision_id": self.review_decision_id, "outcome": self.outcome,
                    "decided_at": self.decided_at}
        return out


def _case(row: Any) -> ReviewCase:
    m = dict(row._mapping)
    for key in ("opened_at", "decided_at"):
        if m[key] is not None:
            m[key] = as_utc(m[key])
    return ReviewCase(**m)


def open_case(conn: Connection, tenant: str, decision_id: str, opened_by: str, *,
              lang: str, reason: str | None) -> tuple[ReviewCase, bool]:
    """Open the decision's case; returns it and whether it is new (one case per decision)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    case_id = new_id()
    conn.execute(insert(review_cases).values(
        id=case_id, tenant_id=tenant, decision_id=decision_id, status="pending", lang=lang,
        reason=reason, opened_by=opened_by, opened_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant_id", "decision_id"]))
    case = case_for_decision(conn, tenant, decision_id)
    assert case is not None
    return case, case.id == case_id


def get_case(conn: Connection, tenant: str, case_id: str) -> ReviewCase | None:
    """One of ``tenant``'s cases (another tenant's id finds nothing)."""
    row = conn.execute(select(review_cases).where(and_(
        review_cases.c.tenant_id == tenant, review_cases.c.id == case_id))).one_or_none()
    return None if row is None else _case(row)


def case_for_decision(conn: Connection, tenant: str, decision_id: str) -> ReviewCase | None:
    """The case of one of ``tenant``'s decisions, if one was opened."""
    row = conn.execute(select(review_cases).where(and_(
        review_cases.c.tenant_id == tenant,
        review_cases.c.decision_id == decision_id))).one_or_none()
    return None if row is None else _case(row)


def list_cases(conn: Connection, tenant: str, *, status: str | None = None,
               limit: int = 50, before: str | None = None) -> list[ReviewCase]:
    """``tenant``'s cases, newest first (ids sort by time); page with ``before`` (a case id)."""
    where = [review_cases.c.tenant_id == tenant]
    if status is not None:
        where.append(review_cases.c.status == status)
    if before is not None:
        where.append(review_cases.c.id < before)
    rows = conn.execute(select(review_cases).where(and_(*where))
                        .order_by(review_cases.c.id.desc()).limit(limit)).all()
    return [_case(r) for r in rows]


def review_record(original: StoredDecision, case: ReviewCase, *, reviewer_id: str,
                  reviewer_name: str, decision: dict[str, Any], note: str | None,
                  now: dt.datetime | None = None) -> NewDecision:
    """The log record of a reviewer's decision on ``original``.

    ``decision`` holds ``decision``, ``limit``, ``apr`` and ``reasons``; the record adds
    the original's strategy and segment, ``human_reviewed: true`` and who decided.
    """
    when = now or utcnow()
    final = {"decision": decision["decision"], "limit": decision.get("limit"),
             "apr": decision.get("apr"), "term": None, "reasons": list(decision["reasons"]),
             "segment": original.segment, "human_reviewed": True,
             "strategy": {"id": original.strategy_id, "version": original.strategy_version,
                          "digest": original.strategy_digest},
             "evaluated_at": when.isoformat()}
    review = {"case_id": case.id, "original_decision_id": original.id,
              "original_outcome": original.outcome, "opened_by": case.opened_by,
              "reviewer": {"key_id": reviewer_id, "name": reviewer_name},
              "note_sha256": None if note is None else hashlib.sha256(note.encode()).hexdigest()}
    record = {"decision": final, "human_reviewed": True, "review": review}
    text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
    return NewDecision(
        id=new_id(), tenant_id=original.tenant_id, request_id=f"review:{case.id}",
        input_hash=hashlib.sha256(text.encode()).hexdigest(), strategy_id=original.strategy_id,
        strategy_version=original.strategy_version, strategy_digest=original.strategy_digest,
        decided_at=when, segment=original.segment, outcome=decision["decision"], latency_us=0,
        record=text)


def decide_case(conn: Connection, case: ReviewCase, record: NewDecision, *, reviewer_id: str,
                reviewer_name: str, note: str | None) -> tuple[ReviewCase, StoredDecision]:
    """Close ``case`` with ``record`` (from :func:`review_record`) and append the record to
    the decision log, both in the caller's transaction; 409 if the case is closed already."""
    closed = conn.execute(update(review_cases).where(
        review_cases.c.tenant_id == case.tenant_id, review_cases.c.id == case.id,
        review_cases.c.status == "pending").values(
        status="decided", decided_by=reviewer_id, decided_by_name=reviewer_name,
        decided_at=record.decided_at, outcome=record.outcome, note=note,
        review_decision_id=record.id))
    if closed.rowcount != 1:
        msg = "The review case is already decided."
        raise ReviewError(409, "case-closed", msg)
    [stored] = append_decisions(conn, [record])
    if not isinstance(stored, StoredDecision) or stored.existing:
        msg = "The review case is already decided."
        raise ReviewError(409, "case-closed", msg)
    after = get_case(conn, case.tenant_id, case.id)
    assert after is not None
    return after, stored


def is_human_review(record: str | bytes) -> bool:
    """Whether a log record's JSON is a reviewer's decision."""
    return bool(orjson.loads(record).get("human_reviewed"))

