"""The consent registry's API (``/v1/consents``) and the parsing of consent records that the
API and the CLI share (the CLI imports :func:`parse_lines` and :func:`to_new_consent`).

A subject is sent as an identifier (``{"kind": "id_card", "value": "..."}``), which is
pseudonymised at once exactly as a decision's personal data fields are (same keys,
the tenant as scope), or as a pseudonym. Only the pseudonym is stored or answered.
A consent is recorded under the current key; a lookup by identifier
(``POST /v1/consents/status``, ``POST /v1/consents/search``) looks under every key, so
consents recorded before a key rotation are still found. Identifiers travel in request
bodies only, never in a URL (URLs end up in proxies' and browsers' logs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fengkong.privacy import PseudonymKeys
from fengkong.privacy._identifiers import RULES as IDENTIFIER_RULES
from fengkong.privacy._identifiers import identifier_ok
from fengkong.service._errors import ApiError, json_path
from fengkong.service._routes import _TEXT, Id, Role, json, need, service
from fengkong.store import (
    ConsentError,
    NewConsent,
    Principal,
    consent_status,
    get_consent,
    grant_consent,
    import_consents,
    list_consents,
    revoke_consent,
)
from fengkong.store._consents import MAX_PROBLEMS
from fengkong.strategy._spec import PiiKind

Purpose = Literal["acquisition", "origination", "account_management", "collections",
                  "marketing", "modelling"]
ConsentType = Literal["general", "separate", "written"]
_PSEUDONYM = r"^pn1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{27}$"
_SOURCE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
PII_KINDS: tuple[str, ...] = get_args(PiiKind)
READ: tuple[Role, ...] = ("consent", "audit")


def _to_utc(when: dt.datetime) -> dt.datetime:
    """A time in UTC (naive times are UTC), within years 1900-9998."""
    try:
        when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    except OverflowError:
        msg = "the time is out of range"
        raise ValueError(msg) from None
    if not 1900 <= when.year <= 9998:
        msg = "the time must be in the years 1900 to 9998"
        raise ValueError(msg)
    return when


Utc = Annotated[dt.datetime, AfterValidator(_to_utc)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectBody(_Body):
    kind: PiiKind = Field(description="What the identifier is (as a strategy's `pii:`).")
    value: str = Field(min_length=1, max_length=256, pattern=_TEXT,
                       description="The identifier; pseudonymised at once, never stored.")

    @model_validator(mode="after")
    def _valid_identifier(self) -> SubjectBody:
        # As at decision ingress: a mistyped number would get a pseudonym matching nobody.
        if self.kind in IDENTIFIER_RULES and not identifier_ok(self.kind, self.value):
            msg = f"the value must be {IDENTIFIER_RULES[self.kind]}"
            raise ValueError(msg)
        return self


class EvidenceBody(_Body):
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$",
                      description="SHA-256 of the signed authorisation: `sha256:<64 hex>`.")
    ref: str = Field(min_length=1, max_length=256, pattern=_TEXT,
                     description="Where the signed authorisation is kept.")


class ConsentBody(_Body):
    subject: SubjectBody | None = Field(None, description="The data subject's identifier.")
    subject_pseudonym: str | None = Field(None, pattern=_PSEUDONYM,
                                          description="Or the subject's pseudonym.")
    source: str = Field(pattern=_SOURCE, description="The data source id (e.g. `bureau`).")
    purpose: Purpose
    consent_type: ConsentType
    version: str = Field(min_length=1, max_length=64, pattern=_TEXT,
                         description="The version of the consent wording agreed to.")
    granted_at: Utc | None = Field(None, description="Default: now. Naive times are UTC.")
    valid_to: Utc | None = Field(None, description="Default: until revoked.")
    evidence: EvidenceBody

    @model_validator(mode="after")
    def _one_subject(self) -> ConsentBody:
        if (self.subject is None) == (self.subject_pseudonym is None):
            msg = "give exactly one of subject and subject_pseudonym"
            raise ValueError(msg)
        return self


class _LookupBody(_Body):
    subject: SubjectBody | None = Field(
        None, description="The data subject's identifier; looked up under every pseudonym key "
                          "(consents recorded before a key rotation are found too).")
    subject_pseudonym: str | None = Field(None, pattern=_PSEUDONYM,
                                          description="Or one pseudonym (that key's only).")

    def subjects(self, keys: PseudonymKeys, tenant: str) -> tuple[str, ...] | None:
        """The pseudonyms to look up: the identifier's under every key, or the one given."""
        if self.subject is not None:
            return keys.pseudonyms(self.subject.kind, self.subject.value, scope=tenant)
        return None if self.subject_pseudonym is None else (self.subject_pseudonym,)


