"""Property-based API tests from the app's own OpenAPI document (Schemathesis 4): every
operation, with data that fits the schema and data that does not, never gets a 5xx.

Schemathesis 4 runs the app's lifespan itself: ``from_asgi`` starts it (on its own event
loop thread) the first time it reaches the app and keeps it running for every later call,
until ``shutdown_lifespans()`` (which its pytest plugin also calls when a test ends). So
the app is not wrapped in a TestClient here: that would run a second lifespan.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from fengkong.demo import example_record
from fengkong.service import Settings, create_app
from fengkong.store import create_key, verify_chain


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: Any, value: Any) -> bytes:
    """The consent import's JSON lines body (a string in the schema)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else \
        orjson.dumps(value)


EXAMPLES = 50  # per operation and generation mode


@pytest.mark.slow
def test_no_operation_answers_with_a_server_error(database_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url,
                              tenant="bank-a"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
    try:
        svc = app.state.service
        assert svc.log.running
        with svc.db.writer.begin() as conn:
            _, key = create_key(conn, "bank-a", ["admin", "decide", "author", "approve", "audit", "consent", "review"],
                                "schemathesis")
        headers = {"Authorization": f"Bearer {key}"}

        # Something to find: a decision made through the schema's own transport.
        decide = schema["/v1/decisions/{strategy}"]["POST"]
        case = decide.Case(path_parameters={"strategy": "consumer_loan"},
                           body=copy.deepcopy(example_record()),
                           headers={"X-Request-ID": "seed-1"}, media_type="application/json")
        seeded = case.call(headers=headers)
        assert seeded.status_code == 200, seeded.text

        failures: list[str] = []
        ran: list[str] = []
        started = time.perf_counter()
        for result in schema.get_all_operations():
            operation = result.ok()
            has_input = bool(list(operation.iter_parameters()) or len(operation.body))
            for mode in (schemathesis.GenerationMode.POSITIVE,
                         schemathesis.GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=EXAMPLES, deadline=None, database=None,
                          derandomize=True, phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck))
                def run(case: Any) -> None:
                    try:
                        response = case.call(headers=headers)
                    except Exception as e:
                        # The app raised past its error handlers: the server answered 500
                        # (Starlette re-raises after answering; the client passes it on).
                        raise AssertionError(
                            f"500: {type(e).__name__}: {str(e)[:300]}\n"
                            f"{case.as_curl_command(headers=headers)}") from None
                    case.validate_response(response, checks=[not_a_server_error],
                                           headers=headers)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to send that breaks the schema (no parameters, no body).
                    assert mode == schemathesis.GenerationMode.NEGATIVE and not has_input
                except Exception as e:  # collect, to report every failing operation at once
                    failures.append(f"{operation.label} [{mode}]: {e}")
                ran.append(f"{operation.label} [{mode}]")
        elapsed = time.perf_counter() - started
        assert len(ran) == 2 * 31, ran  # every operation of the document, both modes
        assert not failures, "\n\n".join(failures)
        assert elapsed < 120, f"schemathesis took {elapsed:.0f} s"
        # The log is still writing and the chain is intact after all that.
        with svc.db.reader.connect() as conn:
            assert verify_chain(conn, "bank-a").ok
    finally:
        shutdown_lifespans()
