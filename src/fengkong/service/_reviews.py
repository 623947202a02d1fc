"""Explanations and human review (``/v1/decisions/{id}/explanation``, ``/v1/decisions/{id}/review``,
``/v1/reviews``): the customer-facing account of a decision, and the case a person decides.

See docs/explanations.md. An explanation never repeats the application's inputs; it gives
the outcome, up to four ranked specific reasons in the customer's language, the right to
ask for a person to review the decision, and the state of such a review.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fengkong.explain import MAX_REASONS, catalogue, customer_reasons, pick_language
from fengkong.service._errors import ApiError
from fengkong.service._routes import _TEXT, Id, Role, json, need, service
from fengkong.service._service import Service
from fengkong.store import Principal, StoredDecision, get_decision, reviews

Lang = Literal["zh", "en"]
Outcome = Literal["approve", "decline", "refer"]
ADVERSE = frozenset({"decline", "refer"})
_CODE = r"^[A-Z][A-Z0-9_]*$"
READ_CASES: tuple[Role, ...] = ("review", "audit")
EXPLAIN: tuple[Role, ...] = ("decide", "audit", "review")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewRequestBody(_Body):
    reason: str | None = Field(None, min_length=1, max_length=2000, pattern=_TEXT,
                               description="Why the customer asks for a review, in their words "
                                           "(kept with the case only; never logged).")
    lang: Lang | None = Field(None, description="The customer's language for the outcome "
                                                "(default: from Accept-Language, else zh).")


class ReviewDecisionBody(_Body):
    decision: Outcome
    limit: float | None = Field(None, ge=0, le=1e12, description="The limit granted (approve).")
    apr: float | None = Field(None, ge=0, le=10, description="The APR (approve).")
    reasons: list[Annotated[str, Field(max_length=64, pattern=_CODE)]] = Field(
        default_factory=list, max_length=MAX_REASONS,
        description="1-4 specific reason codes, most decisive first (required when the "
                    "decision is decline or refer).")
    note: str | None = Field(None, min_length=1, max_length=2000, pattern=_TEXT,
                             description="The reviewer's note (kept with the case; the log "
                                         "holds its SHA-256).")


_DECISION_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": ReviewDecisionBody.model_json_schema()}}}}


def _decision(conn: Any, who: Principal, decision_id: str) -> StoredDecision:
    stored = get_decision(conn, who.tenant_id, decision_id)
    if stored is None:
        raise ApiError(404, "not-found", "No such decision.")
    return stored


def _case(conn: Any, who: Principal, case_id: str) -> reviews.ReviewCase:
    case = reviews.get_case(conn, who.tenant_id, case_id)
    if case is None:
        raise ApiError(404, "not-found", "No such review case.")
    return case


def _texts(svc: Service, stored: StoredDecision) -> dict[str, dict[str, str]]:
    """The strategy version's own reason texts (``reasons:``), from its compiled plan."""
    strategy = svc.registry.compiled(stored.tenant_id, stored.strategy_id,
                                     stored.strategy_version)
    return {code: {str(lang): text for lang, text in texts.items()}
            for code, texts in strategy.spec.reasons.items()}


def explanation(svc: Service, who: Principal, decision_id: str, lang: str) -> dict[str, Any]:
    """The customer-facing explanation of one of the caller's tenant's decisions."""
    with svc.db.reader.connect() as conn:
        stored = _decision(conn, who, decision_id)
        rec = orjson.loads(stored.record)
        original = stored
        if rec.get("human_reviewed"):  # a reviewer's record: explain it as the final word
            found = get_decision(conn, who.tenant_id, rec["review"]["original_decision_id"])
            original = found or stored
        case = reviews.case_for_decision(conn, who.tenant_id, original.id)
        final = stored
        if case is not None and case.status == "decided" and case.review_decision_id:
            final = get_decision(conn, who.tenant_id, case.review_decision_id) or stored
    cat = catalogue()
    final_rec = orjson.loads(final.record)
    decided = final_rec["decision"]
    human = bool(final_rec.get("human_reviewed"))
    pending = case is not None and case.status == "pending"
    adverse = decided["decision"] in ADVERSE
    own = _texts(svc, final)
    codes = customer_reasons(decided.get("reasons") or []) if adverse else []
    reasons = [{"rank": i, "code": c, "text": cat.text(c, lang, own)}
               for i, c in enumerate(codes, 1)]
    if pending:
        summary = cat.statement("under_review", lang)
    elif human:
        summary = cat.statement("human_reviewed", lang)
    elif not adverse:
        summary = cat.statement("not_adverse", lang)
    else:
        summary = None
    review: dict[str, Any] = {
        "right": cat.statement("review_right", lang),
        "how": f"POST /v1/decisions/{original.id}/review",
        "status": None if case is None else case.status,
        "case_id": None if case is None else case.id}
    return {"decision_id": original.id, "outcome": decided["decision"], "adverse": adverse,
            "on_hold": pending, "human_reviewed": human, "lang": lang, "summary": summary,
            "reasons": reasons, "human_review": review,
            "strategy": {"id": final.strategy_id, "version": final.strategy_version},
            "decided_at": final.decided_at}


