"""Fetching a decision's data sources: consent first, then concurrent calls under a deadline.

For each declared source, in this order:

1. a disabled source (alternative data not enabled) is never asked: ``FEATURE_NOT_ENABLED``;
2. the consent registry is asked, once for all sources of the decision; anything but a
   sufficient consent in force means the source is never called, and its status says
   why (``CONSENT_MISSING``, ``CONSENT_EXPIRED``, ``CONSENT_REVOKED``,
   ``PURPOSE_MISMATCH``, ``SEPARATE_CONSENT_REQUIRED``, ``WRITTEN_CONSENT_REQUIRED``;
   ``FEATURE_NOT_ENABLED`` for alternative data);
3. a fresh cached answer for the person (keyed by pseudonym) is used;
4. an open circuit breaker answers ``CIRCUIT_OPEN`` without a call;
5. otherwise the connector is called, retried on transient failures, each attempt
   within the source's timeout and all sources within the decision's deadline.

Answers are checked against the declared fields: a value of the wrong type or out of
range makes the whole answer ``INVALID_RESPONSE`` (nothing of it is used).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from fengkong.compile.ir import CONSENT_RANK, FieldIR, Plan, SourceIR
from fengkong.core import MISSING, field_value
from fengkong.sources._connectors import Connector, SourceFailure, dig, make_connector

_VERDICT_CODES = {"missing": "CONSENT_MISSING", "expired": "CONSENT_EXPIRED",
                  "revoked": "CONSENT_REVOKED", "purpose-mismatch": "PURPOSE_MISMATCH"}


@dataclass(frozen=True)
class ConsentQuery:
    """Is ``subjects`` (one person's pseudonyms, one per key) consenting to ``source`` for ``purpose``?"""

    subjects: tuple[str, ...]
    source: str
    purpose: str


@dataclass(frozen=True)
class ConsentAnswer:
    """The registry's verdict: granted, missing, expired, revoked or purpose-mismatch."""

    verdict: str
    consent_type: str | None = None
    consent_id: str | None = None
    version: str | None = None


ConsentLookup = Callable[[Sequence[ConsentQuery]], Awaitable[Sequence[ConsentAnswer]]]


@dataclass
class SourceResults:
    """What the sources gave one decision.

    ``values`` are field name -> value to add to the record (every source field and
    status, None where nothing came); ``calls`` and ``consents`` are for the decision
    record: one entry per source, and one per consent check.
    """

    values: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)


class Breaker:
    """Opens after ``failures`` consecutive failures; after ``reset_s`` one trial call."""

    def __init__(self, failures: int, reset_s: float) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self._count = 0
        self._opened: float | None = None
        self._trial = False

    def allow(self) -> bool:
        """Whether a call may go out now."""
        if self._opened is None:
            return True
        if not self._trial and time.monotonic() - self._opened >= self.reset_s:
            self._trial = True  # half-open: this one call decides
            return True
        return False

    def record(self, *, ok: bool) -> None:
        """Count a call's outcome."""
        if ok:
            self._count, self._opened, self._trial = 0, None, False
            return
        self._count += 1
        if self._trial or self._count >= self.failures:
            self._opened, self._trial = time.monotonic(), False

    @property
    def is_open(self) -> bool:
        """Whether calls are being refused."""
        return self._opened is not None


class _Cache:
    """Answers per (source, person, parameters) for a TTL; bounded, oldest out first."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[float, Mapping[str, Any] | None]] = \
            OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[bool, Mapping[str, Any] | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if hit[0] <= time.monotonic():
            del self._items[key]
            return False, None
        return True, hit[1]

    def put(self, key: tuple[str, str], value: Mapping[str, Any] | None, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def check_value(f: FieldIR, value: Any) -> bool:
    """Whether a provider's value fits the declared field (None always does)."""
    if value is None:
        return True
    kind = f.type
    if kind == "bool":
        return type(value) is bool
    if kind in ("int", "float"):
        if type(value) is bool or not isinstance(value, int | float):
            return False
        if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (f.lo is None or value >= f.lo) and (f.hi is None or value <= f.hi)
    if kind == "date":
        if isinstance(value, dt.date):
            return True
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return False
        return isinstance(value, str)
    if not isinstance(value, str):
        return False
    if kind == "enum":
        return f.values is not None and value in f.values
    return f.max_length is None or len(value) <= f.max_length


