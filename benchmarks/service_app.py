"""The decision service as ``fengkong serve`` runs it, plus one no-op route: the HTTP floor.

``create_app`` is the service's own app (``fengkong.service.create_app`` with settings
from the environment, exactly what ``fengkong serve`` loads) with one extra route,
``POST /bench/noop``. That route reads the request body and answers a small JSON
object through the same middleware, so load on it measures HTTP parsing, uvicorn,
Starlette/FastAPI routing and the request middleware (id, body limit, one log line),
without the engine and the decision log. The route exists only in this module; the
service in ``src/`` has no benchmark routes.

``main`` starts the server through the real ``fengkong serve`` command (option
parsing, database check and migration, environment, JSON logging, and its
``uvicorn.run`` options: uvloop, httptools, access log off, worker count), changing
only the app it imports to ``service_app:create_app``::

    .venv/bin/python benchmarks/service_app.py --port 8000 --data-dir /tmp/d [--database-url URL]
        [--workers N] [--log-level info]

Experiment: with ``FENGKONG_BENCH_GC_FREEZE=1`` each server process calls
``gc.collect(); gc.freeze()`` once the service has started (the product does not),
so the objects made at start-up (imports, compiled strategy, app) are left out of
every later collection. ``bench_service.py`` runs this as a separate, labelled
configuration.

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
    """The service's app (settings from ``FENGKONG_*``) with ``POST /bench/noop`` added."""
    from fengkong.service import Settings
    from fengkong.service import create_app as create_service_app
    from fengkong.service._routes import json

    app = create_service_app(Settings.from_env())

    @app.post(NOOP_PATH, include_in_schema=False)
    async def noop(request: Request) -> Response:
        body = await request.body()
        return json({"ok": True, "bytes": len(body)})

    prefix = os.environ.get("FENGKONG_BENCH_CPROFILE")
    freeze = os.environ.get("FENGKONG_BENCH_GC_FREEZE") == "1"
    if prefix or freeze:
        _wrap_lifespan(app, prefix, freeze=freeze)
    return app


def _wrap_lifespan(app: Any, prefix: str | None, *, freeze: bool) -> None:
    """After the service started: ``gc.freeze()`` and/or cProfile until shutdown."""
    import cProfile
    import gc
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with inner(a) as state:
            if freeze:  # an experiment: start-up objects are never scanned by the GC again
                gc.collect()
                gc.freeze()
            prof = cProfile.Profile() if prefix else None
            if prof is not None:
                prof.enable()
            try:
                yield state
            finally:
                if prof is not None:
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
