"""``GET /v1/decisions/{id}/explanation``: outcome, ranked specific reasons in the customer's
language, the right to human review, never the inputs. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fengkong.explain import catalogue

LOW_SCORE = {"bureau.score": 350, "bureau.credit_utilisation": 1.1, "bureau.inquiries_3m": 7,
             "bureau.inquiries_6m": 8, "bureau.delinquencies_12m": 2, "bureau.max_dpd_24m": 60,
             "bureau.open_loans": 9, "applicant.employment_months": 6,
             "applicant.residence_months": 6, "multi_lending.platforms_30d": 3,
             "device.loan_apps_count": 20}


def _decide(api: Any, key: Any, **changes: Any) -> dict[str, Any]:
    r = api.decide(key, api.record(**changes))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _explain(api: Any, key: Any, decision_id: str, **kw: Any) -> Any:
    return api.client.get(f"/v1/decisions/{decision_id}/explanation",
                          headers={**key.headers, **kw.pop("headers", {})}, params=kw)


def test_a_policy_decline_is_explained_in_chinese_by_default(api: Any) -> None:
    key = api.key("decide")
    made = _decide(api, key, **{"applicant.age": 17})
    assert made["decision"]["decision"] == "decline"
    r = _explain(api, key, made["id"])
    assert r.status_code == 200, r.text
    assert r.headers["content-language"] == "zh"
    out = r.json()
    assert (out["outcome"], out["adverse"], out["on_hold"], out["human_reviewed"]) == (
        "decline", True, False, False)
    assert out["lang"] == "zh"
    first = out["reasons"][0]
    assert first == {"rank": 1, "code": "AGE_BELOW_MIN",
                     "text": catalogue().codes["AGE_BELOW_MIN"].zh}
    assert 1 <= len(out["reasons"]) <= 4
    assert out["human_review"] == {"right": catalogue().statement("review_right", "zh"),
                                   "how": f"POST /v1/decisions/{made['id']}/review",
                                   "status": None, "case_id": None}
    assert out["strategy"] == {"id": "consumer_loan", "version": "1"}
    assert out["decided_at"].startswith(made["decided_at"][:19])
    assert out["decision_id"] == made["id"]


def test_language_from_the_query_or_accept_language(api: Any) -> None:
    key = api.key("decide")
    made = _decide(api, key, **{"applicant.age": 17})
    en = _explain(api, key, made["id"], lang="en").json()
    assert en["lang"] == "en"
    assert en["reasons"][0]["text"] == catalogue().codes["AGE_BELOW_MIN"].en
    by_header = _explain(api, key, made["id"], headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert by_header.headers["content-language"] == "en"
    assert by_header.json()["reasons"] == en["reasons"]
    forced = _explain(api, key, made["id"], lang="zh", headers={"Accept-Language": "en"})
    assert forced.json()["lang"] == "zh"
    bad = _explain(api, key, made["id"], lang="fr")
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["path"] == "query.lang"


def test_a_score_decline_gives_the_factors_not_the_generic_score_code(api: Any) -> None:
    key = api.key("decide", "audit")
    made = _decide(api, key, **LOW_SCORE)
    decision = made["decision"]
    assert decision["rule_hits"] == ["score_min"]
    out = _explain(api, key, made["id"], lang="en").json()
    codes = [r["code"] for r in out["reasons"]]
    assert 1 <= len(codes) <= 4
    assert not any(catalogue().is_generic(c) for c in codes)
    # The characteristic losing most points below its maximum comes first.
    assert codes[0] == decision["reasons"][0] == "LOW_BUREAU_SCORE"
    assert [r["rank"] for r in out["reasons"]] == list(range(1, len(codes) + 1))


def test_an_approval_says_so_without_reasons(api: Any) -> None:
    key = api.key("decide")
    made = _decide(api, key)
    assert made["decision"]["decision"] == "approve"
    out = _explain(api, key, made["id"], lang="en").json()
    assert (out["outcome"], out["adverse"], out["reasons"]) == ("approve", False, [])
    assert out["summary"] == catalogue().statement("not_adverse", "en")
    assert out["human_review"]["right"]


def test_no_input_or_personal_data_is_echoed(api: Any) -> None:
    key = api.key("decide", "audit", "review")
    made = _decide(api, key, **{"applicant.age": 17})
    for lang in ("zh", "en"):
        r = _explain(api, key, made["id"], lang=lang)
        assert "inputs" not in r.json()
        for value in (*api.pii, "pn1.", "18500", "applicant.", "id_number"):
            assert value not in r.text, value


def test_unknown_and_other_tenant_decisions_are_404(api: Any) -> None:
    a = api.key("decide")
    made = _decide(api, a, **{"applicant.age": 17})
    api.deploy_b()
    b = api.key("decide", "audit", "review", tenant=api.tenant_b)
    for did in (made["id"], "00000000-0000-7000-8000-000000000000"):
        r = _explain(api, b, did)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not-found"


def test_a_strategy_can_supply_its_own_texts(api: Any, pack: Any) -> None:
    author, approver = api.key("author"), api.key("approve")
    files = pack("2")
    files["strategy.yaml"] += ("\nreasons:\n  AGE_BELOW_MIN: {en: \"You must be 18 or over.\", "
                               "zh: \"申请人须年满18周岁。\"}\n  SCORE_TOO_LOW: {en: \"x\", zh: \"y\"}\n")
    up = api.upload(author, files)
    assert up.status_code == 201, up.text
    assert not [w for w in up.json()["warnings"] if w["code"].startswith("reason-")]
    ok = api.client.post("/v1/strategies/consumer_loan/versions/2/approve",
                         headers=approver.headers)
    assert ok.status_code == 200, ok.text
    key = api.key("decide")
    made = _decide(api, key, **{"applicant.age": 17})
    assert made["strategy"]["version"] == "2"
    out = _explain(api, key, made["id"], lang="en").json()
    assert out["reasons"][0] == {"rank": 1, "code": "AGE_BELOW_MIN",
                                 "text": "You must be 18 or over."}
    zh = _explain(api, key, made["id"]).json()
    assert zh["reasons"][0]["text"] == "申请人须年满18周岁。"


def test_a_code_without_text_is_a_warning_on_upload_and_never_shown_bare(api: Any,
                                                                        pack: Any) -> None:
    author, approver = api.key("author"), api.key("approve")
    up = api.upload(author, pack("3", **{"reason: AGE_BELOW_MIN": "reason: UNDERAGE_X"}))
    assert up.status_code == 201, up.text
    [w] = [w for w in up.json()["warnings"] if w["code"] == "reason-text-missing"]
    assert "UNDERAGE_X" in w["message"] and w["line"] and w["column"]
    assert api.client.post("/v1/strategies/consumer_loan/versions/3/approve",
                           headers=approver.headers).status_code == 200
    key = api.key("decide")
    made = _decide(api, key, **{"applicant.age": 17})
    first = _explain(api, key, made["id"], lang="en").json()["reasons"][0]
    assert first == {"rank": 1, "code": "UNDERAGE_X",
                     "text": catalogue().statement("no_text", "en")}