class SourceRuntime:
    """One strategy version's sources in one process: connectors, caches and breakers.

    Share one instance across requests; :meth:`aclose` releases connections.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sources = plan.sources
        self.connectors: dict[str, Connector | None] = {
            s.name: make_connector(s.connector, s.name, s.base_dir) for s in self.sources}
        self.breakers = {s.name: Breaker(s.breaker_failures, s.breaker_reset_s)
                         for s in self.sources}
        self.cache = _Cache()

    async def aclose(self) -> None:
        """Close every connector."""
        for c in self.connectors.values():
            if c is not None:
                await c.aclose()

    async def fetch(self, record: Mapping[str, Any], tokens: Mapping[str, tuple[str, ...]],
                    consents: ConsentLookup, *, tenant: str) -> SourceResults:
        """Check consent for every source, call the permitted ones, gather their values.

        ``record`` is the request as sent (connector parameters may need an identifier in
        clear; it goes to the provider and nowhere else); ``tokens`` holds, per personal
        data input, the person's pseudonyms under every key (current key first).
        """
        started = time.monotonic()
        deadline = started + self.plan.source_deadline_ms / 1000
        out = SourceResults()
        for s in self.sources:
            out.values.update(dict.fromkeys((f.name for f in s.fields), None))
        status: dict[str, str] = {}
        entries: dict[str, dict[str, Any]] = {}
        for s in self.sources:
            entries[s.name] = {"source": s.name, "kind": s.kind, "purpose": s.purpose,
                               "data_class": s.data_class, "called": False, "attempts": 0,
                               "cached": False, "latency_ms": 0.0}
        # 1-2. Enabled? Consent?
        asking = [s for s in self.sources if s.enabled and tokens.get(s.subject)]
        for s in self.sources:
            if not s.enabled:
                status[s.name] = "FEATURE_NOT_ENABLED"
            elif not tokens.get(s.subject):  # no identifier: no consent can be found
                status[s.name] = "FEATURE_NOT_ENABLED" if s.alternative else "CONSENT_MISSING"
                out.consents.append({"source": s.name, "purpose": s.purpose,
                                     "verdict": "missing", "required": s.consent})
        answers = await consents([ConsentQuery(tokens[s.subject], s.name, s.purpose)
                                  for s in asking]) if asking else []
        permitted: list[SourceIR] = []
        for s, a in zip(asking, answers, strict=True):
            out.consents.append({"source": s.name, "purpose": s.purpose, "verdict": a.verdict,
                                 "required": s.consent, "consent_type": a.consent_type,
                                 "consent_id": a.consent_id, "version": a.version})
            code = _consent_code(s, a)
            if code is None:
                permitted.append(s)
            else:
                status[s.name] = code
        # 3-5. Cache, breaker, calls, all at once.
        tasks = {s.name: asyncio.ensure_future(self._one(s, record, tokens, tenant, deadline,
                                                         entries[s.name]))
                 for s in permitted}
        if tasks:
            _, pending = await asyncio.wait(tasks.values(),
                                               timeout=max(0.0, deadline - time.monotonic()))
            for t in pending:
                t.cancel()
            for name, t in tasks.items():
                if t in pending or t.cancelled():
                    status[name] = "TIMEOUT"
                    entries[name]["error"] = "the decision's source deadline passed"
                    self.breakers[name].record(ok=False)
                    continue
                code, values = t.result()
                status[name] = code
                if values:
                    out.values.update({f"{name}.{k}": v for k, v in values.items()})
        elapsed = (time.monotonic() - started) * 1000
        for s in self.sources:
            e = entries[s.name]
            e["status"] = status[s.name]
            if not e["called"] and not e["cached"]:
                e["latency_ms"] = 0.0
            elif e["latency_ms"] == 0.0:
                e["latency_ms"] = round(elapsed, 3)
            out.values[s.status] = status[s.name]
            out.calls.append(e)
        return out

    async def _one(self, s: SourceIR, record: Mapping[str, Any],
                   tokens: Mapping[str, tuple[str, ...]], tenant: str, deadline: float,
                   entry: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """(status, values) for one permitted source."""
        connector = self.connectors[s.name]
        if connector is None:  # sent with the request
            raw = field_value(record, s.name)
            given = {f.name.split(".", 1)[1]: field_value(record, f.name) for f in s.fields}
            values = {k: v for k, v in given.items() if v is not MISSING}
            if raw is MISSING and not values:
                return "NO_DATA", None
            return "OK", values  # the engine checks them as it checks any input
        params = self._params(s, record, tokens)
        key = (s.name, _cache_key(tenant, s, params, tokens))
        if s.cache_ttl_s > 0:
            found, answer = self.cache.get(key)
            if found:
                entry["cached"] = True
                return self._values(s, answer, entry)
        breaker = self.breakers[s.name]
        if not breaker.allow():
            entry["error"] = "circuit open"
            return "CIRCUIT_OPEN", None
        t0 = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            entry["called"] = True
            entry["attempts"] = attempt
            remaining = deadline - time.monotonic()
            timeout = min(s.timeout_ms / 1000, remaining)
            try:
                if timeout <= 0:
                    raise TimeoutError
                answer = await asyncio.wait_for(connector.fetch(params, timeout), timeout)
            except (TimeoutError, SourceFailure) as e:
                failure = e if isinstance(e, SourceFailure) else \
                    SourceFailure("TIMEOUT", "timed out", retry=True)
                backoff = s.retry_backoff_ms / 1000 * attempt
                if (failure.retry and attempt <= s.retries
                        and time.monotonic() + backoff < deadline):
                    await asyncio.sleep(backoff)
                    continue
                breaker.record(ok=False)
                entry["latency_ms"] = round((time.monotonic() - t0) * 1000, 3)
                entry["error"] = failure.detail
                return failure.status, None
            break
        entry["latency_ms"] = round((time.monotonic() - t0) * 1000, 3)
        code, got = self._values(s, answer, entry)
        breaker.record(ok=code != "INVALID_RESPONSE")
        if code != "INVALID_RESPONSE" and s.cache_ttl_s > 0:
            self.cache.put(key, answer, s.cache_ttl_s)
        return code, got

    @staticmethod
    def _values(s: SourceIR, answer: Mapping[str, Any] | None,
                entry: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        if answer is None:
            return "NO_DATA", None
        values: dict[str, Any] = {}
        bad = []
        for f in s.fields:
            short = f.name.split(".", 1)[1]
            v = answer.get(short) if short in answer else dig(answer, short)
            if isinstance(v, dt.date):
                v = v.isoformat()
            if not check_value(f, v):
                bad.append(short)
            values[short] = v
        if bad:
            entry["error"] = "field(s) of the wrong type or out of range: " + ", ".join(bad)
            return "INVALID_RESPONSE", None
        return "OK", values

    @staticmethod
    def _params(s: SourceIR, record: Mapping[str, Any],
                tokens: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
        spec = s.connector
        params: dict[str, Any] = {}
        for param, name in _mapping(spec.get("request")).items():
            v = field_value(record, str(name))
            params[str(param)] = None if v is MISSING else v
        if spec["type"] == "file":
            key = str(spec["key"])
            if key in tokens:  # personal data is matched by pseudonym, under every key
                params["key"] = tokens[key]
            else:
                v = field_value(record, key)
                params["key"] = None if v is MISSING else v
        return params


def _consent_code(s: SourceIR, a: ConsentAnswer) -> str | None:
    """None when the consent suffices, else the status the source gets."""
    if a.verdict == "granted" and CONSENT_RANK.get(a.consent_type or "", -1) >= CONSENT_RANK[s.consent]:
        return None
    if s.alternative:
        return "FEATURE_NOT_ENABLED"
    if a.verdict == "granted":
        return "WRITTEN_CONSENT_REQUIRED" if s.consent == "written" else "SEPARATE_CONSENT_REQUIRED"
    return _VERDICT_CODES.get(a.verdict, "CONSENT_MISSING")


def _cache_key(tenant: str, s: SourceIR, params: Mapping[str, Any],
               tokens: Mapping[str, tuple[str, ...]]) -> str:
    """Who and what was asked, with identifiers as their pseudonyms (never in clear)."""
    by_field = _mapping(s.connector.get("request"))
    shown = {p: (tokens[str(by_field[p])][0] if str(by_field.get(p)) in tokens else v)
             for p, v in params.items()}
    text = orjson.dumps([tenant, tokens[s.subject][0], shown], default=str,
                        option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


def _mapping(value: object) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
