"""Fixtures of the store tests: a migrated database (SQLite and PostgreSQL) and decisions."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fengkong.store import Database, DecisionLog, NewDecision, StoredDecision

DecisionFactory = Callable[..., NewDecision]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An empty, migrated database; disposed after the test."""
    database = Database.connect(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def new_decision() -> DecisionFactory:
    """Make a :class:`NewDecision`; every field can be overridden by keyword."""
    counter = iter(range(1, 1_000_000))

    def make(tenant: str = "bank_a", request_id: str | None = None, *, body: str | None = None,
             **over: Any) -> NewDecision:
        n = next(counter)
        body = body if body is not None else f"body-{n}"
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()), "tenant_id": tenant,
            "request_id": request_id or f"req-{uuid.uuid4().hex}",
            "input_hash": hashlib.sha256(body.encode()).hexdigest(),
            "strategy_id": "consumer_loan", "strategy_version": "1",
            "strategy_digest": "sha256:" + "ab" * 32,
            "decided_at": dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)
            + dt.timedelta(microseconds=n * 1_001),
            "segment": "salaried_app", "outcome": ("approve", "decline", "refer")[n % 3],
            "latency_us": 100 + n, "record": f'{{"decision":{{"n":{n}}},"inputs":{{}}}}',
        }
        values.update(over)
        return NewDecision(**values)

    return make


@pytest.fixture
def log(db: Database) -> Iterator[DecisionLog]:
    """A started decision log; stopped after the test."""
    decision_log = DecisionLog(db)
    decision_log.start()
    try:
        yield decision_log
    finally:
        decision_log.stop()


class Gate:
    """Holds the log's writer thread inside a callback, so what is submitted meanwhile
    queues up and is written together as the next batch."""

    def __init__(self, log: DecisionLog, item: NewDecision) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.result: StoredDecision | BaseException | None = None

        def hold(result: StoredDecision | BaseException) -> None:
            self.result = result
            self.entered.set()
            self.release.wait(30)

        log.submit(item, hold)
        assert self.entered.wait(30), "the writer never wrote the gate's decision"

    def open(self) -> None:
        self.release.set()


class Answers:
    """Callbacks that remember what each submitted decision was answered."""

    def __init__(self, n: int) -> None:
        self.results: list[StoredDecision | BaseException | None] = [None] * n
        self._events = [threading.Event() for _ in range(n)]

    def callback(self, i: int) -> Callable[[StoredDecision | BaseException], None]:
        def done(result: StoredDecision | BaseException) -> None:
            self.results[i] = result
            self._events[i].set()

        return done

    def wait(self, timeout: float = 30) -> list[StoredDecision | BaseException]:
        for e in self._events:
            assert e.wait(timeout), "a submitted decision was never answered"
        return [r for r in self.results if r is not None]


@pytest.fixture
def gate() -> Callable[[DecisionLog, NewDecision], Gate]:
    return Gate


@pytest.fixture
def answers() -> type[Answers]:
    return Answers
