"""The decision log: durable, hash-chained per tenant, written by group commit.

One writer thread owns the write connection. Callers hand it decisions and wait;
it takes everything queued, writes it in one transaction and commits once, then
answers every caller. A caller is answered only after its record is committed, so
an acknowledged decision is never lost; throughput comes from sharing each
commit (and its fsync) among all the decisions that arrived meanwhile.

Each record holds the hash of the one before it in its tenant's chain and its own
hash over its content. The chain head (last sequence number and hash) of every
tenant is kept in ``chain_heads`` and locked while a batch is appended, so
several server processes can share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from fengkong.errors import FengkongError
from fengkong.store._db import Database, as_utc
from fengkong.store._tables import chain_heads, decisions

log = logging.getLogger("fengkong.store.log")
GENESIS = "0" * 64
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_STOP = object()


class RequestIdReused(FengkongError):
    """A request id already names a decision made on different input."""

    code = "request-id-reused"


@dataclass(frozen=True)
class NewDecision:
    """A decision to append: everything but its place in the chain."""

    id: str
    tenant_id: str
    request_id: str
    input_hash: str
    strategy_id: str
    strategy_version: str
    strategy_digest: str
    decided_at: dt.datetime
    segment: str
    outcome: str
    latency_us: int
    record: str  # canonical JSON: inputs (pseudonymised), decision, shadow decision


@dataclass(frozen=True)
class StoredDecision(NewDecision):
    """A decision as the log holds it."""

    seq: int = 0
    prev_hash: str = GENESIS
    hash: str = GENESIS
    existing: bool = False  # True when an idempotent retry found it already stored


def to_micros(when: dt.datetime) -> int:
    """Microseconds since the epoch (naive times are UTC, as SQLite returns them)."""
    return (as_utc(when) - _EPOCH) // dt.timedelta(microseconds=1)


def record_hash(d: NewDecision, seq: int, prev_hash: str) -> str:
    """The hash of one record: SHA-256 over the previous hash and the record's content."""
    content = orjson.dumps([
        d.id, d.tenant_id, seq, d.request_id, d.input_hash, d.strategy_id, d.strategy_version,
        d.strategy_digest, to_micros(d.decided_at), d.segment, d.outcome, d.latency_us, d.record])
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content).hexdigest()


def from_row(row: Row[Any], *, existing: bool = False) -> StoredDecision:
    """A stored decision from a ``decisions`` row."""
    m = row._mapping
    return StoredDecision(
        id=m["id"], tenant_id=m["tenant_id"], request_id=m["request_id"],
        input_hash=m["input_hash"], strategy_id=m["strategy_id"],
        strategy_version=m["strategy_version"], strategy_digest=m["strategy_digest"],
        decided_at=as_utc(m["decided_at"]), segment=m["segment"], outcome=m["outcome"],
        latency_us=m["latency_us"], record=m["record"], seq=m["seq"], prev_hash=m["prev_hash"],
        hash=m["hash"], existing=existing)


Callback = Callable[[StoredDecision | BaseException], None]


