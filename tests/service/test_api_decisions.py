"""Deciding through the API: decide, fetch, replay, verify; idempotency; listing; pseudonyms;
metrics; logs. Every test runs on SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_decide_fetch_replay_verify(api: Any) -> None:
    key = api.key("decide", "audit")
    r = api.decide(key, request_id="app-0001")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["request_id"] == "app-0001"
    assert r.headers["x-request-id"] == "app-0001"
    assert "idempotent-replayed" not in r.headers
    assert answer["seq"] == 1
    assert answer["strategy"]["id"] == "consumer_loan"
    assert answer["strategy"]["version"] == "1"
    assert answer["strategy"]["digest"].startswith("sha256:")
    assert answer["decision"]["decision"] in ("approve", "refer", "decline")
    assert answer["decision"]["segment"] == "salaried_app"
    assert len(answer["hash"]) == 64
    assert answer["latency_us"] >= 0

    got = api.client.get(f"/v1/decisions/{answer['id']}", headers=key.headers)
    assert got.status_code == 200, got.text
    full = got.json()
    for k in ("id", "request_id", "seq", "decided_at", "strategy", "decision", "hash"):
        assert full[k] == answer[k], k
    assert full["prev_hash"] == "0" * 64
    assert full["inputs"]["applicant"]["age"] == 36
    assert "shadow" not in full

    rep = api.client.post(f"/v1/decisions/{answer['id']}/replay", headers=key.headers)
    assert rep.status_code == 200, rep.text
    body = rep.json()
    assert body["identical"] is True
    assert body["differences"] == []
    assert body["decision"] == answer["decision"]
    assert body["strategy"] == answer["strategy"]

    second = api.decide(key, api.record(**{"applicant.age": 17}))
    assert second.status_code == 200, second.text
    assert second.json()["seq"] == 2
    assert api.client.get(f"/v1/decisions/{second.json()['id']}",
                          headers=key.headers).json()["prev_hash"] == answer["hash"]

    v = api.client.get("/v1/audit/verify", headers=key.headers)
    assert v.status_code == 200, v.text
    report = v.json()
    assert report["ok"] is True
    assert report["records"] == 2
    assert report["head_seq"] == 2
    assert report["problem"] is None
    assert report["head_hash"] == second.json()["hash"]


def test_idempotent_retry_returns_the_same_decision_once(api: Any) -> None:
    key = api.key("decide")
    first = api.decide(key, request_id="retry-1")
    assert first.status_code == 200, first.text
    again = api.decide(key, request_id="retry-1")
    assert again.status_code == 200, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    for k in ("id", "seq", "hash", "decided_at", "strategy", "decision"):
        assert again.json()[k] == first.json()[k], k
    assert api.count() == 1
    # Reordered keys are the same application: still a retry.
    rec = api.record()
    reordered = dict(reversed(list(rec.items())))
    third = api.decide(key, reordered, request_id="retry-1")
    assert third.status_code == 200, third.text
    assert third.json()["id"] == first.json()["id"]
    assert third.headers.get("idempotent-replayed") == "true"
    assert api.count() == 1


def test_reused_request_id_with_other_body_is_refused(api: Any) -> None:
    key = api.key("decide")
    first = api.decide(key, request_id="dup-1")
    assert first.status_code == 200, first.text
    before = api.rows()
    other = api.decide(key, api.record(**{"loan.amount": 60000.0}), request_id="dup-1")
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "request-id-reused"
    assert "idempotent-replayed" not in other.headers
    assert api.rows() == before
    # The chain head did not move either: the next decision is seq 2.
    nxt = api.decide(key, request_id="dup-2")
    assert nxt.json()["seq"] == 2


def test_request_ids_are_per_tenant(api: Any) -> None:
    api.deploy_b()
    a, b = api.key("decide"), api.key("decide", tenant=api.tenant_b)
    ra = api.decide(a, request_id="shared-id")
    rb = api.decide(b, api.record(**{"loan.amount": 60000.0}), request_id="shared-id")
    assert ra.status_code == rb.status_code == 200
    assert ra.json()["id"] != rb.json()["id"]
    assert "idempotent-replayed" not in rb.headers
    assert rb.json()["seq"] == 1


def _make_mix(api: Any, key: Any) -> list[dict[str, Any]]:
    """Six decisions over three segments and two outcomes, oldest first."""
    recs = [
        api.record(),                                          # salaried_app, approve
        api.record(**{"applicant.age": 17}),                   # salaried_app, decline
        api.record(channel="branch"),                          # branch, approve
        api.record(**{"blacklist.hit": True}),                 # salaried_app, decline
        api.record(channel="branch", **{"applicant.age": 70}),  # branch, decline
        api.record(**{"bureau.score": ...}),                   # thin_file
    ]
    out = []
    for i, rec in enumerate(recs):
        r = api.decide(key, rec, request_id=f"mix-{i}")
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json()["items"]]


def test_list_filters(api: Any) -> None:
    key = api.key("decide")
    made = _make_mix(api, key)
    segs = [(m["decision"]["segment"], m["decision"]["decision"]) for m in made]
    assert segs[:5] == [("salaried_app", "approve"), ("salaried_app", "decline"),
                        ("branch", "approve"), ("salaried_app", "decline"),
                        ("branch", "decline")]
    assert segs[5][0] == "thin_file"
    newest_first = [m["id"] for m in reversed(made)]
    get = api.client.get

    every = get("/v1/decisions", headers=key.headers)
    assert _ids(every) == newest_first
    assert every.json()["next"] is None
    item = every.json()["items"][-1]
    assert item["segment"] == "salaried_app"
    assert item["outcome"] == "approve"
    assert "inputs" not in item

    def where(**params: Any) -> list[str]:
        return _ids(get("/v1/decisions", params=params, headers=key.headers))

    assert where(strategy="consumer_loan") == newest_first
    assert where(strategy="other_strategy") == []
    assert where(segment="branch") == [made[4]["id"], made[2]["id"]]
    assert where(outcome="decline") == [m["id"] for m in reversed(made)
                                        if m["decision"]["decision"] == "decline"]
    assert where(segment="salaried_app", outcome="decline") == [made[3]["id"], made[1]["id"]]
    assert where(segment="nonexistent") == []

    # from is inclusive, to exclusive; times as the API wrote them (UTC, Z).
    t2 = made[2]["decided_at"]
    assert where(**{"from": t2}) == [m["id"] for m in reversed(made[2:])]
    assert where(to=t2) == [made[1]["id"], made[0]["id"]]
    assert where(**{"from": made[1]["decided_at"], "to": made[4]["decided_at"]}) == \
        [made[3]["id"], made[2]["id"], made[1]["id"]]
    assert where(**{"from": "2999-01-01T00:00:00Z"}) == []


def test_list_time_filters_honour_utc_offsets(api: Any) -> None:
    """The same instant written with +08:00 selects what it selects written in UTC."""
    key = api.key("decide")
    made = _make_mix(api, key)
    t2 = dt.datetime.fromisoformat(made[2]["decided_at"].replace("Z", "+00:00"))
    beijing = t2.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    naive_utc = t2.replace(tzinfo=None).isoformat()
    get = api.client.get
    in_utc = _ids(get("/v1/decisions", params={"from": made[2]["decided_at"]},
                      headers=key.headers))
    assert in_utc == [m["id"] for m in reversed(made[2:])]
    assert _ids(get("/v1/decisions", params={"from": naive_utc}, headers=key.headers)) == in_utc
    assert _ids(get("/v1/decisions", params={"from": beijing}, headers=key.headers)) == in_utc
    assert _ids(get("/v1/decisions", params={"to": beijing}, headers=key.headers)) == \
        [made[1]["id"], made[0]["id"]]


def test_list_pages_with_next_and_before(api: Any) -> None:
    key = api.key("audit", "decide")
    made = _make_mix(api, key)
    newest_first = [m["id"] for m in reversed(made)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 4}
    pages = 0
    while True:
        resp = api.client.get("/v1/decisions", params=params, headers=key.headers)
        seen += _ids(resp)
        pages += 1
        nxt = resp.json()["next"]
        if nxt is None:
            break
        assert isinstance(nxt, int)
        params = {"limit": 4, "before": nxt}
    assert seen == newest_first
    assert pages == 2
    # Exactly a page's worth: `next` points past the end and the next page is empty.
    first = api.client.get("/v1/decisions", params={"limit": 3}, headers=key.headers).json()
    assert first["next"] == made[3]["seq"]
    second = api.client.get("/v1/decisions", params={"limit": 3, "before": first["next"]},
                            headers=key.headers).json()
    assert [i["id"] for i in second["items"]] == newest_first[3:]
    assert second["next"] == made[0]["seq"]
    third = api.client.get("/v1/decisions", params={"limit": 3, "before": second["next"]},
                           headers=key.headers).json()
    assert third == {"items": [], "next": None}
    # Filters and paging combine.
    dec = api.client.get("/v1/decisions", params={"outcome": "decline", "limit": 1},
                         headers=key.headers).json()
    assert len(dec["items"]) == 1
    rest = api.client.get("/v1/decisions", params={"outcome": "decline", "limit": 10,
                                                    "before": dec["next"]},
                          headers=key.headers).json()
    assert all(i["outcome"] == "decline" for i in dec["items"] + rest["items"])
    assert len(dec["items"] + rest["items"]) == sum(
        m["decision"]["decision"] == "decline" for m in made)


def test_stored_inputs_hold_pseudonyms(api: Any) -> None:
    api.deploy_b()
    a1, a2 = api.key("decide", "audit"), api.key("decide", "audit")
    b = api.key("decide", "audit", tenant=api.tenant_b)
    r1 = api.decide(a1)
    # The same person written differently (lower-case x, +86 and dashes): one pseudonym.
    same_person = api.record(**{"applicant.id_number": api.id_number.lower(),
                                "applicant.phone": "+86 139-1234-5678",
                                "loan.amount": 30000.0})
    r2 = api.decide(a2, same_person)
    r3 = api.decide(b)
    assert r1.status_code == r2.status_code == r3.status_code == 200

    def inputs(key: Any, resp: Any) -> dict[str, Any]:
        got = api.client.get(f"/v1/decisions/{resp.json()['id']}", headers=key.headers)
        assert got.status_code == 200, got.text
        assert not any(v in got.text for v in api.pii)
        return got.json()["inputs"]["applicant"]  # type: ignore[no-any-return]

    i1, i2, i3 = inputs(a1, r1), inputs(a2, r2), inputs(b, r3)
    for f in ("id_number", "phone", "name"):
        assert i1[f].startswith("pn1."), f
        assert len(i1[f].split(".")) == 3
        assert len(i1[f].split(".")[2]) == 27
        assert i1[f] == i2[f], f"{f}: one person, one pseudonym within a tenant"
        assert i1[f] != i3[f], f"{f}: tenants must not share pseudonyms"
    assert len({i1["id_number"], i1["phone"], i1["name"]}) == 3
    assert i1["age"] == 36  # other fields are kept as they are

    # Nothing in the database holds the raw values, in any column.
    for table in ("decisions", "chain_heads"):
        dump = orjson.dumps(api.rows(table), default=str).decode()
        for v in (*api.pii, api.id_number.lower(), "139-1234-5678"):
            assert v not in dump, (table, v)
    # The replay works on the pseudonyms and agrees.
    rep = api.client.post(f"/v1/decisions/{r1.json()['id']}/replay", headers=a1.headers)
    assert rep.json()["identical"] is True


def test_metrics_after_decisions(api: Any) -> None:
    key = api.key("decide")
    made = _make_mix(api, key)
    api.decide(key, request_id="mix-0")  # a retry: not a new decision
    api.client.post("/v1/decisions/consumer_loan", content=b"{", headers=key.headers)
    m = api.client.get("/metrics")
    assert m.status_code == 200
    assert m.headers["content-type"].startswith("text/plain")
    samples = _samples(m.text)
    counted: dict[tuple[str, str, str], float] = {}
    for labels, value in samples["fengkong_decisions_total"]:
        assert labels["version"] == "1"
        counted[(labels["strategy"], labels["segment"], labels["outcome"])] = value
    expected: dict[tuple[str, str, str], float] = {}
    for d in made:
        k = ("consumer_loan", d["decision"]["segment"], d["decision"]["decision"])
        expected[k] = expected.get(k, 0) + 1
    assert counted == expected
    count = {lb["strategy"]: v for lb, v in samples["fengkong_decision_seconds_count"]}
    assert count["consumer_loan"] >= len(made)
    buckets = [(float(lb["le"]), v) for lb, v in samples["fengkong_decision_seconds_bucket"]
               if lb["strategy"] == "consumer_loan"]
    assert buckets[-1][0] == float("inf")
    assert buckets[-1][1] == count["consumer_loan"]
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    total = {lb["strategy"]: v for lb, v in samples["fengkong_decision_seconds_sum"]}
    assert total["consumer_loan"] > 0
    errors = {lb["status"]: v for lb, v in samples["fengkong_errors_total"]}
    assert errors.get("400") == 1
    assert dict(samples["fengkong_log_records"][0][0]) == {}
    assert samples["fengkong_log_records"][0][1] == len(made)


def test_logs_carry_request_id_and_tenant_never_personal_data(api: Any) -> None:
    key = api.key("decide", "audit")
    ok = api.decide(key, request_id="log-ok-1")
    assert ok.status_code == 200
    bad_age = api.record(**{"applicant.age": "thirty", "applicant.foo": api.name})
    assert api.decide(key, bad_age, request_id="log-bad-1").status_code == 422
    too_long = api.record(**{"applicant.id_number": api.id_number + "0000",
                             "applicant.phone": 13912345678})
    assert api.decide(key, too_long, request_id="log-bad-2").status_code == 422
    assert api.client.post("/v1/decisions/consumer_loan", content=b'{"applicant": {"name": "'
                           + api.name.encode() + b'"', headers=key.headers).status_code == 400
    assert api.decide(key, request_id="log-ok-1").status_code == 200  # retry
    assert api.decide(key, api.record(channel="branch"),
                      request_id="log-ok-1").status_code == 409
    assert api.client.get("/v1/decisions").status_code == 401
    assert api.client.get(f"/v1/decisions/{ok.json()['id']}",
                          headers=key.headers).status_code == 200

    text = api.logs.getvalue()
    for v in (*api.pii, api.id_number + "0000", "thirty"):
        assert v not in text, v
    lines = api.log_lines()
    requests = [ln for ln in lines if ln["logger"] == "fengkong.service.http"]
    assert len(requests) == 8
    for ln in requests:
        assert ln["msg"] == "request"
        assert ln["request_id"], ln
        assert {"method", "path", "status", "ms"} <= ln.keys()
    by_id = {}
    for ln in requests:
        by_id.setdefault(ln["request_id"], []).append(ln)
    assert [ln["status"] for ln in by_id["log-ok-1"]] == [200, 200, 409]
    assert [ln["status"] for ln in by_id["log-bad-1"]] == [422]
    for ln in requests:
        if ln["status"] == 401:
            assert "tenant" not in ln
            assert len(ln["request_id"]) == 32  # one was made up for the request
        else:
            assert ln["tenant"] == api.tenant_a, ln
