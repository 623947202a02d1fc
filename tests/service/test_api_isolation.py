"""Tenants and keys: a tenant never sees or changes another's resources (404, never 403
or 200), every route needs a valid key (401) holding one of its roles (403).
Every test that uses ``api`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from fengkong.service import Settings, create_app
from fengkong.store._tables import metadata

TINY = """\
schema_version: 1
strategy: tiny_loan
version: 1
stage: origination
inputs:
  applicant.id_number: {type: str, pii: id_card}
  applicant.age: {type: int, min: 16, max: 100}
rules:
  - {id: age_min, when: "applicant.age < 18", action: decline, reason: AGE_BELOW_MIN}
outcome:
  limit: "1000"
  decision: "'decline' if declined else 'approve'"
"""


@dataclass(frozen=True)
class Route:
    """One API route: its template, a concrete path on tenant A's resources, a valid body."""

    method: str
    template: str
    roles: tuple[str, ...]
    path: str  # with {decision}, {key}, {consent}: filled in from tenant A's world
    body: str | None = None  # name of a body in the world

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


READ_RELEASES = ("author", "approve", "audit")
ROUTES = [
    Route("POST", "/v1/decisions/{strategy}", ("decide",), "/v1/decisions/consumer_loan",
          "record"),
    Route("GET", "/v1/decisions/{decision_id}", ("decide", "audit"), "/v1/decisions/{decision}"),
    Route("GET", "/v1/decisions", ("decide", "audit"), "/v1/decisions"),
    Route("POST", "/v1/decisions/{decision_id}/replay", ("audit",),
          "/v1/decisions/{decision}/replay"),
    Route("POST", "/v1/strategies", ("author",), "/v1/strategies", "pack"),
    Route("GET", "/v1/strategies", READ_RELEASES, "/v1/strategies"),
    Route("GET", "/v1/strategies/{strategy}/versions", READ_RELEASES,
          "/v1/strategies/consumer_loan/versions"),
    Route("GET", "/v1/strategies/{strategy}/versions/{version}", READ_RELEASES,
          "/v1/strategies/consumer_loan/versions/2"),
    Route("POST", "/v1/strategies/{strategy}/versions/{version}/approve", ("approve",),
          "/v1/strategies/consumer_loan/versions/2/approve", "approve"),
    Route("POST", "/v1/strategies/{strategy}/rollback", ("approve",),
          "/v1/strategies/consumer_loan/rollback", "rollback"),
    Route("PUT", "/v1/strategies/{strategy}/candidate", ("approve",),
          "/v1/strategies/consumer_loan/candidate", "candidate"),
    Route("GET", "/v1/audit/verify", ("audit",), "/v1/audit/verify"),
    Route("GET", "/v1/keys", ("admin",), "/v1/keys"),
    Route("POST", "/v1/keys", ("admin",), "/v1/keys", "new_key"),
    Route("DELETE", "/v1/keys/{key_id}", ("admin",), "/v1/keys/{key}"),
    Route("POST", "/v1/consents", ("consent",), "/v1/consents", "consent"),
    Route("GET", "/v1/consents", ("consent", "audit"), "/v1/consents"),
    Route("GET", "/v1/consents/status", ("consent", "audit"),
          "/v1/consents/status?subject_pseudonym={subject}&source=bureau&purpose=origination"),
    Route("POST", "/v1/consents/status", ("consent", "audit"), "/v1/consents/status",
          "consent_lookup"),
    Route("POST", "/v1/consents/search", ("consent", "audit"), "/v1/consents/search",
          "consent_lookup"),
    Route("POST", "/v1/consents/import", ("consent",), "/v1/consents/import", "consents_import"),
    Route("GET", "/v1/consents/{consent_id}", ("consent", "audit"), "/v1/consents/{consent}"),
    Route("POST", "/v1/consents/{consent_id}/revoke", ("consent",),
          "/v1/consents/{consent}/revoke", "revoke_consent"),
    Route("GET", "/v1/decisions/{decision_id}/explanation", ("decide", "audit", "review"),
          "/v1/decisions/{decision}/explanation"),
    Route("POST", "/v1/decisions/{decision_id}/review", ("decide",),
          "/v1/decisions/{decision}/review", "review_request"),
    Route("GET", "/v1/reviews", ("review", "audit"), "/v1/reviews?status=pending"),
    Route("GET", "/v1/reviews/{case_id}", ("review", "audit"), "/v1/reviews/{case}"),
    Route("POST", "/v1/reviews/{case_id}/decision", ("review",), "/v1/reviews/{case}/decision",
          "review_decision"),
]
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


