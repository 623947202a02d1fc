"""Decisions that read data sources, through the API: the consent registry is asked before
any call (refused → the provider gets zero calls), revocation holds for the very next
decision, every consent and call is in the decision record, replay needs no provider.
SQLite and PostgreSQL; the provider is a real HTTP server on loopback."""

from __future__ import annotations

from typing import Any

import orjson

EVIDENCE = {"hash": "sha256:" + "ab" * 32, "ref": "dms://forms/2026/7"}

STRATEGY = """\
strategy: bureau_loan
version: 1
stage: origination
inputs:
  applicant.id_number: {type: str, pii: id_card}
  applicant.age: {type: int, min: 18, max: 100}
sources:
  bureau:
    kind: credit_report
    purpose: origination
    consent: written
    subject: applicant.id_number
    data_class: C2
    fields:
      score: {type: int, min: 300, max: 900}
    connector: {type: http, url: "BUREAU_URL", request: {id_number: applicant.id_number}}
    timeout_ms: 500
    on_missing_consent: refer
    on_failure: refer
  telecom:
    kind: telecom
    purpose: origination
    consent: general
    subject: applicant.id_number
    data_class: C2
    fields:
      tenure_months: {type: int, min: 0}
    connector: {type: http, url: "TELECOM_URL", request: {id_number: applicant.id_number}}
    on_missing_consent: continue
rules:
  - {id: low_score, when: "bureau.score < 500", action: decline, reason: BUREAU_SCORE_LOW}
  - {id: short_tenure, when: "telecom.tenure_months < 6", action: refer, reason: TELECOM_TENURE_SHORT}
"""


def deploy(api: Any, provider: Any) -> None:
    text = STRATEGY.replace("BUREAU_URL", provider.url("/bureau")).replace(
        "TELECOM_URL", provider.url("/telecom"))
    author, approver = api.key("author"), api.key("approve")
    up = api.client.post("/v1/strategies", content=text.encode(),
                         headers={**author.headers, "Content-Type": "application/yaml"})
    assert up.status_code == 201, up.text
    ok = api.client.post("/v1/strategies/bureau_loan/versions/1/approve", headers=approver.headers)
    assert ok.status_code == 200, ok.text


