"""One error shape for every 4xx/5xx: a stable code, a message, and the JSON path of each problem.

Messages never echo a submitted value: a value may be personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fengkong.service._logging import request_id_var

log = logging.getLogger("fengkong.service")

_STATUS_CODES = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 406: "not-acceptable", 409: "conflict",
                 413: "body-too-large", 415: "unsupported-media-type", 422: "invalid",
                 429: "too-many-requests", 503: "unavailable"}


class ApiError(Exception):
    """An error the API answers with: HTTP status, code, message, problems (path, code, message)."""

    def __init__(self, status: int, code: str, message: str,
                 problems: Sequence[dict[str, Any]] = (), headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = list(problems)
        self.headers = headers


def error_body(status: int, code: str, message: str,
               problems: Sequence[dict[str, Any]] = ()) -> bytes:
    """The JSON body of an error answer."""
    err: dict[str, Any] = {"code": code, "message": message}
    if problems:
        err["problems"] = list(problems)
    body: dict[str, Any] = {"error": err}
    rid = request_id_var.get()
    if rid is not None:
        body["request_id"] = rid
    return orjson.dumps(body)


def error_response(e: ApiError) -> Response:
    """An :class:`ApiError` as a response."""
    return Response(error_body(e.status, e.code, e.message, e.problems), status_code=e.status,
                    media_type="application/json", headers=e.headers)


def json_path(loc: Sequence[int | str]) -> str:
    """A pydantic location as a JSON path: ``("body", "a", 0)`` -> ``$.a[0]``.

    >>> json_path(("body", "candidate", "percent"))
    '$.candidate.percent'
    >>> json_path(("query", "limit"))
    'query.limit'
    >>> json_path(("body", "files", "a b.yaml"))
    "$.files['a b.yaml']"
    """
    where, *rest = loc if loc else ("body",)
    out = "$" if where == "body" else str(where)
    for part in rest:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}"
        else:
            out += "[" + repr(str(part)) + "]"
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape, never with a value the caller sent."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> Response:
        return error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> Response:
        problems = []
        for err in e.errors():
            kind = err.get("type", "invalid")
            code = "json-invalid" if kind == "json_invalid" else f"invalid-{kind}".replace("_", "-")
            # A syntax error's location is a character offset, not a path into the document.
            path = "$" if kind == "json_invalid" else json_path(err.get("loc", ()))
            problems.append({"path": path, "code": code,
                             "message": err.get("msg", "invalid")})
        status = 400 if any(p["code"] == "json-invalid" for p in problems) else 422
        code = "json-invalid" if status == 400 else "invalid-request"
        return error_response(ApiError(status, code, "The request is not valid.", problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(e.status_code, "error")
        message = e.detail if isinstance(e.detail, str) else code
        return error_response(ApiError(e.status_code, code, message,
                                       headers=getattr(e, "headers", None)))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> Response:
        log.error("unexpected error", exc_info=e)
        return error_response(ApiError(500, "internal", "Internal error; the request was not "
                                                        "completed and nothing was written."))
