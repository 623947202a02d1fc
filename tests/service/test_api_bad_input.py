"""Bad input gets a 4xx in the one error shape with the path of each problem; never a 5xx,
never a submitted personal data value back (in the answer or the logs), never a row in
the decision log. Every test runs on SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

URL = "/v1/decisions/consumer_loan"


def _check(api: Any, r: Any, status: int, code: str, paths: list[str] | None = None) -> None:
    """The answer: status, error code, problem paths (in order); nothing leaked or written."""
    assert r.status_code < 500, r.text
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "request_id"}
    assert body["request_id"] == r.headers["x-request-id"]
    err = body["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    if paths is not None:
        assert [p["path"] for p in err.get("problems", [])] == paths, err
    for p in err.get("problems", []):
        assert {"path", "code", "message"} <= p.keys()
    for value in (*api.pii, api.id_number.lower(), "0000" + api.id_number):
        assert value not in r.text, value
        assert value not in api.logs.getvalue(), value
    assert api.count("decisions") == 0


def test_malformed_json(api: Any) -> None:
    key = api.key("decide")
    pii = f'{{"applicant": {{"id_number": "{api.id_number}", "phone": "{api.phone}", ' \
          f'"name": "{api.name}"'.encode()
    for body in [pii, pii + b"}}}", b"", b"{'a': 1}", b'{"a": NaN}', b"[" * 5000,
                 b'{"applicant": {"age": 1e999}}', b"\xff\xfe{}", pii + b", }}"]:
        r = api.client.post(URL, content=body, headers={**key.headers,
                                                        "Content-Type": "application/json"})
        _check(api, r, 400, "json-invalid", ["$"])
        assert r.json()["error"]["problems"][0]["code"] == "json-invalid"


@pytest.mark.parametrize("route", [
    ("POST", "/v1/strategies/consumer_loan/rollback"),
    ("PUT", "/v1/strategies/consumer_loan/candidate"),
    ("POST", "/v1/strategies/consumer_loan/versions/1/approve"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/strategies"),
], ids=" ".join)
def test_malformed_json_on_other_routes(api: Any, route: tuple[str, str]) -> None:
    """A syntax error is at the root of the document: its path is `$`, not a made-up index."""
    key = api.key()
    before = api.rows("strategy_versions"), api.rows("deployments"), api.count("api_keys")
    body = f'{{"version": "{api.phone}", "name": "{api.name}",'.encode()
    r = api.client.request(*route, content=body,
                           headers={**key.headers, "Content-Type": "application/json"})
    _check(api, r, 400, "json-invalid", ["$"])
    assert (api.rows("strategy_versions"), api.rows("deployments"),
            api.count("api_keys")) == before


def test_body_that_is_not_an_object(api: Any) -> None:
    key = api.key("decide")
    for body in [[api.record()], api.id_number, None, 13912345678, 1.5, True, []]:
        r = api.client.post(URL, content=orjson.dumps(body), headers=key.headers)
        _check(api, r, 422, "input-invalid", ["$"])
        assert r.json()["error"]["problems"][0]["code"] == "not-object"


CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    # wrong types
    ("age as text", {"applicant.age": "36"}, ["$.applicant.age"], "input-type"),
    ("age as bool", {"applicant.age": True}, ["$.applicant.age"], "input-type"),
    ("age as float", {"applicant.age": 36.5}, ["$.applicant.age"], "input-type"),
    ("age out of range", {"applicant.age": 130}, ["$.applicant.age"], "input-range"),
    ("income as text", {"applicant.income_monthly": "18500"}, ["$.applicant.income_monthly"],
     "input-type"),
    ("bool as text", {"applicant.id_verified": "true"}, ["$.applicant.id_verified"],
     "input-type"),
    ("enum value", {"channel": "web"}, ["$.channel"], "input-enum"),
    ("bad date", {"applied_at": "2026-02-30"}, ["$.applied_at"], "input-date"),
    ("id number as int", {"applicant.id_number": 110105194912310020},
     ["$.applicant.id_number"], "input-type"),
    ("id number too long", {"applicant.id_number": "0000" + "11010519491231002X"},
     ["$.applicant.id_number"], "input-length"),
    ("phone as int", {"applicant.phone": 13912345678}, ["$.applicant.phone"], "input-type"),
    ("name as list", {"applicant.name": ["王小明"]}, ["$.applicant.name"], "input-type"),
    ("object as text", {"loan": "王小明"},
     ["$.loan", "$.loan.amount", "$.loan.term_months"], "input-type"),
    # missing fields
    ("age missing", {"applicant.age": ...}, ["$.applicant.age"], "input-missing"),
    ("age null", {"applicant.age": None}, ["$.applicant.age"], "input-missing"),
    ("id number missing", {"applicant.id_number": ...}, ["$.applicant.id_number"],
     "input-missing"),
    # unknown fields
    ("unknown nested", {"applicant.foo": "王小明"}, ["$.applicant.foo"], "unknown-field"),
    ("unknown top level", {"extra": "13912345678"}, ["$.extra"], "unknown-field"),
    ("unknown deep", {"bureau.detail": {"phone": "13912345678"}}, ["$.bureau.detail"],
     "unknown-field"),
]


@pytest.mark.parametrize(("change", "paths", "code"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_application_that_does_not_fit(api: Any, change: dict[str, Any], paths: list[str],
                                       code: str) -> None:
    key = api.key("decide")
    r = api.decide(key, api.record(**change), request_id="bad-1")
    _check(api, r, 422, "input-invalid", paths)
    assert r.json()["error"]["problems"][0]["code"] == code
    # The request id stays free: the corrected application is decided under it.
    ok = api.decide(key, request_id="bad-1")
    assert ok.status_code == 200, ok.text
    assert "idempotent-replayed" not in ok.headers


def test_several_problems_are_reported_together(api: Any) -> None:
    key = api.key("decide")
    rec = api.record(**{"applicant.age": "x", "applicant.foo": 1, "loan.amount": ...,
                        "applicant.phone": 13912345678})
    r = api.decide(key, rec)
    _check(api, r, 422, "input-invalid")
    paths = {p["path"] for p in r.json()["error"]["problems"]}
    assert paths == {"$.applicant.age", "$.applicant.foo", "$.loan.amount", "$.applicant.phone"}


def test_unknown_or_malformed_strategy(api: Any) -> None:
    key = api.key("decide")
    r = api.decide(key, strategy="no_such_strategy")
    _check(api, r, 404, "unknown-strategy")
    for bad in ["bad%20id", "x" * 65, "a%2Fb"]:
        r = api.client.post(f"/v1/decisions/{bad}", json=api.record(), headers=key.headers)
        assert r.status_code in (404, 422), r.text
        _check(api, r, r.status_code, r.json()["error"]["code"])


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_oversized_body(api: Any) -> None:
    key = api.key("decide")
    big = orjson.dumps(api.record(application_id="x" * (1 << 20)))
    assert len(big) > 1 << 20
    r = api.client.post(URL, content=big, headers={**key.headers,
                                                   "Content-Type": "application/json"})
    _check(api, r, 413, "body-too-large")
    # Without Content-Length (streamed, chunked): refused once the limit is passed.
    r = api.client.post(URL, content=_chunks(big), headers=key.headers)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    _check(api, r, 413, "body-too-large")
    # A Content-Length that is not a number.
    r = api.client.post(URL, content=b"{}", headers={**key.headers, "Content-Length": "12x"})
    _check(api, r, 400, "bad-request")
    # Just under the limit is read (and refused for its content, not its size).
    pad = (1 << 20) - len(orjson.dumps(api.record(application_id=""))) - 1
    r = api.decide(key, api.record(application_id="x" * pad))
    _check(api, r, 422, "input-invalid", ["$.application_id"])


@pytest.mark.parametrize("route", [
    ("POST", "/v1/strategies/consumer_loan/rollback"),
    ("PUT", "/v1/strategies/consumer_loan/candidate"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/strategies"),
], ids=" ".join)
def test_oversized_body_on_other_routes(api: Any, route: tuple[str, str]) -> None:
    key = api.key()
    big = orjson.dumps({"version": "1", "name": api.name, "pad": "x" * (1 << 20)})
    r = api.client.request(*route, content=big,
                           headers={**key.headers, "Content-Type": "application/json"})
    _check(api, r, 413, "body-too-large")
    r = api.client.request(*route, content=_chunks(big),
                           headers={**key.headers, "Content-Type": "application/json"})
    _check(api, r, 413, "body-too-large")


def test_bad_request_id(api: Any) -> None:
    key = api.key("decide")
    for rid in ["has space", "x" * 129, "slash/id", "semi;colon", "quote'"]:
        r = api.decide(key, request_id=rid)
        _check(api, r, 400, "invalid-request-id", ["header.X-Request-ID"])
    for rid in ["a", "x" * 128, "A-Z_a.z:0-9"]:
        ok = api.decide(key, request_id=rid)
        assert ok.status_code == 200, (rid, ok.text)
        assert ok.json()["request_id"] == rid
        assert ok.headers["x-request-id"] == rid
    assert api.count() == 3


QUERIES = [
    ({"limit": 0}, "query.limit"), ({"limit": 501}, "query.limit"),
    ({"limit": "ten"}, "query.limit"), ({"limit": ""}, "query.limit"),
    ({"from": "notadate"}, "query.from"), ({"to": "2026-13-45"}, "query.to"),
    ({"from": "13912345678x"}, "query.from"),
    ({"before": 0}, "query.before"), ({"before": -1}, "query.before"),
    ({"before": 2 ** 63}, "query.before"), ({"segment": "x" * 65}, "query.segment"),
    ({"strategy": "s" * 65}, "query.strategy"), ({"outcome": "o" * 17}, "query.outcome"),
]


def test_bad_query_parameters(api: Any) -> None:
    key = api.key("decide")
    assert api.decide(key).status_code == 200
    for params, path in QUERIES:
        r = api.client.get("/v1/decisions", params=params, headers=key.headers)
        assert r.status_code == 422, (params, r.text)
        assert path in [p["path"] for p in r.json()["error"]["problems"]], (params, r.text)
        assert r.json()["error"]["code"] == "invalid-request"
        assert "13912345678x" not in r.text


BODIES: list[tuple[str, str, Any, list[str]]] = [
    ("PUT", "/v1/strategies/consumer_loan/candidate",
     {"version": "2", "mode": "canary", "percent": 101, "note": "王小明"},
     ["$.mode", "$.percent", "$.note"]),
    ("PUT", "/v1/strategies/consumer_loan/candidate", {"percent": -1}, ["$.percent"]),
    ("PUT", "/v1/strategies/consumer_loan/candidate", {"version": ""}, ["$.version"]),
    ("POST", "/v1/strategies/consumer_loan/rollback", {}, ["$.version"]),
    ("POST", "/v1/strategies/consumer_loan/rollback", {"version": 13912345678}, ["$.version"]),
    ("POST", "/v1/strategies/consumer_loan/rollback", [], ["$"]),
    ("POST", "/v1/strategies/consumer_loan/versions/1/approve", {"activate": [1]},
     ["$.activate"]),
    ("POST", "/v1/keys", {"name": "王小明", "roles": ["root"]}, ["$.roles[0]"]),
    ("POST", "/v1/keys", {"name": "", "roles": []}, ["$.name", "$.roles"]),
    ("POST", "/v1/keys", {"name": "x" * 129, "roles": ["decide"], "tenant": "bank-b"},
     ["$.name", "$.tenant"]),
    ("POST", "/v1/strategies", {"files": {"../x.yaml": "a"}}, ["$.files['../x.yaml']"]),
    ("POST", "/v1/strategies", {"files": {}}, ["$.files"]),
    ("POST", "/v1/strategies", {"files": {"a.yaml": "a"}}, ["$.entry"]),
    ("POST", "/v1/strategies", {"files": {"strategy.yaml": 1}, "extra": 1},
     ["$.files['strategy.yaml']", "$.extra"]),
    ("POST", "/v1/strategies", {"entry": "strategy.yaml"}, ["$.files"]),
]


def test_bad_bodies_on_other_routes(api: Any) -> None:
    key = api.key()
    before = (api.rows("strategy_versions"), api.rows("deployments"), api.rows("api_keys"),
              api.rows("release_events"))
    for method, url, body, paths in BODIES:
        r = api.client.request(method, url, json=body, headers=key.headers)
        assert r.status_code == 422, (url, body, r.text)
        _check(api, r, 422, "invalid-request", paths)
    r = api.client.post("/v1/strategies", content=b"a: 1",
                        headers={**key.headers, "Content-Type": "text/plain"})
    _check(api, r, 415, "unsupported-media-type")
    r = api.client.post("/v1/strategies", content=b"\xff\xfe",
                        headers={**key.headers, "Content-Type": "application/yaml"})
    _check(api, r, 400, "bad-encoding")
    assert (api.rows("strategy_versions"), api.rows("deployments"), api.rows("api_keys"),
            api.rows("release_events")) == before


def test_error_messages_never_repeat_a_submitted_value(api: Any) -> None:
    """The documented rule: a message never carries a value the caller sent (it may be
    personal data), path and header values included."""
    key = api.key()
    assert api.decide(key, request_id=api.phone).status_code == 200
    answers = [
        api.decide(key, strategy=api.phone),
        api.client.get(f"/v1/strategies/{api.phone}/versions", headers=key.headers),
        api.client.get(f"/v1/strategies/consumer_loan/versions/{api.phone}",
                       headers=key.headers),
        api.client.post(f"/v1/strategies/consumer_loan/versions/{api.phone}/approve",
                        headers=key.headers),
        api.client.post("/v1/strategies/consumer_loan/rollback", json={"version": api.phone},
                        headers=key.headers),
        api.decide(key, api.record(channel="branch"), request_id=api.phone),
    ]
    for r in answers:
        assert 400 <= r.status_code < 500, r.text
        err = r.json()["error"]
        texts = [err["message"], *(p["message"] for p in err.get("problems", []))]
        assert not any(api.phone in t for t in texts), (r.request.url, err)


def test_nul_characters_are_not_a_server_error(api: Any) -> None:
    """A NUL character is valid JSON and valid in a query string, but PostgreSQL text
    cannot hold it: refuse it (4xx) or treat it as any other character, never a 5xx."""
    key = api.key()
    calls = [
        ("GET", "/v1/decisions", {"params": {"segment": "a\x00b"}}),
        ("GET", "/v1/decisions", {"params": {"outcome": "\x00"}}),
        ("GET", "/v1/decisions", {"params": {"strategy": "consumer_loan\x00"}}),
        ("POST", "/v1/strategies/consumer_loan/rollback", {"json": {"version": "1\x00"}}),
        ("PUT", "/v1/strategies/consumer_loan/candidate", {"json": {"version": "\x00"}}),
        ("POST", "/v1/keys", {"json": {"name": "a\x00b", "roles": ["decide"]}}),
    ]
    failed = []
    for method, url, kwargs in calls:
        r = api.client.request(method, url, headers=key.headers, **kwargs)
        if r.status_code >= 500:
            failed.append((method, url, kwargs, r.status_code))
        elif r.status_code >= 400:
            assert "error" in r.json()
    assert not failed
    # In an application a NUL is just a character of a string field: decided and logged.
    r = api.decide(key, api.record(application_id="A\x00B"))
    assert r.status_code == 200, r.text
    got = api.client.get(f"/v1/decisions/{r.json()['id']}", headers=key.headers).json()
    assert got["inputs"]["application_id"] == "A\x00B"


def test_internal_error_keeps_the_error_shape(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure answers 500 in the one shape, with the request id, and
    neither the answer nor the log carries the exception's text."""
    import fengkong.service._routes as routes

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"boom {api.phone}")

    monkeypatch.setattr(routes, "list_decisions", boom)
    key = api.key()
    r = api.client.get("/v1/decisions", headers={**key.headers, "X-Request-ID": "boom-1"})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal"
    assert api.phone not in r.text
    assert api.phone not in api.logs.getvalue()
    errors = [ln for ln in api.log_lines() if ln["level"] == "error"]
    assert [e["error"] for e in errors] == ["RuntimeError"]
    seen = {"log line": errors[0].get("request_id"), "body": r.json().get("request_id"),
            "header": r.headers.get("x-request-id")}
    assert seen == dict.fromkeys(seen, "boom-1")
    assert errors[0].get("tenant") == api.tenant_a
    # The request's own log line and the error counter see the 500 too.
    [line] = [ln for ln in api.log_lines() if ln.get("path") == "/v1/decisions"]
    assert line["status"] == 500
    assert 'fengkong_errors_total{status="500"} 1.0' in api.client.get("/metrics").text