def grant(api: Any, source: str, consent_type: str) -> dict[str, Any]:
    r = api.client.post("/v1/consents", json={
        "subject": {"kind": "id_card", "value": api.id_number}, "source": source,
        "purpose": "origination", "consent_type": consent_type, "version": "v1",
        "evidence": EVIDENCE}, headers=api.key("consent").headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def application(api: Any) -> dict[str, Any]:
    return {"applicant": {"id_number": api.id_number, "age": 30}}


def test_consent_gates_every_call_and_the_record_says_so(api: Any, provider: Any) -> None:
    B = provider.Behaviour
    provider.set("/bureau", B({"score": 720}))
    provider.set("/telecom", B({"tenure_months": 3}))
    deploy(api, provider)
    caller = api.key("decide")

    # No consent at all: neither provider is called.
    r = api.decide(caller, application(api), strategy="bureau_loan")
    assert r.status_code == 200, r.text
    assert provider.calls == []
    body = r.json()
    assert body["decision"]["decision"] == "refer"
    assert body["decision"]["reasons"][0] == "CONSENT_MISSING"
    assert {c["source"]: c["status"] for c in body["sources"]} == {
        "bureau": "CONSENT_MISSING", "telecom": "CONSENT_MISSING"}

    # A general consent does not cover a credit report.
    general = grant(api, "bureau", "general")
    telecom = grant(api, "telecom", "general")
    r = api.decide(caller, application(api), strategy="bureau_loan")
    assert provider.count("/bureau") == 0 and provider.count("/telecom") == 1
    assert r.json()["decision"]["reasons"][0] == "WRITTEN_CONSENT_REQUIRED"
    assert api.client.post(f"/v1/consents/{general['id']}/revoke",
                           headers=api.key("consent").headers).status_code == 200

    # Written consent: the bureau is called; the data decides.
    written = grant(api, "bureau", "written")
    r = api.decide(caller, application(api), strategy="bureau_loan", request_id="with-consent")
    assert provider.count("/bureau") == 1
    body = r.json()
    assert body["decision"]["decision"] == "refer"
    assert body["decision"]["reasons"] == ["TELECOM_TENURE_SHORT"]
    relied = {c["source"]: c for c in body["consents"]}
    assert relied["bureau"]["consent_id"] == written["id"]
    assert relied["bureau"]["verdict"] == "granted"
    assert relied["telecom"]["consent_id"] == telecom["id"]
    calls = {c["source"]: c for c in body["sources"]}
    assert calls["bureau"]["status"] == "OK" and calls["bureau"]["latency_ms"] > 0

    # Stored: the fetched values with the inputs, the calls and consents with the decision.
    auditor = api.key("audit")
    stored = api.client.get(f"/v1/decisions/{body['id']}", headers=auditor.headers).json()
    assert stored["inputs"]["bureau.score"] == 720
    assert stored["inputs"]["sources.bureau.status"] == "OK"
    assert stored["consents"] == body["consents"] and stored["sources"] == body["sources"]
    # Replay uses what was fetched: no new call.
    replay = api.client.post(f"/v1/decisions/{body['id']}/replay", headers=auditor.headers)
    assert replay.status_code == 200, replay.text
    assert replay.json()["identical"] is True
    assert provider.count("/bureau") == 1

    # A retry is answered from the log: the providers are not asked again.
    again = api.decide(caller, application(api), strategy="bureau_loan", request_id="with-consent")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == body["id"] and provider.count("/bureau") == 1
    other = application(api) | {"applicant": {"id_number": api.id_number, "age": 31}}
    reused = api.decide(caller, other, strategy="bureau_loan", request_id="with-consent")
    assert reused.status_code == 409 and provider.count("/bureau") == 1

    # Revocation holds for the very next decision.
    gone = api.client.post(f"/v1/consents/{written['id']}/revoke",
                           headers=api.key("consent").headers)
    assert gone.status_code == 200, gone.text
    r = api.decide(caller, application(api), strategy="bureau_loan")
    assert provider.count("/bureau") == 1
    assert r.json()["decision"]["reasons"][0] == "CONSENT_REVOKED"

    # Nothing the provider saw reached the log or the store in clear.
    text = orjson.dumps([api.rows("decisions"), api.log_lines()]).decode()
    assert api.id_number not in text
    metrics = api.client.get("/metrics").text
    assert 'fengkong_source_calls_total{source="bureau",status="CONSENT_REVOKED"' in metrics


def test_a_slow_or_broken_provider_refers_per_policy(api: Any, provider: Any) -> None:
    B = provider.Behaviour
    provider.set("/bureau", B({"score": 720}, delay=2.0))
    provider.set("/telecom", B(b"not json"))
    deploy(api, provider)
    grant(api, "bureau", "written")
    grant(api, "telecom", "general")
    r = api.decide(api.key("decide"), application(api), strategy="bureau_loan")
    assert r.status_code == 200, r.text
    calls = {c["source"]: c for c in r.json()["sources"]}
    assert calls["bureau"]["status"] == "TIMEOUT"
    assert calls["telecom"]["status"] == "INVALID_RESPONSE"
    assert r.json()["decision"]["decision"] == "refer"
    assert "SOURCE_UNAVAILABLE" in r.json()["decision"]["reasons"]


def test_data_a_source_delivers_cannot_be_sent_by_the_caller(api: Any, provider: Any) -> None:
    deploy(api, provider)
    rec = application(api) | {"bureau": {"score": 900}}
    r = api.decide(api.key("decide"), rec, strategy="bureau_loan")
    assert r.status_code == 422, r.text
    assert [p["path"] for p in r.json()["error"]["problems"]] == ["$.bureau"]
    rec = application(api) | {"sources.bureau.status": "OK"}
    r = api.decide(api.key("decide"), rec, strategy="bureau_loan")
    assert r.status_code == 422
    assert provider.calls == []