def test_the_route_table_covers_every_route(tmp_path: Any) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"))
    served = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
              for method in ops}
    assert served - PUBLIC == {(r.method, r.template) for r in ROUTES}
    assert served >= PUBLIC


@dataclass
class World:
    """Tenant A's resources, and what each route is sent."""

    decision: str
    key: str
    bodies: dict[str, Any]
    admin: Any
    consent: str
    subject: str
    case: str = ""

    def path(self, route: Route) -> str:
        return route.path.format(decision=self.decision, key=self.key, consent=self.consent,
                                 subject=self.subject, case=self.case)

    def call(self, api: Any, route: Route, headers: dict[str, str] | None,
             path: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        body = None if route.body is None else self.bodies[route.body]
        if isinstance(body, bytes):  # JSON lines
            kwargs["content"] = body
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/x-ndjson"}
        elif body is not None:
            kwargs["json"] = body
        return api.client.request(route.method, path or self.path(route), **kwargs)


def _world(api: Any, pack: Any) -> World:
    """Tenant A: two decisions, a pending version 2, a second strategy only A has, keys."""
    admin = api.key(name="a-admin")
    author = api.key("author", name="a-author")
    for i in range(2):
        assert api.decide(admin, request_id=f"a-{i}").status_code == 200
    decision = api.client.get("/v1/decisions", headers=admin.headers).json()["items"][0]["id"]
    assert api.upload(author, pack("2", **{'"applicant.age < 18"': '"applicant.age < 40"'})
                      ).status_code == 201
    r = api.client.post("/v1/strategies", content=TINY.encode(),
                        headers={**author.headers, "Content-Type": "application/yaml"})
    assert r.status_code == 201
    assert api.client.post("/v1/strategies/tiny_loan/versions/1/approve",
                           headers=admin.headers).status_code == 200
    victim = api.key("decide", name="a-victim")
    consent = {"subject": {"kind": "id_card", "value": api.id_number}, "source": "bureau",
               "purpose": "origination", "consent_type": "written", "version": "v3",
               "evidence": {"hash": "sha256:" + "ab" * 32, "ref": "dms://a/1"}}
    made = api.client.post("/v1/consents", json=consent, headers=admin.headers)
    assert made.status_code == 201, made.text
    bodies = {"record": api.record(), "pack": {"files": pack("7")},
              "approve": {"activate": True}, "rollback": {"version": "2"},
              "candidate": {"version": "2", "mode": "split", "percent": 100},
              "new_key": {"name": "new", "roles": ["decide"]},
              "consent": {**consent, "purpose": "marketing"},
              "consents_import": orjson.dumps(consent) + b"\n",
              "consent_lookup": {"subject": consent["subject"], "source": "bureau",
                                 "purpose": "origination"},
              "revoke_consent": {},
              "review_request": {"reason": "Please look again.", "lang": "en"},
              "review_decision": {"decision": "decline", "reasons": ["LOW_INCOME"]}}
    # A human-review case on the second decision (opened by the lender's app).
    other = api.client.get("/v1/decisions", headers=admin.headers).json()["items"][1]["id"]
    opened = api.client.post(f"/v1/decisions/{other}/review", json={},
                             headers=api.key("decide", name="a-app").headers)
    assert opened.status_code == 201, opened.text
    return World(decision, victim.id, bodies, admin, made.json()["id"],
                 made.json()["subject_pseudonym"], opened.json()["id"])


def _snapshot(api: Any, tenant: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to ``tenant``, table by table."""
    out = {}
    with api.service.db.reader.connect() as conn:
        for name, table in metadata.tables.items():
            if "tenant_id" not in table.c:
                continue
            rows = conn.execute(select(table).where(table.c.tenant_id == tenant)).all()
            out[name] = sorted(tuple(map(str, r)) for r in rows)
    return out


def _no_route_changed_anything(before: dict[str, Any], after: dict[str, Any]) -> None:
    for table in before:
        assert after[table] == before[table], table


# -- 401 and 403, route by route ----------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_401_without_a_valid_key(api: Any, pack: Any, route: Route) -> None:
    world = _world(api, pack)
    revoked = api.key()
    assert api.client.get("/v1/decisions", headers=revoked.headers).status_code == 200
    gone = api.client.delete(f"/v1/keys/{revoked.id}", headers=world.admin.headers)
    assert gone.status_code == 200, gone.text
    good = world.admin.text
    fake = "fk_" + good[3:19] + "_" + "A" * 43  # a real key id with a wrong secret
    attempts: list[dict[str, str] | None] = [
        None,
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer fk_0123456789abcdef_" + "x" * 43},
        {"Authorization": f"Bearer {fake}"},
        {"Authorization": f"Bearer {good}x"},
        {"Authorization": f"Basic {good}"},
        {"Authorization": f"Token {good}"},
        {"X-API-Key": good},
        revoked.headers,
    ]
    before = _snapshot(api, api.tenant_a)
    for headers in attempts:
        r = world.call(api, route, headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer"
        assert good[20:] not in r.text
    _no_route_changed_anything(before, _snapshot(api, api.tenant_a))


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_403_with_a_wrong_role(api: Any, pack: Any, route: Route) -> None:
    world = _world(api, pack)
    wrong = [r for r in api.all_roles if r not in route.roles]
    callers = [api.key(*wrong, name="wrong-all")] + [api.key(r, name=f"wrong-{r}") for r in wrong]
    before = _snapshot(api, api.tenant_a)
    for caller in callers:
        r = world.call(api, route, caller.headers)
        assert r.status_code == 403, (sorted(caller.roles), r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "forbidden"
        for role in route.roles:
            assert role in err["message"]
    _no_route_changed_anything(before, _snapshot(api, api.tenant_a))
    # And the right role gets past the check (whatever the route then answers).
    right = api.key(route.roles[0], name="another-person")
    assert world.call(api, route, right.headers).status_code not in (401, 403)


# -- tenant isolation ---------------------------------------------------------------------------

def _b_calls(world: World) -> list[tuple[str, str, Any, set[int]]]:
    """What tenant B tries on tenant A's resources, and the statuses that keep A safe."""
    d, k, c = world.decision, world.key, world.consent
    return [
        ("GET", f"/v1/consents/{c}", None, {404}),
        ("POST", f"/v1/consents/{c}/revoke", None, {404}),
        ("POST", f"/v1/consents/{c}/revoke", {"revoked_at": None}, {404}),
        ("GET", f"/v1/decisions/{d}", None, {404}),
        ("POST", f"/v1/decisions/{d}/replay", None, {404}),
        ("POST", "/v1/decisions/tiny_loan", {"applicant": {"id_number": "x", "age": 30}}, {404}),
        ("GET", "/v1/strategies/consumer_loan/versions/2", None, {404}),
        ("GET", "/v1/strategies/tiny_loan/versions", None, {404}),
        ("GET", "/v1/strategies/tiny_loan/versions/1", None, {404}),
        ("POST", "/v1/strategies/consumer_loan/versions/2/approve", None, {404}),
        ("POST", "/v1/strategies/consumer_loan/versions/2/approve", {"activate": False}, {404}),
        ("POST", "/v1/strategies/tiny_loan/versions/1/approve", None, {404}),
        ("POST", "/v1/strategies/consumer_loan/rollback", {"version": "2"}, {404}),
        ("POST", "/v1/strategies/tiny_loan/rollback", {"version": "1"}, {404}),
        ("PUT", "/v1/strategies/consumer_loan/candidate",
         {"version": "2", "mode": "split", "percent": 100}, {404}),
        ("PUT", "/v1/strategies/tiny_loan/candidate", {"version": None}, {404}),
        ("DELETE", f"/v1/keys/{k}", None, {404}),
        ("GET", f"/v1/decisions/{d}/explanation", None, {404}),
        ("POST", f"/v1/decisions/{d}/review", None, {404}),
        ("POST", f"/v1/decisions/{d}/review", {"reason": "x"}, {404}),
        ("GET", f"/v1/reviews/{world.case}", None, {404}),
        ("POST", f"/v1/reviews/{world.case}/decision",
         {"decision": "approve", "limit": 1000, "reasons": []}, {404}),
    ]


def test_other_tenant_sees_and_changes_nothing(api: Any, pack: Any) -> None:
    world = _world(api, pack)
    api.deploy_b()
    b = api.key(tenant=api.tenant_b, name="a-admin")  # same name as A's admin: no matter
    mine = api.decide(b, request_id="a-0")  # a request id A used: B's own
    assert mine.status_code == 200, mine.text
    assert mine.json()["seq"] == 1
    a_view = {p: api.client.get(p, headers=world.admin.headers).json() for p in (
        f"/v1/decisions/{world.decision}", "/v1/decisions", "/v1/strategies",
        f"/v1/consents/{world.consent}", "/v1/consents",
        "/v1/strategies/consumer_loan/versions", "/v1/strategies/tiny_loan/versions",
        "/v1/keys", "/v1/audit/verify", "/v1/reviews", f"/v1/reviews/{world.case}",
        f"/v1/decisions/{world.decision}/explanation")}
    before = _snapshot(api, api.tenant_a)

    for method, path, body, ok in _b_calls(world):
        r = api.client.request(method, path, headers=b.headers,
                               **({} if body is None else {"json": body}))
        assert r.status_code in ok, (method, path, r.status_code, r.text)
        # A's resource answers exactly like one that does not exist: no oracle.
        missing = path.replace(world.decision, "00000000-0000-0000-0000-000000000000") \
            .replace(world.key, "0123456789abcdef").replace("tiny_loan", "no_such") \
            .replace(world.consent, "00000000-0000-7000-8000-000000000000") \
            .replace(world.case, "00000000-0000-7000-8000-00000000000a") \
            .replace("versions/2", "versions/99").replace('"2"', '"99"')
        r2 = api.client.request(method, missing, headers=b.headers,
                                **({} if body is None else {"json": _swap(body)}))
        assert r2.status_code == r.status_code, (method, path, missing)
        assert r2.json()["error"]["code"] == r.json()["error"]["code"]

    # Lists show B's own data only.
    listed = api.client.get("/v1/decisions", headers=b.headers).json()
    assert [i["id"] for i in listed["items"]] == [mine.json()["id"]]
    for params in ({"strategy": "consumer_loan"}, {"outcome": "approve"}, {"before": 99}):
        got = api.client.get("/v1/decisions", params=params, headers=b.headers).json()
        assert {i["id"] for i in got["items"]} <= {mine.json()["id"]}
    strategies = api.client.get("/v1/strategies", headers=b.headers).json()["items"]
    assert [(s["strategy"], s["deployment"]["active_version"]) for s in strategies] == \
        [("consumer_loan", "1")]
    versions = api.client.get("/v1/strategies/consumer_loan/versions",
                              headers=b.headers).json()["items"]
    assert [v["version"] for v in versions] == ["1"]
    assert api.client.get("/v1/strategies/consumer_loan/versions/1",
                          headers=b.headers).status_code == 200
    keys = api.client.get("/v1/keys", headers=b.headers).json()["items"]
    assert [k["id"] for k in keys] == [b.id]
    assert api.client.get("/v1/consents", headers=b.headers).json() == {"items": [],
                                                                        "next": None}
    for subject in (world.subject, None):  # A's pseudonym, or B's own of the same person
        params = {"subject_pseudonym": subject or api.service.pseudonyms.pseudonym(
            "id_card", api.id_number, scope=api.tenant_b), "source": "bureau",
            "purpose": "origination"}
        seen = api.client.get("/v1/consents/status", params=params, headers=b.headers).json()
        assert seen["verdict"] == "missing"
        got = api.client.get("/v1/consents", params={"subject_pseudonym": params[
            "subject_pseudonym"]}, headers=b.headers).json()
        assert got["items"] == []
    # By the identifier: B's pseudonyms of the person (every key), none of A's consents.
    lookup = {"subject": {"kind": "id_card", "value": api.id_number}, "source": "bureau",
              "purpose": "origination"}
    seen = api.client.post("/v1/consents/status", json=lookup, headers=b.headers).json()
    assert seen["verdict"] == "missing"
    got = api.client.post("/v1/consents/search", json={"subject": lookup["subject"]},
                          headers=b.headers).json()
    assert got == {"items": [], "next": None}
    report = api.client.get("/v1/audit/verify", headers=b.headers).json()
    assert report["ok"] is True
    assert report["records"] == 1
    assert report["head_seq"] == 1
    assert report["tenant_id"] == api.tenant_b
    # B's new key and upload land in B.
    made = api.client.post("/v1/keys", json={"name": "b2", "roles": ["decide"]},
                           headers=b.headers)
    assert made.status_code == 201
    up = api.upload(b, pack("2", **{'"applicant.age < 18"': '"applicant.age < 21"'}))
    assert up.status_code == 201, up.text  # A's version 2 is no concern of B's

    # Tenant A: not a row changed, and A sees what it saw.
    _no_route_changed_anything(before, _snapshot(api, api.tenant_a))
    for p, seen in a_view.items():
        assert api.client.get(p, headers=world.admin.headers).json() == seen, p
    victim = api.client.get("/v1/keys", headers=world.admin.headers).json()["items"]
    assert any(k["id"] == world.key and k["revoked_at"] is None for k in victim)
    a_decides = api.decide(world.admin)
    assert a_decides.json()["strategy"]["version"] == "1"
    assert a_decides.json()["seq"] == 3


def _swap(body: Any) -> Any:
    if isinstance(body, dict) and body.get("version") == "2":
        return {**body, "version": "99"}
    return body


def test_other_tenant_cannot_use_a_strategy_only_a_has(api: Any) -> None:
    """B has no deployment at all: deciding, listing and verifying show nothing of A's."""
    a = api.key()
    assert api.decide(a).status_code == 200
    b = api.key(tenant=api.tenant_b)
    r = api.decide(b)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown-strategy"
    assert api.client.get("/v1/strategies", headers=b.headers).json() == {"items": []}
    assert api.client.get("/v1/strategies/consumer_loan/versions",
                          headers=b.headers).status_code == 404
    assert api.client.get("/v1/decisions", headers=b.headers).json() == {"items": [],
                                                                        "next": None}
    report = api.client.get("/v1/audit/verify", headers=b.headers).json()
    assert (report["ok"], report["records"], report["head_seq"]) == (True, 0, 0)
    assert api.count("decisions", api.tenant_b) == 0


def test_operations_endpoints_need_no_key(api: Any) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["database"] in ("sqlite", "postgresql")
    assert api.client.get("/metrics").status_code == 200
    doc = api.client.get("/openapi.json").json()
    assert "/v1/decisions/{strategy}" in doc["paths"]
    # The document says how to authenticate, and every /v1 operation asks for it.
    assert any(s.get("scheme") == "bearer"
               for s in doc["components"]["securitySchemes"].values())
    for path, ops in doc["paths"].items():
        if path.startswith("/v1/"):
            for op in ops.values():
                assert op.get("security"), (path, op.get("summary"))