class DecisionLog:
    """Appends decisions durably, many per commit; start it before use, stop it after."""

    def __init__(self, db: Database, *, max_batch: int = 1000) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._heads: dict[str, tuple[int, str]] = {}  # tenant -> (seq, hash) as last committed
        self.batches = 0  # commits made (for metrics)
        self.appended = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fengkong-log-writer",
                                            daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    # -- appending -----------------------------------------------------------------------
    def submit(self, item: NewDecision, callback: Callback) -> None:
        """Queue ``item``; ``callback`` gets the stored decision (or the error) after commit."""
        if self._thread is None:
            msg = "The decision log is not running."
            raise RuntimeError(msg)
        self._queue.put((item, callback))

    async def append(self, item: NewDecision) -> StoredDecision:
        """Append and wait for the commit, without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoredDecision] = loop.create_future()

        def done(result: StoredDecision | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, result)

        self.submit(item, done)
        return await future

    def append_now(self, item: NewDecision) -> StoredDecision:
        """Append and wait for the commit (for scripts and tests; no event loop needed)."""
        box: list[StoredDecision | BaseException] = []
        event = threading.Event()

        def done(result: StoredDecision | BaseException) -> None:
            box.append(result)
            event.set()

        self.submit(item, done)
        event.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    # -- the writer ----------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._write_batch(batch)

    def _write_batch(self, batch: list[tuple[NewDecision, Callback]]) -> None:
        items = [item for item, _ in batch]
        try:
            try:
                # Optimistic: request ids are new unless a client retries (the unique index
                # says when one is not), and the chain heads are as this writer last left
                # them unless another process appended (the guarded head update says when).
                # Either way the batch is written again, reading and looking first.
                with self.db.writer.begin() as conn:
                    results = append_decisions(conn, items, check_existing=False,
                                               heads=self._heads)
            except (IntegrityError, StaleChainHead):
                self._heads.clear()
                with self.db.writer.begin() as conn:
                    results = append_decisions(conn, items, check_existing=True)
        except Exception as e:  # the whole transaction rolled back: nobody is acknowledged
            self._heads.clear()
            log.warning("decision log batch failed", extra={"records": len(batch),
                                                            "error": type(e).__name__})
            for _, callback in batch:
                _call(callback, e)
            return
        self.batches += 1
        self.appended += sum(1 for r in results if isinstance(r, StoredDecision) and not r.existing)
        for r in results:  # committed: these are the chain heads now
            if isinstance(r, StoredDecision) and not r.existing:
                head = self._heads.get(r.tenant_id)
                if head is None or r.seq > head[0]:
                    self._heads[r.tenant_id] = (r.seq, r.hash)
        for (_, callback), result in zip(batch, results, strict=True):
            _call(callback, result)


def _call(callback: Callback, result: StoredDecision | BaseException) -> None:
    try:
        callback(result)
    except Exception:  # a caller that went away (closed event loop) must not stop the writer
        log.exception("decision log callback failed")


def _settle(future: asyncio.Future[StoredDecision], result: StoredDecision | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class StaleChainHead(Exception):
    """A chain head is not where the caller thought: another writer appended."""


def append_decisions(conn: Connection, items: Sequence[NewDecision], *,
                     check_existing: bool = True,
                     heads: Mapping[str, tuple[int, str]] | None = None,
                     ) -> list[StoredDecision | RequestIdReused]:
    """Append ``items`` to their tenants' chains inside the caller's transaction.

    A request id already in the log (or earlier in ``items``) gives back the stored
    decision when the input is the same and :class:`RequestIdReused` when it is not.
    With ``check_existing=False`` the log is not searched first: a request id already
    logged then fails the insert (``IntegrityError``) and nothing is written.
    ``heads`` gives chain heads (seq, hash) the caller believes current: they are not
    read but checked by the head update itself, which raises :class:`StaleChainHead`
    (roll back and call again without them) when another writer moved one.
    """
    results: list[StoredDecision | RequestIdReused | None] = [None] * len(items)
    by_tenant: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_tenant.setdefault(item.tenant_id, []).append(i)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    head_query = select(chain_heads.c.seq, chain_heads.c.hash).with_for_update()
    for tenant, idxs in sorted(by_tenant.items()):
        known = heads.get(tenant) if heads is not None else None
        if known is not None:
            seq, prev = known
        else:
            head = conn.execute(head_query.where(chain_heads.c.tenant_id == tenant)).one_or_none()
            if head is None:  # the tenant's first decision
                conn.execute(insert(chain_heads).values(tenant_id=tenant, seq=0, hash=GENESIS)
                             .on_conflict_do_nothing(index_elements=["tenant_id"]))
                head = conn.execute(head_query.where(chain_heads.c.tenant_id == tenant)).one()
            seq, prev = head.seq, head.hash
        first_seq, first_prev = seq, prev
        found = (_existing(conn, tenant, {items[i].request_id for i in idxs})
                 if check_existing else {})
        rows: list[dict[str, Any]] = []
        for i in idxs:
            item = items[i]
            old = found.get(item.request_id)
            if old is not None:
                results[i] = (replace(old, existing=True) if old.input_hash == item.input_hash
                              else RequestIdReused(
                                  "The request id was used before for another input."))
                continue
            seq += 1
            digest = record_hash(item, seq, prev)
            stored = StoredDecision(**item.__dict__, seq=seq, prev_hash=prev, hash=digest)
            rows.append({**item.__dict__, "seq": seq, "prev_hash": prev, "hash": digest})
            found[item.request_id] = stored
            results[i] = stored
            prev = digest
        if rows:
            # The update comes first: it takes the head's row lock, and (guarded by the old
            # head) fails at once if another writer appended since.
            moved = conn.execute(update(chain_heads).where(
                chain_heads.c.tenant_id == tenant, chain_heads.c.seq == first_seq,
                chain_heads.c.hash == first_prev).values(seq=seq, hash=prev))
            if moved.rowcount != 1:
                msg = f"The chain head of tenant {tenant} moved."
                raise StaleChainHead(msg)
            conn.execute(decisions.insert(), rows)
    return results  # type: ignore[return-value]


def _existing(conn: Connection, tenant: str, request_ids: set[str]) -> dict[str, StoredDecision]:
    out: dict[str, StoredDecision] = {}
    ids = sorted(request_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(select(decisions).where(and_(
                decisions.c.tenant_id == tenant, decisions.c.request_id.in_(chunk)))):
            out[row.request_id] = from_row(row)
    return out


def iter_chain(conn: Connection, tenant: str, *, page: int = 5000) -> Iterator[StoredDecision]:
    """A tenant's records in chain order."""
    after = 0
    while True:
        rows = conn.execute(select(decisions).where(and_(
            decisions.c.tenant_id == tenant, decisions.c.seq > after))
            .order_by(decisions.c.seq).limit(page)).all()
        if not rows:
            return
        for row in rows:
            yield from_row(row)
        after = rows[-1].seq