def _check_reasons(svc: Service, original: StoredDecision, body: ReviewDecisionBody) -> None:
    """Adverse decisions need 1-4 specific codes with a text; every code must have one."""
    problems: list[dict[str, str]] = []
    if body.decision in ADVERSE and not body.reasons:
        problems.append({"path": "$.reasons", "code": "reasons-required",
                         "message": "A decline or refer needs 1 to 4 reason codes."})
    if body.decision == "decline" and (body.limit is not None or body.apr is not None):
        problems.append({"path": "$.limit" if body.limit is not None else "$.apr",
                         "code": "not-for-decline",
                         "message": "A decline has no limit or APR."})
    cat, own = catalogue(), _texts(svc, original)
    for i, code in enumerate(body.reasons):
        path = f"$.reasons[{i}]"
        if code in body.reasons[:i]:
            problems.append({"path": path, "code": "reason-duplicate",
                             "message": "Each reason code may be given once."})
        elif not cat.has_text(code, own):
            problems.append({"path": path, "code": "reason-unknown",
                             "message": "Not a reason code of the catalogue or the strategy's "
                                        "`reasons:`."})
        elif cat.is_generic(code):
            problems.append({"path": path, "code": "reason-generic",
                             "message": "A generic code does not say why; give a specific one."})
    if problems:
        raise ApiError(422, "invalid-request", "The review decision is not valid.", problems)


def build_review_router() -> APIRouter:
    """The explanation and human-review routes."""
    r = APIRouter(prefix="/v1")

    @r.get("/decisions/{decision_id}/explanation", tags=["explanations"],
           summary="The customer-facing explanation of a decision")
    async def explain(request: Request, decision_id: Id,
                      who: Annotated[Principal, need(*EXPLAIN)],
                      lang: Annotated[Lang | None, Query(
                          description="zh or en; default from Accept-Language, else zh")] = None,
                      ) -> Response:
        chosen = pick_language(lang, request.headers.get("accept-language"))
        out = await run_in_threadpool(explanation, service(request), who, decision_id, chosen)
        return json(out, headers={"Content-Language": chosen})

    @r.post("/decisions/{decision_id}/review", tags=["reviews"], status_code=201,
            summary="Ask for a person to review a decision (opens or returns its case)")
    async def request_review(request: Request, decision_id: Id,
                             who: Annotated[Principal, need("decide")],
                             body: ReviewRequestBody | None = None) -> Response:
        svc = service(request)
        body = body or ReviewRequestBody()
        lang = pick_language(body.lang, request.headers.get("accept-language"))

        def run() -> tuple[reviews.ReviewCase, bool]:
            with svc.db.writer.begin() as conn:
                stored = _decision(conn, who, decision_id)
                if reviews.is_human_review(stored.record):
                    raise ApiError(409, "human-reviewed", "This decision was made by a reviewer; "
                                   "ask for a review of the automated decision it reviewed.")
                return reviews.open_case(conn, who.tenant_id, decision_id, who.key_id,
                                         lang=lang, reason=body.reason)

        case, created = await run_in_threadpool(run)
        return json(case.to_dict(), 201 if created else 200)

    @r.get("/reviews", tags=["reviews"], summary="Human-review cases, newest first")
    async def list_(request: Request, who: Annotated[Principal, need(*READ_CASES)],
                    status: Annotated[Literal["pending", "decided"] | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: Annotated[str | None, Query(max_length=36, pattern=r"^[0-9a-f\-]+$",
                                                        description="Page cursor.")] = None,
                    ) -> Response:
        svc = service(request)

        def run() -> list[reviews.ReviewCase]:
            with svc.db.reader.connect() as conn:
                return reviews.list_cases(conn, who.tenant_id, status=status, limit=limit,
                                          before=before)

        rows = await run_in_threadpool(run)
        nxt = rows[-1].id if len(rows) == limit else None
        return json({"items": [c.to_dict() for c in rows], "next": nxt})

    @r.get("/reviews/{case_id}", tags=["reviews"], summary="One human-review case")
    async def get_one(request: Request, case_id: Id,
                      who: Annotated[Principal, need(*READ_CASES)]) -> Response:
        svc = service(request)

        def run() -> reviews.ReviewCase:
            with svc.db.reader.connect() as conn:
                return _case(conn, who, case_id)

        return json((await run_in_threadpool(run)).to_dict())

    @r.post("/reviews/{case_id}/decision", tags=["reviews"], openapi_extra=_DECISION_BODY,
            summary="A reviewer decides a case (appended to the decision log)")
    async def decide(request: Request, case_id: Id, body: ReviewDecisionBody,
                     who: Annotated[Principal, need("review")]) -> Response:
        svc = service(request)

        def run() -> dict[str, Any]:
            with svc.db.reader.connect() as conn:
                case = _case(conn, who, case_id)
                original = _decision(conn, who, case.decision_id)
            if case.status != "pending":
                raise ApiError(409, "case-closed", "The review case is already decided.")
            if who.key_id == case.opened_by:
                raise ApiError(403, "four-eyes", "The key that opened a review case cannot "
                                                 "decide it.")
            _check_reasons(svc, original, body)
            decision = {"decision": body.decision, "limit": body.limit, "apr": body.apr,
                        "reasons": body.reasons}
            record = reviews.review_record(original, case, reviewer_id=who.key_id,
                                           reviewer_name=who.name, decision=decision,
                                           note=body.note, now=dt.datetime.now(dt.UTC))
            try:
                with svc.db.writer.begin() as conn:
                    closed, stored = reviews.decide_case(
                        conn, case, record, reviewer_id=who.key_id, reviewer_name=who.name,
                        note=body.note)
            except reviews.ReviewError as e:
                raise ApiError(e.status, e.error_code, str(e)) from None
            return {"case": closed.to_dict(), "decision": svc.view(stored, full=False)}

        return json(await run_in_threadpool(run))

    return r
