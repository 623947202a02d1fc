"""The decision service as ``fengkong serve`` runs it, plus one no-op route: the HTTP floor.

``create_app`` is the service's own app (``fengkong.service.app_from_env()``, exactly
what ``fengkong serve`` loads in every worker process: settings from the environment,
JSON logs set up) with one extra route,
``POST /bench/noop``. That route reads the request body and answers a small JSON
object through the same middleware, so load on it measures HTTP parsing, uvicorn,
Starlette/FastAPI routing and the request middleware (id, body limit, one log line),
without the engine and the decision log. It is declared like the service's other
FastAPI routes (after them, with a ``Request`` parameter and no dependencies); the
decide route is a plain Starlette route placed first. The route exists only in this
module; the service in ``src/`` has no benchmark routes.

``main`` starts the server through the real ``fengkong serve`` command (option
parsing, database check and migration, environment, JSON logging, and its
``uvicorn.run`` options: uvloop, httptools, access log off, worker count), changing
only the app it imports to ``service_app:create_app``::

    .venv/bin/python benchmarks/service_app.py --port 8000 --data-dir /tmp/d [--database-url URL]
        [--workers N] [--log-level info]

Profiling: with ``FENGKONG_BENCH_CPROFILE=/path/prefix`` each server process runs
under ``cProfile`` (event-loop thread only) and writes ``<prefix>.<pid>.prof`` when it
stops. ``py-spy`` (see ``profile_service.py``) is preferred: it sees every thread and
does not slow the server down much.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.responses import Response

HERE = Path(__file__).resolve().parent
NOOP_PATH = "/bench/noop"
_SERVE_APP = "fengkong.service:app_from_env"


def create_app() -> Any:
    """The service's app (``app_from_env()``) with ``POST /bench/noop`` added."""
    from fengkong.service import app_from_env
    from fengkong.service._routes import json

    app = app_from_env()

    @app.post(NOOP_PATH, include_in_schema=False)
    async def noop(request: Request) -> Response:
        body = await request.body()
        return json({"ok": True, "bytes": len(body)})

    prefix = os.environ.get("FENGKONG_BENCH_CPROFILE")
    if prefix:
        _wrap_lifespan(app, prefix)
    return app


def _wrap_lifespan(app: Any, prefix: str) -> None:
    """cProfile from the end of the service's start-up until shutdown."""
    import cProfile
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with inner(a) as state:
            prof = cProfile.Profile()
            prof.enable()
            try:
                yield state
            finally:
                prof.disable()
                prof.dump_stats(f"{prefix}.{os.getpid()}.prof")

    app.router.lifespan_context = lifespan


def main(argv: list[str]) -> None:
    """``fengkong serve ARGS`` with the app swapped for :func:`create_app`."""
    import uvicorn

    from fengkong.cli._app import app as cli

    real_run = uvicorn.run

    def run(target: Any, **options: Any) -> None:
        if target != _SERVE_APP:  # `fengkong serve` changed: this module must follow it
            msg = f"fengkong serve now runs {target!r}, not {_SERVE_APP!r}"
            raise RuntimeError(msg)
        real_run("service_app:create_app", app_dir=str(HERE), **options)

    uvicorn.run = run
    try:
        cli(prog_name="fengkong", args=["serve", *argv])
    finally:
        uvicorn.run = real_run


if __name__ == "__main__":
    main(sys.argv[1:])
