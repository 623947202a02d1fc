"""Verifying the decision log's hash chains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from fengkong.store._log import GENESIS, iter_chain, record_hash
from fengkong.store._tables import chain_heads, decisions


@dataclass(frozen=True)
class ChainReport:
    """The verdict on one tenant's chain.

    ``problem`` is None when the chain is intact; otherwise it says what is wrong at
    ``bad_seq`` / ``bad_id``, the first record that does not fit.
    """

    tenant_id: str
    records: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None
    bad_id: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the chain verified."""
        return self.problem is None


def tenants_with_chains(conn: Connection) -> list[str]:
    """Every tenant that has a chain head or a record."""
    heads = {t for (t,) in conn.execute(select(chain_heads.c.tenant_id))}
    logged = {t for (t,) in conn.execute(select(decisions.c.tenant_id).distinct())}
    return sorted(heads | logged)


def verify_chain(conn: Connection, tenant: str,
                 progress: Callable[[int], None] | None = None) -> ChainReport:
    """Walk ``tenant``'s chain from the first record and stop at the first that does not fit.

    Run it on a connection from :meth:`Database.snapshot` so that decisions appended
    meanwhile are not seen half (the head without its records, or the reverse).

    Detects an edited record (its hash no longer matches its content), a deleted,
    inserted or reordered record (a gap in the sequence or a previous-hash that
    does not match) and records cut off the end (the chain head says more).
    """
    head = conn.execute(select(chain_heads.c.seq, chain_heads.c.hash)
                        .where(chain_heads.c.tenant_id == tenant)).one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    expected_seq, prev, count = 1, GENESIS, 0

    def bad(problem: str, seq: int | None, rid: str | None) -> ChainReport:
        return ChainReport(tenant, count, head_seq, head_hash, problem, seq, rid)

    for d in iter_chain(conn, tenant):
        if head is not None and d.seq > head_seq:
            return bad(f"record {d.seq} is beyond the chain head ({head_seq}): it was added "
                       "outside the log", d.seq, d.id)
        if d.seq != expected_seq:
            return bad(f"record {expected_seq} is missing: the chain goes from "
                       f"{expected_seq - 1} to {d.seq} (a record was deleted)", d.seq, d.id)
        if d.prev_hash != prev:
            return bad(f"record {d.seq} does not follow record {d.seq - 1}: its previous-hash "
                       "does not match (a record was inserted, deleted or reordered)", d.seq, d.id)
        if record_hash(d, d.seq, d.prev_hash) != d.hash:
            return bad(f"record {d.seq} was edited: its content does not match its hash",
                       d.seq, d.id)
        prev, expected_seq, count = d.hash, expected_seq + 1, count + 1
        if progress is not None:
            progress(1)
    if head is not None and (head_seq != count or head_hash != prev):
        return bad(f"the chain head says {head_seq} records but the log holds {count} "
                   "intact ones (records were deleted from the end)", count + 1, None)
    if head is None and count:
        return bad("the chain has records but no head (the head was deleted)", None, None)
    return ChainReport(tenant, count, head_seq, head_hash)


def count_records(conn: Connection, tenant: str) -> int:
    """How many records a tenant's log holds."""
    return int(conn.execute(select(func.count()).select_from(decisions)
                            .where(decisions.c.tenant_id == tenant)).scalar_one())
