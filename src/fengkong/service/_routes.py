"""The HTTP API (``/v1``): thin routes over :class:`~fengkong.service._service.Service`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fengkong.service._errors import ApiError, json_path
from fengkong.service._logging import tenant_var
from fengkong.service._service import Service, dumps
from fengkong.store import (
    ROLES,
    Principal,
    ReleaseError,
    count_records,
    create_key,
    get_decision,
    list_decisions,
    list_keys,
    releases,
    reviews,
    revoke_key,
    verify_chain,
)

Role = Literal["decide", "author", "approve", "audit", "admin", "consent", "review"]
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
_TEXT = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it at the door
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fk_...`.")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response written by orjson."""
    return Response(dumps(obj), status_code=status, media_type="application/json",
                    headers=headers)


def service(request: Request) -> Service:
    """The running service of this app."""
    return request.app.state.service  # type: ignore[no-any-return]


async def authorize(request: Request, roles: tuple[str, ...]) -> Principal:
    """The caller's principal; 401 without a valid key, 403 without one of ``roles``."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthenticated", "Send an API key: Authorization: Bearer fk_...",
                       headers={"WWW-Authenticate": "Bearer"})
    who = await service(request).authenticate(key.strip())
    if who is None:
        raise ApiError(401, "unauthenticated", "The API key is not valid or was revoked.",
                       headers={"WWW-Authenticate": "Bearer"})
    tenant_var.set(who.tenant_id)
    if not who.roles.intersection(roles):
        raise ApiError(403, "forbidden", f"This needs the role {' or '.join(roles)}.")
    return who


def need(*roles: Role) -> Any:
    """A dependency: the caller's key must hold one of ``roles`` (401 without a valid key)."""

    async def check(request: Request,
                    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                    ) -> Principal:
        return await authorize(request, roles)

    return Depends(check)


_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
DECIDE_PATH = "/v1/decisions/{strategy}"


async def decide_endpoint(request: Request) -> Response:
    """``POST /v1/decisions/{strategy}`` as a plain Starlette endpoint.

    The busiest route does its own (small) parameter and key checks instead of going
    through FastAPI's dependency resolution, which costs more than the decision; the
    FastAPI route of the same path declares the operation for the OpenAPI document.
    """
    strategy = request.path_params["strategy"]
    if not _ID.fullmatch(strategy):
        raise ApiError(422, "invalid-request", "The request is not valid.", [{
            "path": "path.strategy", "code": "invalid-string-pattern-mismatch",
            "message": "String should match pattern '^[A-Za-z0-9_.:\\-]{1,64}$'"}])
    who = await authorize(request, ("decide",))
    body = await request.body()
    answer, retry = await service(request).decide(
        who, strategy, body, request.headers.get("x-request-id"))
    return json(answer, headers={"Idempotent-Replayed": "true"} if retry else None)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApproveBody(_Body):
    activate: bool = Field(True, description="Make it the active version at once.")


class RollbackBody(_Body):
    version: str = Field(min_length=1, max_length=64, pattern=_TEXT,
                         description="An approved version.")


class CandidateBody(_Body):
    version: str | None = Field(None, min_length=1, max_length=64, pattern=_TEXT,
                                description="An approved version; null stops the candidate.")
    mode: Literal["shadow", "split"] = Field(
        "shadow", description="`shadow`: the candidate decides too and is logged, not returned. "
                              "`split`: the candidate's decision is returned.")
    percent: int = Field(100, ge=0, le=100, description="Share of requests the candidate sees.")


class KeyBody(_Body):
    name: str = Field(min_length=1, max_length=128, pattern=_TEXT,
                      description="Who or what uses the key.")
    roles: list[Role] = Field(min_length=1, max_length=7)


class PackBody(_Body):
    entry: str = Field("strategy.yaml", min_length=1, max_length=200, pattern=_TEXT)
    files: dict[str, Annotated[str, Field(max_length=1 << 20, pattern=_TEXT)]] = Field(
        description="Path in the pack -> file text (strategy, scorecards, model files).")


