"""The app factory and the server entry point."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from fengkong._version import __version__
from fengkong.service._consents import build_consent_router
from fengkong.service._errors import ApiError, install_error_handlers
from fengkong.service._logging import configure_logging
from fengkong.service._middleware import RequestContext
from fengkong.service._reviews import build_review_router
from fengkong.service._routes import DECIDE_PATH, build_router, decide_endpoint, json
from fengkong.service._service import Service
from fengkong.service._settings import Settings
from fengkong.store import Database

log = logging.getLogger("fengkong.service")
disable_created_metrics()  # type: ignore[no-untyped-call]

_DESCRIPTION = """\
Decide credit applications with deployed strategies; every decision is logged
durably in a hash-chained log before it is answered, and can be fetched, replayed
and verified. Strategy versions need a second person's approval.

Authenticate with an API key of your institution: `Authorization: Bearer fk_...`.
Errors have one shape: `{"error": {"code", "message", "problems": [{"path", "code",
"message"}]}}`; messages never repeat a submitted value.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A decision service app; the database is opened and migrated when it starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await run_in_threadpool(_open, settings)
        app.state.service = svc
        # What start-up made (modules, compiled strategies) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise stall requests.
        gc.collect()
        gc.freeze()
        log.info("service started", extra={"database": svc.db.dialect,
                                           "data_dir": str(settings.data_dir)})
        try:
            yield
        finally:
            await svc.aclose()
            await run_in_threadpool(svc.stop)
            log.info("service stopped")

    app = FastAPI(title="fengkong decision service", version=__version__,
                  description=_DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(build_router())
    app.include_router(build_consent_router())
    app.include_router(build_review_router())

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> Response:
        return json({"status": "ok"})

    @app.get("/readyz", tags=["operations"], summary="The database answers and the log writes")
    async def readyz(request: Request) -> Response:
        svc: Service = request.app.state.service
        try:
            await run_in_threadpool(svc.db.ping)
        except Exception:
            raise ApiError(503, "not-ready", "The database does not answer.") from None
        if not svc.log.running:
            raise ApiError(503, "not-ready", "The decision log writer is not running.")
        return json({"status": "ready", "database": svc.db.dialect})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        svc: Service = request.app.state.service
        svc.metrics.log_batches.set(svc.log.batches)
        svc.metrics.log_records.set(svc.log.appended)
        await svc.monitor.maybe_refresh()
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestContext, max_body=settings.max_body_bytes)
    app.openapi()  # the document is made from the declared routes, before the swap below
    _serve_lean(app, DECIDE_PATH, "POST", decide_endpoint)
    return app


def _serve_lean(app: FastAPI, path: str, method: str,
                endpoint: Callable[[Request], Awaitable[Response]]) -> None:
    """Put a plain Starlette route for one documented operation ahead of the others.

    Routes match in order, so the lean route answers; the FastAPI declaration of the
    same operation (which calls the same endpoint) stays for the OpenAPI document.
    """
    app.router.routes.insert(0, Route(path, endpoint, methods=[method]))


def _open(settings: Settings) -> Service:
    db = Database.connect(settings.url)
    db.upgrade()
    keys = settings.load_keys()
    svc = Service(settings, db, keys)
    svc.start()
    return svc


def app_from_env() -> Any:
    """The app for ``uvicorn --factory fengkong.service:app_from_env`` (settings from env).

    Each worker process calls this, so it also sets up the JSON logs there
    (``FENGKONG_LOG_LEVEL``, default ``info``).
    """
    configure_logging(os.environ.get("FENGKONG_LOG_LEVEL", "info"))
    return create_app(Settings.from_env())