class StatusBody(_LookupBody):
    source: str = Field(pattern=_SOURCE, description="The data source id (e.g. `bureau`).")
    purpose: Purpose
    at: Utc | None = Field(None, description="Default: now. Naive times are UTC.")

    @model_validator(mode="after")
    def _one_subject(self) -> StatusBody:
        if (self.subject is None) == (self.subject_pseudonym is None):
            msg = "give exactly one of subject and subject_pseudonym"
            raise ValueError(msg)
        return self


class SearchBody(_LookupBody):
    source: str | None = Field(None, pattern=_SOURCE, description="One source only.")
    purpose: Purpose | None = None
    active: bool | None = Field(None, description="Only consents in force now (true) or not "
                                                  "(false).")
    limit: int = Field(50, ge=1, le=500)
    before: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$", description="Page cursor.")

    @model_validator(mode="after")
    def _at_most_one_subject(self) -> SearchBody:
        if self.subject is not None and self.subject_pseudonym is not None:
            msg = "give at most one of subject and subject_pseudonym"
            raise ValueError(msg)
        return self


class RevokeBody(_Body):
    revoked_at: Utc | None = Field(None, description="Default: now. Not in the future.")


def to_new_consent(body: ConsentBody, keys: PseudonymKeys, tenant: str) -> NewConsent:
    """The consent to store, its subject pseudonymised with ``keys`` under the tenant."""
    if body.subject is not None:
        subject = keys.pseudonym(body.subject.kind, body.subject.value, scope=tenant)
    else:
        assert body.subject_pseudonym is not None
        subject = body.subject_pseudonym
    return NewConsent(subject=subject, source=body.source, purpose=body.purpose,
                      consent_type=body.consent_type, version=body.version,
                      evidence_hash=body.evidence.hash, evidence_ref=body.evidence.ref,
                      granted_at=body.granted_at, valid_to=body.valid_to)


def _problems(e: ValidationError, line: int | None = None) -> list[dict[str, Any]]:
    out = []
    for err in e.errors(include_input=False, include_context=False):
        kind = err["type"]
        path = "$" if kind == "json_invalid" else json_path(("body", *err["loc"]))
        p: dict[str, Any] = {"path": path,
                             "code": "json-invalid" if kind == "json_invalid"
                             else "invalid-" + kind.replace("_", "-"),
                             "message": err["msg"]}
        out.append(p if line is None else {"line": line, **p})
    return out


def parse_lines(lines: Iterable[bytes | str], keys: PseudonymKeys, tenant: str
                ) -> list[tuple[int, NewConsent]]:
    """JSON lines, one consent each (blank lines skipped), as ``(line, consent)``.

    Raises :class:`ConsentError` naming the line and JSON path of every problem (at most
    ``MAX_PROBLEMS``); nothing is returned unless every line is valid.
    """
    out: list[tuple[int, NewConsent]] = []
    problems: list[dict[str, Any]] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            body = ConsentBody.model_validate_json(raw)
        except ValidationError as e:
            problems.extend(_problems(e, n))
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        out.append((n, to_new_consent(body, keys, tenant)))
    if problems:
        msg = "The import has invalid consents; nothing was recorded."
        raise ConsentError(msg, problems=problems[:MAX_PROBLEMS])
    if not out:
        msg = "The import has no consents."
        raise ConsentError(msg, problems=[{
            "line": 1, "path": "$", "code": "empty", "message": "Send one consent a line."}])
    return out


def _api_error(e: ConsentError) -> ApiError:
    code = e.error_code if e.status == 404 else "consent-invalid"
    return ApiError(e.status, code, str(e), e.problems)


async def _run(fn: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except ConsentError as e:
        raise _api_error(e) from None


_IMPORT_BODY = {"requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {
    "type": "string", "description": "JSON lines: one consent (as `POST /v1/consents` takes "
                                     "it) a line. All of them are recorded, or none."}}}}}