_DECIDE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": True,
    "description": "The application: the strategy's input fields, nested "
                   "(`{\"applicant\": {\"age\": 30}}`) or dotted (`{\"applicant.age\": 30}`)."}}}}}
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": PackBody.model_json_schema()},
    "application/yaml": {"schema": {"type": "string",
                                    "description": "A single-file strategy."}}}}}
_ID_HEADER = {"parameters": [{"name": "X-Request-ID", "in": "header", "required": False,
                              "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:\-]{1,128}$"},
                              "description": "Idempotency key: a retry returns the same decision."}]}


def _release_error(e: ReleaseError) -> ApiError:
    return ApiError(e.status, e.error_code, str(e))


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except ReleaseError as e:
        raise _release_error(e) from None


def build_router() -> APIRouter:
    """Every ``/v1`` route."""
    r = APIRouter(prefix="/v1")

    # -- decisions ------------------------------------------------------------------------
    @r.post("/decisions/{strategy}", tags=["decisions"], openapi_extra={**_DECIDE_BODY, **_ID_HEADER},
            summary="Decide one application", status_code=200)
    async def decide(request: Request, strategy: Id,
                     _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                     ) -> Response:
        return await decide_endpoint(request)

    @r.get("/decisions/{decision_id}", tags=["decisions"], summary="A logged decision")
    async def get_one(request: Request, decision_id: Id,
                      who: Annotated[Principal, need("decide", "audit")]) -> Response:
        svc = service(request)
        stored = await run_in_threadpool(_get, svc, who, decision_id)

        def review() -> Any:  # a human-review case on hold or decided (docs/explanations.md)
            with svc.db.reader.connect() as conn:
                return reviews.case_for_decision(conn, who.tenant_id, decision_id)

        case = await run_in_threadpool(review)
        return json(svc.view(stored) | ({} if case is None else {"review": case.summary()}))

    @r.get("/decisions", tags=["decisions"], summary="Logged decisions, newest first")
    async def list_(request: Request, who: Annotated[Principal, need("decide", "audit")],
                    strategy: Annotated[str | None, Query(max_length=64, pattern=_TEXT)] = None,
                    segment: Annotated[str | None, Query(max_length=64, pattern=_TEXT)] = None,
                    outcome: Annotated[str | None, Query(max_length=16, pattern=_TEXT)] = None,
                    from_: Annotated[dt.datetime | None, Query(alias="from")] = None,
                    to: Annotated[dt.datetime | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: Annotated[int | None, Query(ge=1, le=2**62,
                                                        description="Page cursor.")] = None,
                    ) -> Response:
        svc = service(request)

        def run() -> list[Any]:
            with svc.db.reader.connect() as conn:
                return list_decisions(conn, who.tenant_id, strategy=strategy, segment=segment,
                                      outcome=outcome, start=from_, end=to,
                                      before_seq=before, limit=limit)

        rows = await run_in_threadpool(run)
        items = [svc.view(d, full=False) | {"segment": d.segment, "outcome": d.outcome}
                 for d in rows]
        nxt = rows[-1].seq if len(rows) == limit else None
        return json({"items": items, "next": nxt})

    @r.post("/decisions/{decision_id}/replay", tags=["decisions"],
            summary="Re-run a logged decision and compare")
    async def replay(request: Request, decision_id: Id,
                     who: Annotated[Principal, need("audit")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            return svc.replay(who, _get(svc, who, decision_id))

        return json(await run_in_threadpool(run))

    # -- strategy releases ----------------------------------------------------------------
    @r.post("/strategies", tags=["strategies"], openapi_extra=_UPLOAD_BODY, status_code=201,
            summary="Upload a strategy version (awaits approval)")
    async def upload(request: Request, who: Annotated[Principal, need("author")]) -> Response:
        svc = service(request)
        doc = _pack(request.headers.get("content-type", ""), await request.body())

        def run() -> tuple[dict[str, Any], bool]:
            strategy = svc.registry.compile_pack(doc)
            with svc.db.writer.begin() as conn:
                row, created = releases.upload(
                    conn, who.tenant_id, strategy.strategy_id, strategy.version, strategy.digest,
                    orjson.dumps(doc).decode(), who.key_id)
            warnings = [{"code": w.code, "message": w.message, "line": w.line, "column": w.column}
                        for w in strategy.warnings]
            return {"strategy": strategy.strategy_id, "version": strategy.version,
                    "digest": strategy.digest, "status": row["status"],
                    "warnings": warnings}, created

        out, created = await _in_thread(run)
        return json(out, 201 if created else 200)

    @r.get("/strategies", tags=["strategies"], summary="Strategies and what is deployed")
    async def strategies(request: Request,
                         who: Annotated[Principal, need("author", "approve", "audit")]) -> Response:
        svc = service(request)

        def run() -> list[dict[str, Any]]:
            with svc.db.reader.connect() as conn:
                return releases.list_strategies(conn, who.tenant_id)

        return json({"items": await run_in_threadpool(run)})

    @r.get("/strategies/{strategy}/versions", tags=["strategies"],
           summary="Versions with who uploaded and approved them, and when")
    async def versions(request: Request, strategy: Id,
                       who: Annotated[Principal, need("author", "approve", "audit")]) -> Response:
        svc = service(request)

        def run() -> list[dict[str, Any]]:
            with svc.db.reader.connect() as conn:
                return releases.list_versions(conn, who.tenant_id, strategy)

        return json({"items": await _in_thread(run)})

    @r.get("/strategies/{strategy}/versions/{version}", tags=["strategies"],
           summary="One version's files (to review before approving)")
    async def version(request: Request, strategy: Id, version: Id,
                      who: Annotated[Principal, need("author", "approve", "audit")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.reader.connect() as conn:
                found = releases.version_files(conn, who.tenant_id, strategy, version)
            if found is None:
                raise releases.not_found(strategy, version)
            return {"strategy": strategy, "version": version, "digest": found[0],
                    **orjson.loads(found[1])}

        return json(await _in_thread(run))

    def release_action(action: Callable[..., None]) -> Callable[..., Awaitable[Response]]:
        async def run(svc: Service, who: Principal, strategy: str, *args: Any) -> Response:
            def tx() -> None:
                with svc.db.writer.begin() as conn:
                    action(conn, who, strategy, *args)
                svc.registry.forget(who.tenant_id, strategy)
                svc.registry.load_route(who.tenant_id, strategy)  # compile before traffic

            await _in_thread(tx)

            def current() -> dict[str, Any] | None:
                with svc.db.reader.connect() as conn:
                    dep = releases.deployment(conn, who.tenant_id, strategy)
                return None if dep is None else dep.__dict__

            return json({"strategy": strategy, "deployment": await run_in_threadpool(current)})

        return run

    do_rollback, do_route = release_action(releases.rollback), release_action(releases.route)

    @r.post("/strategies/{strategy}/versions/{version}/approve", tags=["strategies"],
            summary="Approve (four eyes) and activate a version")
    async def approve(request: Request, strategy: Id, version: Id,
                      who: Annotated[Principal, need("approve")],
                      body: ApproveBody | None = None) -> Response:
        activate = True if body is None else body.activate

        def act(conn: Any, w: Principal, sid: str, v: str) -> None:
            releases.approve(conn, w, sid, v, activate=activate)

        return await release_action(act)(service(request), who, strategy, version)

    @r.post("/strategies/{strategy}/rollback", tags=["strategies"],
            summary="Make an earlier approved version active")
    async def rollback(request: Request, strategy: Id, body: RollbackBody,
                       who: Annotated[Principal, need("approve")]) -> Response:
        return await do_rollback(service(request), who, strategy, body.version)

    @r.put("/strategies/{strategy}/candidate", tags=["strategies"],
           summary="Route a share of traffic to an approved candidate (shadow or split)")
    async def candidate(request: Request, strategy: Id, body: CandidateBody,
                        who: Annotated[Principal, need("approve")]) -> Response:
        return await do_route(service(request), who, strategy, body.version, body.mode,
                              body.percent)

    # -- audit ----------------------------------------------------------------------------
    @r.get("/audit/verify", tags=["audit"], summary="Verify the tenant's decision-log chain")
    async def audit(request: Request, who: Annotated[Principal, need("audit")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.snapshot() as conn:
                report = verify_chain(conn, who.tenant_id)
                total = count_records(conn, who.tenant_id)
            return {"ok": report.ok, "records": total, **report.__dict__}

        return json(await run_in_threadpool(run))

    # -- keys -----------------------------------------------------------------------------
    @r.get("/keys", tags=["keys"], summary="The tenant's API keys (never their secrets)")
    async def keys(request: Request, who: Annotated[Principal, need("admin")]) -> Response:
        svc = service(request)

        def run() -> list[dict[str, object]]:
            with svc.db.reader.connect() as conn:
                return list_keys(conn, who.tenant_id)

        return json({"items": await run_in_threadpool(run)})

    @r.post("/keys", tags=["keys"], status_code=201, summary="Create a key (shown once)")
    async def new_key(request: Request, body: KeyBody,
                      who: Annotated[Principal, need("admin")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.writer.begin() as conn:
                p, key = create_key(conn, who.tenant_id, list(body.roles), body.name)
            return {"id": p.key_id, "name": p.name, "roles": sorted(p.roles), "key": key}

        return json(await run_in_threadpool(run), 201)

    @r.delete("/keys/{key_id}", tags=["keys"], summary="Revoke a key")
    async def revoke(request: Request, key_id: Id,
                     who: Annotated[Principal, need("admin")]) -> Response:
        svc = service(request)

        def run() -> bool:
            with svc.db.writer.begin() as conn:
                return revoke_key(conn, who.tenant_id, key_id)

        if not await run_in_threadpool(run):
            raise ApiError(404, "not-found", "No such key.")
        svc.keys.forget()
        return json({"id": key_id, "revoked": True})

    assert set(ROLES) == set(Role.__args__)  # type: ignore[attr-defined]
    return r


def _get(svc: Service, who: Principal, decision_id: str) -> Any:
    with svc.db.reader.connect() as conn:
        stored = get_decision(conn, who.tenant_id, decision_id)
    if stored is None:
        raise ApiError(404, "not-found", "No such decision.")
    return stored


def _pack(content_type: str, body: bytes) -> dict[str, Any]:
    media = content_type.split(";")[0].strip().lower()
    if media in _YAML_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad-encoding", "The strategy must be UTF-8 text.") from None
        if "\x00" in text:
            raise ApiError(400, "bad-encoding", "The strategy must not contain NUL characters.")
        return {"entry": "strategy.yaml", "files": {"strategy.yaml": text}}
    if media not in ("application/json", ""):
        raise ApiError(415, "unsupported-media-type",
                       "Send application/json (a pack) or application/yaml (one file).")
    try:
        pack = PackBody.model_validate_json(body)
    except ValidationError as e:
        problems = [{"path": json_path(("body", *err["loc"])),
                     "code": "json-invalid" if err["type"] == "json_invalid"
                     else "invalid-" + err["type"].replace("_", "-"),
                     "message": err["msg"]} for err in e.errors(include_input=False)]
        status = 400 if any(p["code"] == "json-invalid" for p in problems) else 422
        raise ApiError(status, "json-invalid" if status == 400 else "invalid-request",
                       "The pack is not valid.", problems) from None
    return {"entry": pack.entry, "files": pack.files}
