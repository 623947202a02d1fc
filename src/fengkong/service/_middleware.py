"""The ASGI layer under every route: request id, body limit, one log line per request."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fengkong.service._errors import error_body
from fengkong.service._logging import request_id_var, tenant_var
from fengkong.service._metrics import Metrics

log = logging.getLogger("fengkong.service.http")


def _metrics(scope: Scope) -> Metrics | None:
    service = getattr(getattr(scope.get("app"), "state", None), "service", None)
    return getattr(service, "metrics", None)


class _TooLarge(BaseException):
    """Raised from ``receive`` past the limit; a BaseException so that a framework's
    ``except Exception`` around body parsing cannot turn it into a 400."""


class RequestContext:
    """Gives each request an id (the client's ``X-Request-ID`` or a new one), refuses
    bodies over ``max_body`` with 413 before reading them, and logs the outcome."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
            elif name == b"content-length":
                length = value
        rid_token = request_id_var.set(rid or uuid.uuid4().hex)
        tenant_token = tenant_var.set(None)
        status = [0]
        limit = self.max_body

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", (request_id_var.get() or "").encode("latin-1"))]
            await send(message)

        try:
            if length is not None and (not length.isdigit() or int(length) > limit):
                await self._reject(send_with_id, 413 if length.isdigit() else 400)
                return
            seen = [0]

            async def limited() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > limit:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, limited, send_with_id)
            except _TooLarge:
                if status[0] == 0:
                    await self._reject(send_with_id, 413)
            except Exception as e:  # a bug: answered and logged here, with the request's context
                log.error("unexpected error", exc_info=e)
                if status[0] == 0:
                    await _send_error(send_with_id, 500, error_body(
                        500, "internal",
                        "Internal error; the request was not completed and nothing was written."))
        finally:
            extra: dict[str, Any] = {
                "method": scope["method"], "path": scope["path"], "status": status[0],
                "ms": round((time.perf_counter() - started) * 1000, 3)}
            log.info("request", extra=extra)
            metrics = _metrics(scope)
            if status[0] >= 400 and metrics is not None:
                metrics.errors.labels(str(status[0])).inc()
            request_id_var.reset(rid_token)
            tenant_var.reset(tenant_token)

    async def _reject(self, send: Send, status: int) -> None:
        if status == 413:
            body = error_body(413, "body-too-large",
                              f"The body is larger than the limit of {self.max_body} bytes.")
        else:
            body = error_body(400, "bad-request", "Content-Length is not a number.")
        await _send_error(send, status, body)


async def _send_error(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