def decision_for_request(conn: Connection, tenant: str, request_id: str) -> StoredDecision | None:
    """The decision ``tenant`` logged under ``request_id``, if any (marked ``existing``)."""
    found = _existing(conn, tenant, {request_id}).get(request_id)
    return None if found is None else replace(found, existing=True)


def get_decision(conn: Connection, tenant: str, decision_id: str) -> StoredDecision | None:
    """One of ``tenant``'s decisions by id (another tenant's id finds nothing)."""
    row = conn.execute(select(decisions).where(and_(
        decisions.c.tenant_id == tenant, decisions.c.id == decision_id))).one_or_none()
    return None if row is None else from_row(row)


def list_decisions(conn: Connection, tenant: str, *, strategy: str | None = None,
                   segment: str | None = None, outcome: str | None = None,
                   start: dt.datetime | None = None, end: dt.datetime | None = None,
                   before_seq: int | None = None, limit: int = 50) -> list[StoredDecision]:
    """``tenant``'s decisions, newest first, filtered; page with ``before_seq``."""
    where = [decisions.c.tenant_id == tenant]
    if strategy is not None:
        where.append(decisions.c.strategy_id == strategy)
    if segment is not None:
        where.append(decisions.c.segment == segment)
    if outcome is not None:
        where.append(decisions.c.outcome == outcome)
    if start is not None:
        where.append(decisions.c.decided_at >= as_utc(start))
    if end is not None:
        where.append(decisions.c.decided_at < as_utc(end))
    if before_seq is not None:
        where.append(decisions.c.seq < before_seq)
    rows = conn.execute(select(decisions).where(and_(*where))
                        .order_by(decisions.c.seq.desc()).limit(limit)).all()
    return [from_row(r) for r in rows]
