"""Human review: a case per decision, the automated outcome on hold while it is open, a
reviewer (another key) decides, and the human decision joins the hash-chained log.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson

from fengkong.explain import catalogue


def _declined(api: Any, key: Any) -> dict[str, Any]:
    r = api.decide(key, api.record(**{"applicant.age": 17}))
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["decision"] == "decline"
    return r.json()  # type: ignore[no-any-return]


def _open(api: Any, key: Any, decision_id: str, body: Any = None) -> Any:
    return api.client.post(f"/v1/decisions/{decision_id}/review", headers=key.headers,
                           json={} if body is None else body)


def _decide(api: Any, key: Any, case_id: str, body: dict[str, Any]) -> Any:
    return api.client.post(f"/v1/reviews/{case_id}/decision", headers=key.headers, json=body)


def test_opening_a_case_puts_the_decision_on_hold(api: Any) -> None:
    app = api.key("decide", name="loan-app")
    made = _declined(api, app)
    r = _open(api, app, made["id"], {"reason": "我换了新工作，收入更高了。", "lang": "zh"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["status"], case["decision_id"], case["lang"], case["opened_by"]) == (
        "pending", made["id"], "zh", app.id)
    assert case["reason"] == "我换了新工作，收入更高了。"
    # One case per decision: asking again returns it (200), whoever asks.
    again = _open(api, api.key("decide"), made["id"], {"reason": "again"})
    assert again.status_code == 200
    assert again.json() == case
    view = api.client.get(f"/v1/decisions/{made['id']}", headers=app.headers).json()
    assert view["review"] == {"status": "pending", "case_id": case["id"]}
    out = api.client.get(f"/v1/decisions/{made['id']}/explanation", params={"lang": "en"},
                         headers=app.headers).json()
    assert out["on_hold"] is True
    assert out["summary"] == catalogue().statement("under_review", "en")
    assert out["human_review"]["status"] == "pending"
    assert out["human_review"]["case_id"] == case["id"]
    reviewer = api.key("review")
    listed = api.client.get("/v1/reviews", params={"status": "pending"},
                            headers=reviewer.headers).json()
    assert [c["id"] for c in listed["items"]] == [case["id"]]
    assert api.client.get(f"/v1/reviews/{case['id']}", headers=api.key("audit").headers
                          ).json() == case
    # The customer's words are kept with the case, never in the log or the logs.
    assert "新工作" not in str(api.rows("decisions"))
    assert not any("新工作" in orjson.dumps(line).decode() for line in api.log_lines())


def test_a_reviewer_decides_and_the_log_records_it(api: Any) -> None:
    app = api.key("decide", "review", name="loan-app")  # may review, but not its own case
    made = _declined(api, app)
    case = _open(api, app, made["id"]).json()
    own = _decide(api, app, case["id"], {"decision": "approve", "limit": 3000})
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "four-eyes"
    reviewer = api.key("review", name="Chen Jing")
    r = _decide(api, reviewer, case["id"], {"decision": "approve", "limit": 3000, "apr": 0.18,
                                            "note": "Payslips for 3 months seen."})
    assert r.status_code == 200, r.text
    out = r.json()
    closed, logged = out["case"], out["decision"]
    assert (closed["status"], closed["outcome"], closed["decided_by"]) == (
        "decided", "approve", reviewer.id)
    assert closed["decided_by_name"] == "Chen Jing"
    assert closed["review_decision_id"] == logged["id"]
    assert logged["seq"] == made["seq"] + 1
    assert logged["decision"]["human_reviewed"] is True
    assert logged["decision"]["decision"] == "approve"
    assert logged["decision"]["limit"] == 3000
    full = api.client.get(f"/v1/decisions/{logged['id']}", headers=api.key("audit").headers)
    assert full.status_code == 200
    review = full.json()["human_review"]
    assert review["original_decision_id"] == made["id"]
    assert review["case_id"] == case["id"]
    assert review["reviewer"] == {"key_id": reviewer.id, "name": "Chen Jing"}
    assert "Payslips" not in full.text
    # The chain covers the new record.
    audit = api.client.get("/v1/audit/verify", headers=api.key("audit").headers).json()
    assert audit["ok"] is True and audit["records"] == 2
    # The original now shows the decided case; its explanation gives the final outcome.
    view = api.client.get(f"/v1/decisions/{made['id']}", headers=app.headers).json()
    assert view["review"]["status"] == "decided"
    assert view["review"]["decision_id"] == logged["id"]
    assert view["decision"]["decision"] == "decline"  # the automated record is unchanged
    ex = api.client.get(f"/v1/decisions/{made['id']}/explanation", params={"lang": "en"},
                        headers=app.headers).json()
    assert (ex["outcome"], ex["adverse"], ex["human_reviewed"], ex["on_hold"]) == (
        "approve", False, True, False)
    assert ex["summary"] == catalogue().statement("human_reviewed", "en")
    # Closed: no second decision, no second case.
    again = _decide(api, api.key("review"), case["id"], {"decision": "decline",
                                                         "reasons": ["LOW_INCOME"]})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "case-closed"
    assert _open(api, app, made["id"]).json()["id"] == case["id"]
    assert api.client.get("/v1/reviews", params={"status": "pending"},
                          headers=reviewer.headers).json()["items"] == []
    decided = api.client.get("/v1/reviews", params={"status": "decided"},
                             headers=reviewer.headers).json()["items"]
    assert [c["id"] for c in decided] == [case["id"]]
    # A reviewer's record is neither replayed nor reviewed again.
    replay = api.client.post(f"/v1/decisions/{logged['id']}/replay",
                             headers=api.key("audit").headers)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "human-reviewed"
    nested = _open(api, app, logged["id"])
    assert nested.status_code == 409
    assert nested.json()["error"]["code"] == "human-reviewed"


def test_an_adverse_review_needs_specific_catalogued_reasons(api: Any) -> None:
    app = api.key("decide")
    made = _declined(api, app)
    case = _open(api, app, made["id"]).json()
    reviewer = api.key("review")
    cases = [
        ({"decision": "decline"}, "$.reasons", "reasons-required"),
        ({"decision": "refer", "reasons": []}, "$.reasons", "reasons-required"),
        ({"decision": "decline", "reasons": ["LOW_INCOME", "NOT_A_CODE"]}, "$.reasons[1]",
         "reason-unknown"),
        ({"decision": "decline", "reasons": ["SCORE_TOO_LOW"]}, "$.reasons[0]",
         "reason-generic"),
        ({"decision": "decline", "reasons": ["LOW_INCOME", "LOW_INCOME"]}, "$.reasons[1]",
         "reason-duplicate"),
        ({"decision": "decline", "limit": 1000, "reasons": ["LOW_INCOME"]}, "$.limit",
         "not-for-decline"),
        ({"decision": "decline", "reasons": ["A", "B", "C", "D", "E"]}, "$.reasons",
         "invalid-too-long"),
        ({"decision": "decline", "reasons": ["low_income"]}, "$.reasons[0]",
         "invalid-string-pattern-mismatch"),
        ({"decision": "maybe"}, "$.decision", "invalid-literal-error"),
    ]
    for body, path, code in cases:
        r = _decide(api, reviewer, case["id"], body)
        assert r.status_code == 422, (body, r.text)
        problems = r.json()["error"]["problems"]
        assert {"path": path, "code": code} in [{"path": p["path"], "code": p["code"]}
                                                for p in problems], (body, problems)
    assert api.count("decisions") == 1  # nothing was written
    ok = _decide(api, reviewer, case["id"], {
        "decision": "decline", "reasons": ["HUMAN_REVIEW_INCOME_NOT_VERIFIED", "AGE_BELOW_MIN"]})
    assert ok.status_code == 200, ok.text
    ex = api.client.get(f"/v1/decisions/{made['id']}/explanation", params={"lang": "en"},
                        headers=app.headers).json()
    assert ex["outcome"] == "decline" and ex["adverse"] and ex["human_reviewed"]
    assert [r["code"] for r in ex["reasons"]] == ["HUMAN_REVIEW_INCOME_NOT_VERIFIED",
                                                  "AGE_BELOW_MIN"]
    assert ex["reasons"][0]["text"] == catalogue().codes["HUMAN_REVIEW_INCOME_NOT_VERIFIED"].en


def test_request_body_limits(api: Any) -> None:
    app = api.key("decide")
    made = _declined(api, app)
    long = _open(api, app, made["id"], {"reason": "x" * 2001})
    assert long.status_code == 422
    assert long.json()["error"]["problems"][0]["path"] == "$.reason"
    extra = _open(api, app, made["id"], {"reason": "ok", "subject": "me"})
    assert extra.status_code == 422
    assert api.count("review_cases") == 0
    assert _open(api, app, made["id"], {"reason": "x" * 2000}).status_code == 201


def test_cases_are_scoped_to_their_tenant(api: Any) -> None:
    app = api.key("decide")
    made = _declined(api, app)
    case = _open(api, app, made["id"]).json()
    api.deploy_b()
    b = api.key(tenant=api.tenant_b)
    assert api.client.get(f"/v1/reviews/{case['id']}", headers=b.headers).status_code == 404
    assert api.client.get("/v1/reviews", headers=b.headers).json() == {"items": [],
                                                                      "next": None}
    r = _decide(api, b, case["id"], {"decision": "approve"})
    assert r.status_code == 404
    assert _open(api, b, made["id"]).status_code == 404
    assert api.count("review_cases", api.tenant_b) == 0
    assert api.client.get(f"/v1/reviews/{case['id']}",
                          headers=api.key("audit").headers).json()["status"] == "pending"


def test_paging_the_case_list(api: Any) -> None:
    app = api.key("decide")
    ids = []
    for _ in range(3):
        made = _declined(api, app)
        ids.append(_open(api, app, made["id"]).json()["id"])
    reviewer = api.key("review")
    first = api.client.get("/v1/reviews", params={"limit": 2}, headers=reviewer.headers).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    rest = api.client.get("/v1/reviews", params={"limit": 2, "before": first["next"]},
                          headers=reviewer.headers).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]]
    assert rest["next"] is None