def build_consent_router() -> APIRouter:
    """The ``/v1/consents`` routes."""
    r = APIRouter(prefix="/v1/consents", tags=["consents"])

    @r.post("", status_code=201, summary="Record a consent")
    async def record(request: Request, body: ConsentBody,
                     who: Annotated[Principal, need("consent")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            consent = to_new_consent(body, svc.pseudonyms, who.tenant_id)
            with svc.db.writer.begin() as conn:
                return grant_consent(conn, who.tenant_id, consent, who.key_id)

        return json(await _run(run), 201)

    @r.get("", summary="The tenant's consents, newest first")
    async def list_(request: Request, who: Annotated[Principal, need(*READ)],
                    subject_pseudonym: Annotated[str | None, Query(pattern=_PSEUDONYM)] = None,
                    source: Annotated[str | None, Query(pattern=_SOURCE)] = None,
                    purpose: Annotated[Purpose | None, Query()] = None,
                    active: Annotated[bool | None, Query(
                        description="Only consents in force now (true) or not (false).")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: Annotated[str | None, Query(pattern=r"^[0-9a-f-]{36}$",
                                                        description="Page cursor.")] = None,
                    ) -> Response:
        svc = service(request)

        def run() -> list[dict[str, Any]]:
            with svc.db.reader.connect() as conn:
                return list_consents(conn, who.tenant_id, subject=subject_pseudonym,
                                     source=source, purpose=purpose, active=active,
                                     before=before, limit=limit)

        rows = await run_in_threadpool(run)
        return json({"items": rows, "next": rows[-1]["id"] if len(rows) == limit else None})

    @r.get("/status", summary="The consent verdict a decision would use now")
    async def status(request: Request, who: Annotated[Principal, need(*READ)],
                     subject_pseudonym: Annotated[str, Query(pattern=_PSEUDONYM)],
                     source: Annotated[str, Query(pattern=_SOURCE)],
                     purpose: Annotated[Purpose, Query()],
                     at: Annotated[Utc | None, Query(
                         description="Default: now. Naive times are UTC.")] = None,
                     ) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.reader.connect() as conn:
                return consent_status(conn, who.tenant_id, subject_pseudonym, source, purpose,
                                      at).to_dict()

        return json(await run_in_threadpool(run))

    @r.post("/status", summary="The consent verdict a decision would use, by identifier")
    async def status_by_identifier(request: Request, body: StatusBody,
                                   who: Annotated[Principal, need(*READ)]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            subjects = body.subjects(svc.pseudonyms, who.tenant_id)
            assert subjects is not None
            with svc.db.reader.connect() as conn:
                return consent_status(conn, who.tenant_id, subjects, body.source, body.purpose,
                                      body.at).to_dict()

        return json(await run_in_threadpool(run))

    @r.post("/search", summary="The tenant's consents, newest first, by identifier")
    async def search(request: Request, body: SearchBody,
                     who: Annotated[Principal, need(*READ)]) -> Response:
        svc = service(request)

        def run() -> list[dict[str, Any]]:
            subjects = body.subjects(svc.pseudonyms, who.tenant_id)
            with svc.db.reader.connect() as conn:
                return list_consents(conn, who.tenant_id, subject=subjects, source=body.source,
                                     purpose=body.purpose, active=body.active,
                                     before=body.before, limit=body.limit)

        rows = await run_in_threadpool(run)
        return json({"items": rows, "next": rows[-1]["id"] if len(rows) == body.limit else None})

    @r.post("/import", openapi_extra=_IMPORT_BODY, status_code=201,
            summary="Record many consents (JSON lines): all or none")
    async def import_(request: Request, who: Annotated[Principal, need("consent")]) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in NDJSON_TYPES:
            raise ApiError(415, "unsupported-media-type",
                           "Send JSON lines as application/x-ndjson.")
        body = await request.body()
        svc = service(request)

        def run() -> int:
            items = parse_lines(body.splitlines(), svc.pseudonyms, who.tenant_id)
            with svc.db.writer.begin() as conn:
                return import_consents(conn, who.tenant_id, items, who.key_id)

        return json({"recorded": await _run(run)}, 201)

    @r.get("/{consent_id}", summary="One consent")
    async def get_one(request: Request, consent_id: Id,
                      who: Annotated[Principal, need(*READ)]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.reader.connect() as conn:
                return get_consent(conn, who.tenant_id, consent_id)

        return json(await _run(run))

    @r.post("/{consent_id}/revoke", summary="Revoke a consent (effective for the next decision)")
    async def revoke(request: Request, consent_id: Id,
                     who: Annotated[Principal, need("consent")],
                     body: RevokeBody | None = None) -> Response:
        svc = service(request)
        when = None if body is None else body.revoked_at

        def run() -> dict[str, Any]:
            with svc.db.writer.begin() as conn:
                consent, now = revoke_consent(conn, who.tenant_id, consent_id, when)
            return {**consent, "revoked_now": now}

        return json(await _run(run))

    return r

