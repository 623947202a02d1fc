"""What the routes call: authentication, deciding with durable logging, replay, releases."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fengkong.compile import CompiledStrategy
from fengkong.compile.ir import FieldIR
from fengkong.core import Clock, FixedClock, SystemClock, field_value
from fengkong.demo import example_pack_dir
from fengkong.engine import evaluate
from fengkong.errors import FieldProblem, InputValidationError
from fengkong.privacy import PseudonymKeys, pseudonymise_record
from fengkong.service._cache import TtlCache
from fengkong.service._errors import ApiError
from fengkong.service._logging import request_id_var
from fengkong.service._metrics import Metrics
from fengkong.service._monitoring import LiveMonitor
from fengkong.service._registry import Registry, pack_files
from fengkong.service._settings import Settings
from fengkong.sources import ConsentAnswer, ConsentQuery, SourceResults, SourceRuntime
from fengkong.store import (
    Database,
    DecisionLog,
    NewDecision,
    Principal,
    RequestIdReused,
    StoredDecision,
    authenticate,
    consent_status,
    decision_for_request,
    ensure_tenant,
    new_id,
    releases,
)
from fengkong.velocity import epoch_us, observations, open_store

_SYSTEM = SystemClock()
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_JSON_OPTS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def dumps(obj: Any) -> bytes:
    """JSON as the API writes it (naive times are UTC)."""
    return orjson.dumps(obj, option=_JSON_OPTS)


@dataclass(frozen=True, slots=True)
class _Shape:
    """One level of the declared input objects: its keys, and its keys holding objects."""

    keys: frozenset[str]
    objects: tuple[tuple[str, _Shape], ...]


_SHAPES: dict[int, tuple[tuple[FieldIR, ...], frozenset[str], _Shape]] = {}


def _shape(fields: tuple[FieldIR, ...]) -> tuple[frozenset[str], _Shape]:
    """Every field name, and the names as a tree of nested objects."""
    hit = _SHAPES.get(id(fields))  # by identity: hashing the fields would cost more than this
    if hit is not None and hit[0] is fields:
        return hit[1], hit[2]
    tree: dict[str, Any] = {}
    for f in fields:
        node = tree
        *parents, leaf = f.name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node.setdefault(leaf, None)

    def freeze(node: dict[str, Any]) -> _Shape:
        return _Shape(frozenset(node), tuple((k, freeze(v)) for k, v in node.items()
                                             if v is not None))

    names, shape = frozenset(f.name for f in fields), freeze(tree)
    if len(_SHAPES) > 1024:
        _SHAPES.clear()
    _SHAPES[id(fields)] = (fields, names, shape)
    return names, shape


def unknown_fields(record: Mapping[str, Any], fields: tuple[FieldIR, ...]) -> list[FieldProblem]:
    """Fields in ``record`` that the strategy does not declare (nested or dotted)."""
    names, root = _shape(fields)
    out: list[FieldProblem] = []

    def walk(node: Mapping[str, Any], shape: _Shape, prefix: str) -> None:
        extra = node.keys() - shape.keys
        for key in extra:
            name = f"{prefix}{key}"
            if name not in names:  # a dotted key ("applicant.age") names a field directly
                out.append(FieldProblem(name, "unknown-field",
                                        f"Field `{name}` is not an input of this strategy."))
        for key, sub in shape.objects:
            value = node.get(key)
            if value is None:
                continue
            if isinstance(value, Mapping):
                walk(value, sub, f"{prefix}{key}.")
            else:
                name = f"{prefix}{key}"
                out.append(FieldProblem(name, "input-type", f"Field `{name}` must be an object."))

    walk(record, root, "")
    return out


def _problems(problems: Sequence[FieldProblem]) -> list[dict[str, str]]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.field in seen:
            continue
        seen.add(p.field)
        out.append({"path": "$." + p.field, "code": p.code, "message": p.message})
    return out


def _bucket(request_id: str) -> int:
    """0..99 from the request id: which requests a candidate sees."""
    return zlib.crc32(f"candidate:{request_id}".encode()) % 100


class Service:
    """One server process's state: store, log writer, compiled strategies, keys, metrics."""

    def __init__(self, settings: Settings, db: Database, keys: PseudonymKeys) -> None:
        self.settings = settings
        self.db = db
        self.pseudonyms = keys
        self.log = DecisionLog(db)
        self.registry = Registry(db, settings.data_dir, settings.routing_ttl)
        self.keys: TtlCache[str, Principal | None] = TtlCache(self._lookup_key, settings.key_cache_ttl)
        self.metrics = Metrics()
        self.monitor = LiveMonitor(db, self.metrics, settings)
        self.sources: dict[tuple[str, str], SourceRuntime] = {}  # (tenant, digest) -> runtime
        self.velocity = open_store(settings.velocity_url, settings.data_dir)

    def start(self) -> None:
        """Deploy the example pack if asked to, and start the log writer."""
        if self.settings.deploy_example:
            self.deploy_example(self.settings.tenant)
        with self.db.reader.connect() as conn:
            deployed = releases.all_deployments(conn)
        for tenant, sid in deployed[:200]:  # compile before the first request, not during it
            self.registry.load_route(tenant, sid)
        self.log.start()

    def stop(self) -> None:
        """Flush the log and close the database."""
        self.log.stop()
        self.velocity.close()
        self.db.dispose()

    def deploy_example(self, tenant: str) -> bool:
        """Deploy the example pack for ``tenant`` unless it already has that strategy."""
        doc = pack_files(example_pack_dir())
        strategy = self.registry.compile_pack(doc)
        with self.db.writer.begin() as conn:
            ensure_tenant(conn, tenant)
            return releases.bootstrap(conn, tenant, strategy.strategy_id, strategy.version,
                                      strategy.digest, orjson.dumps(doc).decode())

    # -- deciding -------------------------------------------------------------------------
    async def decide(self, who: Principal, sid: str, body: bytes,
                     request_id: str | None) -> tuple[dict[str, Any], bool]:
        """Decide, log durably, and answer; returns the response and whether it is a retry."""
        started = time.perf_counter_ns()
        retry_possible = request_id is not None
        if request_id is None:  # the id the request middleware gave it (and logs it under)
            request_id = request_id_var.get() or uuid.uuid4().hex
        elif not REQUEST_ID.fullmatch(request_id):
            raise ApiError(400, "invalid-request-id", "X-Request-ID must be 1-128 characters of "
                           "letters, digits and . _ : -",
                           [{"path": "header.X-Request-ID", "code": "invalid",
                             "message": "Not a valid request id."}])
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "json-invalid", "The body is not valid JSON.",
                           [{"path": "$", "code": "json-invalid",
                             "message": "Send one JSON object."}]) from None
        if type(record) is not dict:
            raise ApiError(422, "input-invalid", "The body must be a JSON object of input fields.",
                           [{"path": "$", "code": "not-object", "message": "Expected an object."}])
        route = await self.registry.route(who.tenant_id, sid)
        dep = route.deployment
        chosen, shadow = route.active, None
        if route.candidate is not None and _bucket(request_id) < dep.candidate_percent:
            if dep.candidate_mode == "split":
                chosen = route.candidate
            else:
                shadow = route.candidate
        # Canonical (sorted keys): a retry is the same application in any key order.
        input_hash = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if retry_possible and (chosen.plan.sources or chosen.plan.velocity
                               or (shadow and shadow.plan.sources)):
            # A retry must not ask the providers again: answer it before any source is called.
            logged = await asyncio.to_thread(self._logged, who.tenant_id, request_id)
            if logged is not None:
                if logged.input_hash != input_hash:
                    raise ApiError(409, "request-id-reused",
                                   "The request id was used before for another input.")
                return self.view(logged, full=False), True
        clock = FixedClock(_SYSTEM.now())  # the candidate decides at the same instant
        fetched, shadow_fetched = await asyncio.gather(
            self._fetch_sources(who, chosen, record, clock),
            self._fetch_sources(who, shadow, record, clock, quiet=True),
        )
        assert not isinstance(fetched, ApiError)  # raised, not returned, for the chosen one
        engine_record = fetched.record if fetched else record
        velocity: dict[str, Any] = {}
        if chosen.plan.velocity:
            velocity = await self._velocity(who, chosen, engine_record, clock, request_id)
            engine_record = {**engine_record, **velocity}
        inputs, decision, decision_json = self._evaluate(who, chosen, engine_record, clock)
        stored_record: dict[str, Any] = {"inputs": inputs, "decision": decision_json}
        if fetched is not None:
            stored_record["sources"] = fetched.results.calls
            stored_record["consents"] = fetched.results.consents
        shadow_outcome = None
        if shadow is not None:
            try:
                if isinstance(shadow_fetched, ApiError):
                    raise shadow_fetched
                shadow_record = shadow_fetched.record if shadow_fetched else record
                if shadow.plan.velocity:  # the chosen's values where the definition is the same
                    same = set(chosen.plan.velocity)
                    shadow_record = {**shadow_record, **{
                        f.field: velocity.get(f.field) if f in same else None
                        for f in shadow.plan.velocity}}
                shadow_dict, shadow_json = self._evaluate(who, shadow, shadow_record, clock)[1:]
                stored_record["shadow"] = shadow_json
                shadow_outcome = shadow_dict["decision"]
            except ApiError as e:  # the candidate's inputs may differ; its failure is logged
                stored_record["shadow"] = {"strategy": {"id": shadow.strategy_id,
                                                        "version": shadow.version},
                                           "error": {"code": e.code, "problems": e.problems}}
        text = orjson.dumps(stored_record, option=orjson.OPT_SORT_KEYS).decode()
        item = NewDecision(
            id=new_id(), tenant_id=who.tenant_id, request_id=request_id,
            input_hash=input_hash,
            strategy_id=chosen.strategy_id, strategy_version=chosen.version,
            strategy_digest=chosen.digest,
            decided_at=dt.datetime.fromisoformat(decision["evaluated_at"]),
            segment=decision["segment"], outcome=decision["decision"],
            latency_us=(time.perf_counter_ns() - started) // 1000, record=text)
        try:
            stored = await self.log.append(item)
        except RequestIdReused as e:
            raise ApiError(409, "request-id-reused", str(e)) from None
        except Exception:
            raise ApiError(503, "log-unavailable", "The decision could not be logged and was not "
                           "made; retry with the same X-Request-ID.") from None
        self.metrics.latency.labels(sid).observe((time.perf_counter_ns() - started) / 1e9)
        if stored.existing:
            return self.view(stored, full=False), True
        self.metrics.decisions.labels(sid, chosen.version, item.segment, item.outcome).inc()
        if shadow is not None and shadow_outcome is not None:
            self.metrics.shadow.labels(sid, shadow.version, shadow_outcome).inc()
        if fetched is not None:
            for call in fetched.results.calls:
                self.metrics.source_calls.labels(sid, call["source"], call["status"]).inc()
                if call["called"]:
                    self.metrics.source_latency.labels(call["source"]).observe(
                        call["latency_ms"] / 1000)
        return self._answer(stored, decision_json, stored_record), False

    # -- data sources ---------------------------------------------------------------------
    async def _fetch_sources(self, who: Principal, strategy: CompiledStrategy | None,
                             record: dict[str, Any], clock: Clock, *,
                             quiet: bool = False) -> _Fetched | ApiError | None:
        """The record with the strategy's sources' values in place of anything sent for them.

        Consent is checked (at the decision's instant) before any source is called. An
        application whose identifiers or shape are wrong is refused before any call. With
        ``quiet`` (the shadow candidate) a refusal is returned, not raised.
        """
        if strategy is None or not strategy.plan.sources:
            return None
        plan = strategy.plan
        names = {s.name for s in plan.sources}
        request_fed = {s.name for s in plan.sources if s.connector["type"] == "request"}
        problems = unknown_fields(record, plan.fields)
        for key in record:
            root = key.split(".")[0]
            if root == "sources" or (root in names and root not in request_fed):
                problems.append(FieldProblem(key, "source-data",
                                             f"`{root}` is not sent with the application: "
                                             "the strategy fetches it (with consent)."
                                             if root != "sources" else
                                             "Source outcomes are not sent; they are recorded."))
        _, pii = pseudonymise_record(record, plan.pii_fields, self.pseudonyms,
                                     scope=who.tenant_id)
        problems.extend(pii)
        if problems:
            error = ApiError(422, "input-invalid", "The application does not fit the strategy's "
                             "inputs.", _problems(problems))
            if quiet:
                return error
            raise error
        tokens = {}
        for f in plan.pii_fields:
            raw = field_value(record, f.name)
            if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw).strip():
                tokens[f.name] = self.pseudonyms.pseudonyms(f.pii or "other", str(raw),
                                                            scope=who.tenant_id)
        runtime = self._runtime(who.tenant_id, strategy)
        at = clock.now()

        async def consents(queries: Sequence[ConsentQuery]) -> list[ConsentAnswer]:
            return await asyncio.to_thread(self._consent_answers, who.tenant_id, queries, at)

        results = await runtime.fetch(record, tokens, consents, tenant=who.tenant_id)
        merged = {k: v for k, v in record.items()
                  if k.split(".")[0] not in names and k.split(".")[0] != "sources"}
        merged.update(results.values)
        return _Fetched(merged, results)

    # -- velocity features ----------------------------------------------------------------
    async def _velocity(self, who: Principal, strategy: CompiledStrategy, record: dict[str, Any],
                        clock: Clock, request_id: str) -> dict[str, Any]:
        """Record this application's events and read every window: ``velocity.<name>`` -> value.

        The application is checked first (an invalid one is refused and counts nowhere);
        keys that are personal data are used as their pseudonyms.
        """
        sent = [k for k in record if k.split(".")[0] == "velocity"]
        if sent:
            raise ApiError(422, "input-invalid", "The application does not fit the strategy's "
                           "inputs.", [{"path": "$." + k, "code": "velocity-data",
                                        "message": "Velocity features are not sent; the "
                                                   "service computes them."} for k in sent])
        plan = strategy.plan
        blank = {f.field: None for f in plan.velocity}
        inputs = self._evaluate(who, strategy, {**record, **blank}, clock)[0]
        items, null = observations(plan.velocity, inputs)
        out: dict[str, Any] = dict(null)
        if items:
            try:
                values = await self.velocity.observe_async(
                    f"{who.tenant_id}:{plan.strategy_id}", request_id, epoch_us(clock.now()),
                    items)
            except Exception:
                raise ApiError(503, "velocity-unavailable", "The velocity store could not be "
                               "reached; the decision was not made. Retry with the same "
                               "X-Request-ID.") from None
            out.update({o.feature.field: v for o, v in zip(items, values, strict=True)})
        return out

    def _logged(self, tenant: str, request_id: str) -> StoredDecision | None:
        with self.db.reader.connect() as conn:
            return decision_for_request(conn, tenant, request_id)

    def _runtime(self, tenant: str, strategy: CompiledStrategy) -> SourceRuntime:
        key = (tenant, strategy.digest)
        runtime = self.sources.get(key)
        if runtime is None:
            runtime = self.sources[key] = SourceRuntime(strategy.plan)
        return runtime

    def _consent_answers(self, tenant: str, queries: Sequence[ConsentQuery],
                         at: dt.datetime) -> list[ConsentAnswer]:
        out = []
        with self.db.reader.connect() as conn:
            for q in queries:
                st = consent_status(conn, tenant, q.subjects, q.source, q.purpose, at=at)
                row = st.consent or {}
                out.append(ConsentAnswer(st.verdict, st.consent_type, row.get("id"),
                                         row.get("version")))
        return out

    async def aclose(self) -> None:
        """Close the data sources' and the velocity store's asyncio connections."""
        for runtime in self.sources.values():
            await runtime.aclose()
        self.sources.clear()
        await self.velocity.aclose()

    def _evaluate(self, who: Principal, strategy: CompiledStrategy, record: dict[str, Any],
                  clock: Clock) -> tuple[dict[str, Any], dict[str, Any], orjson.Fragment]:
        """Pseudonymised inputs, the decision, and the decision as (sorted) JSON."""
        problems = unknown_fields(record, strategy.plan.fields)
        inputs, pii = pseudonymise_record(record, strategy.plan.pii_fields, self.pseudonyms,
                                          scope=who.tenant_id)
        problems.extend(pii)
        try:
            decision = evaluate(strategy, inputs, clock=clock)
        except InputValidationError as e:
            problems.extend(e.problems)
        if problems:
            raise ApiError(422, "input-invalid", "The application does not fit the strategy's "
                           "inputs.", _problems(problems))
        as_dict = decision.to_dict()
        return inputs, as_dict, orjson.Fragment(orjson.dumps(as_dict, option=orjson.OPT_SORT_KEYS))

    @staticmethod
    def _answer(stored: StoredDecision, decision: Any,
                record: Mapping[str, Any] | None = None) -> dict[str, Any]:
        out = {"id": stored.id, "request_id": stored.request_id, "seq": stored.seq,
               "decided_at": stored.decided_at, "latency_us": stored.latency_us,
               "strategy": {"id": stored.strategy_id, "version": stored.strategy_version,
                            "digest": stored.strategy_digest},
               "decision": decision, "hash": stored.hash}
        if record is not None and "sources" in record:
            out["sources"] = record["sources"]
            out["consents"] = record["consents"]
        return out

    def view(self, stored: StoredDecision, *, full: bool = True) -> dict[str, Any]:
        """A logged decision as the API shows it (``full`` adds inputs and the shadow result)."""
        rec = orjson.loads(stored.record)
        out = self._answer(stored, rec["decision"], rec)  # parsed: an answer's keys are sorted
        if full:
            out["inputs"] = rec.get("inputs")  # none in a reviewer's decision
            if "review" in rec:
                out["human_review"] = rec["review"]
            out["prev_hash"] = stored.prev_hash
            if "shadow" in rec:
                out["shadow"] = rec["shadow"]
        return out

    # -- replay ---------------------------------------------------------------------------
    def replay(self, who: Principal, stored: StoredDecision) -> dict[str, Any]:
        """Re-run the stored inputs on the stored version at the stored time; compare."""
        rec = orjson.loads(stored.record)
        if rec.get("human_reviewed"):
            raise ApiError(409, "human-reviewed", "A reviewer's decision is not replayed; "
                           "replay the automated decision it reviewed.")
        strategy = self.registry.compiled(who.tenant_id, stored.strategy_id,
                                          stored.strategy_version)
        if strategy.digest != stored.strategy_digest:
            raise ApiError(409, "digest-mismatch", "The stored version's content no longer "
                           "matches the digest the decision recorded.")
        at = dt.datetime.fromisoformat(rec["decision"]["evaluated_at"])
        again = orjson.loads(dumps(evaluate(strategy, rec["inputs"], clock=FixedClock(at)).to_dict()))
        differences = _diff(rec["decision"], again, "$.decision")
        out: dict[str, Any] = {"id": stored.id, "identical": not differences,
                               "differences": differences,
                               "strategy": {"id": strategy.strategy_id, "version": strategy.version,
                                            "digest": strategy.digest},
                               "decision": again}
        shadow = rec.get("shadow")
        if shadow is not None and "decision" in shadow:
            cand = self.registry.compiled(who.tenant_id, shadow["strategy"]["id"],
                                          shadow["strategy"]["version"])
            shadow_at = dt.datetime.fromisoformat(shadow["evaluated_at"])
            redo = orjson.loads(dumps(evaluate(cand, rec["inputs"],
                                               clock=FixedClock(shadow_at)).to_dict()))
            shadow_diff = _diff(shadow, redo, "$.shadow")
            out["shadow_identical"] = not shadow_diff
            out["differences"] += shadow_diff
            out["identical"] = out["identical"] and not shadow_diff
        return out

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of an API key (cached for ``key_cache_ttl`` seconds)."""
        return await self.keys.get(key)

    def _lookup_key(self, key: str) -> Principal | None:
        with self.db.reader.connect() as conn:
            return authenticate(conn, key)


@dataclass(frozen=True)
class _Fetched:
    record: dict[str, Any]  # what the engine sees: the request plus the sources' values
    results: SourceResults


def _diff(old: Any, new: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{path}.{k}")
        return out
    if old != new or type(old) is not type(new):
        return [{"path": path, "logged": old, "replayed": new}]
    return []
