"""Data sources against a real provider on loopback: consent first, then calls that may be
slow, fail or answer nonsense; deadline, retries, circuit breaker, cache, connectors."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fengkong import compile_strategy, evaluate
from fengkong.compile import CompiledStrategy
from fengkong.sources import ConsentAnswer, ConsentQuery, SourceResults, SourceRuntime

ID = "110105199003071239"
TOKENS = {"applicant.id_number": ("pn1.00000001.current", "pn1.00000002.older")}

STRATEGY = """\
strategy: with_sources
version: 1
stage: origination
source_deadline_ms: {deadline}
inputs:
  applicant.id_number: {{type: str, pii: id_card}}
  applicant.age: {{type: int, min: 18, max: 100}}
sources:
  bureau:
    kind: credit_report
    purpose: origination
    consent: written
    subject: applicant.id_number
    data_class: C2
    fields:
      score: {{type: int, min: 300, max: 900}}
    connector: {{type: http, url: "{bureau_url}", request: {{id_number: applicant.id_number}}}}
    timeout_ms: {timeout}
    retries: {retries}
    retry_backoff_ms: 10
    cache_ttl_s: {ttl}
    circuit_breaker: {{failures: 2, reset_s: {reset}}}
    on_missing_consent: refer
    on_failure: {on_failure}
  telecom:
    kind: telecom
    purpose: origination
    consent: general
    subject: applicant.id_number
    data_class: C2
    fields:
      tenure_months: {{type: int, min: 0}}
    connector: {{type: http, url: "{telecom_url}", request: {{id_number: applicant.id_number}}}}
    timeout_ms: {timeout}
    on_missing_consent: continue
  games:
    kind: digital_assets
    purpose: origination
    consent: separate
    subject: applicant.id_number
    data_class: C2
    enabled: {games_enabled}
    fields:
      level: {{type: int, min: 0}}
    connector: {{type: http, url: "{games_url}", request: {{id_number: applicant.id_number}}}}
rules:
  - {{id: low_score, when: "bureau.score < 500", action: decline, reason: BUREAU_SCORE_LOW}}
  - {{id: short_tenure, when: "telecom.tenure_months < 6", action: refer, reason: TELECOM_TENURE_SHORT}}
  - {{id: gamer, when: "games.level > 90", action: flag, reason: GAME_LEVEL_HIGH}}
"""


def build(tmp_path: Path, provider: Any, **opts: Any) -> CompiledStrategy:
    values = {"deadline": 2000, "timeout": 1000, "retries": 0, "ttl": 0, "reset": 30,
              "on_failure": "refer", "games_enabled": "false",
              "bureau_url": provider.url("/bureau"), "telecom_url": provider.url("/telecom"),
              "games_url": provider.url("/games")} | opts
    path = tmp_path / "strategy.yaml"
    path.write_text(STRATEGY.format(**values), "utf-8")
    return compile_strategy(path)


class Registry:
    """Consents by source name; records every question asked."""

    def __init__(self, **answers: ConsentAnswer) -> None:
        self.answers = answers
        self.asked: list[ConsentQuery] = []

    async def __call__(self, queries: Sequence[ConsentQuery]) -> list[ConsentAnswer]:
        self.asked.extend(queries)
        return [self.answers.get(q.source, ConsentAnswer("missing")) for q in queries]


WRITTEN = ConsentAnswer("granted", "written", "c-1", "v1")
GENERAL = ConsentAnswer("granted", "general", "c-2", "v1")
SEPARATE = ConsentAnswer("granted", "separate", "c-3", "v1")


def fetch(strategy: CompiledStrategy, registry: Registry, runtime: SourceRuntime | None = None,
          tokens: dict[str, tuple[str, ...]] | None = None) -> SourceResults:
    runtime = runtime or SourceRuntime(strategy.plan)
    record = {"applicant": {"id_number": ID, "age": 30}}
    return run(runtime, record, TOKENS if tokens is None else tokens, registry)


def run(runtime: SourceRuntime, record: dict[str, Any], tokens: dict[str, tuple[str, ...]],
        registry: Registry) -> SourceResults:
    """One fetch in its own event loop; connections are closed after (state is kept)."""

    async def go() -> SourceResults:
        try:
            return await runtime.fetch(record, tokens, registry, tenant="bank-a")
        finally:
            await runtime.aclose()

    return asyncio.run(go())


def decide(strategy: CompiledStrategy, results: SourceResults) -> Any:
    return evaluate(strategy, {"applicant.id_number": "pn1.00000001.current",
                               "applicant.age": 30, **results.values})


def calls(results: SourceResults) -> dict[str, dict[str, Any]]:
    return {c["source"]: c for c in results.calls}


def serve_all(provider: Any, **delays: float) -> None:
    Behaviour = provider.Behaviour
    provider.set("/bureau", Behaviour({"score": 720}, delay=delays.get("bureau", 0)))
    provider.set("/telecom", Behaviour({"tenure_months": 48}, delay=delays.get("telecom", 0)))
    provider.set("/games", Behaviour({"level": 95}))


# -- consent before any call -------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "code"), [
    (ConsentAnswer("missing"), "CONSENT_MISSING"),
    (ConsentAnswer("expired", "written", "c-9", "v1"), "CONSENT_EXPIRED"),
    (ConsentAnswer("revoked", "written", "c-9", "v1"), "CONSENT_REVOKED"),
    (ConsentAnswer("purpose-mismatch"), "PURPOSE_MISMATCH"),
    (GENERAL, "WRITTEN_CONSENT_REQUIRED"),
    (SEPARATE, "WRITTEN_CONSENT_REQUIRED"),
])
def test_refused_consent_means_the_provider_is_never_called(
        tmp_path: Path, provider: Any, answer: ConsentAnswer, code: str) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider)
    results = fetch(strategy, Registry(bureau=answer, telecom=GENERAL))
    assert provider.count("/bureau") == 0
    assert provider.count("/telecom") == 1
    assert calls(results)["bureau"]["status"] == code
    assert calls(results)["bureau"]["called"] is False
    assert results.values["bureau.score"] is None
    d = decide(strategy, results)
    assert d.decision == "refer"
    assert d.reasons[0] == code
    assert f"source_bureau_{code.lower()}" in d.rule_hits


def test_granted_consents_are_recorded_and_the_data_is_used(tmp_path: Path, provider: Any) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider)
    registry = Registry(bureau=WRITTEN, telecom=GENERAL)
    results = fetch(strategy, registry)
    assert {(q.source, q.purpose, q.subjects) for q in registry.asked} == {
        ("bureau", "origination", TOKENS["applicant.id_number"]),
        ("telecom", "origination", TOKENS["applicant.id_number"])}
    by = {c["source"]: c for c in results.consents}
    assert by["bureau"] == {"source": "bureau", "purpose": "origination", "verdict": "granted",
                            "required": "written", "consent_type": "written",
                            "consent_id": "c-1", "version": "v1"}
    assert results.values["bureau.score"] == 720
    assert results.values["telecom.tenure_months"] == 48
    c = calls(results)
    assert c["bureau"]["status"] == "OK" and c["bureau"]["called"] and c["bureau"]["attempts"] == 1
    assert c["bureau"]["latency_ms"] > 0
    # The identifier reached the provider (what the consent authorises) and nothing else.
    assert ("/bureau", {"id_number": ID}) in provider.calls
    assert ID not in repr(results)
    assert decide(strategy, results).decision == "approve"


def test_continue_policy_decides_without_the_source_but_says_why(tmp_path: Path,
                                                                  provider: Any) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider)
    results = fetch(strategy, Registry(bureau=WRITTEN))
    assert provider.count("/telecom") == 0
    d = decide(strategy, results)
    assert d.decision == "approve"
    assert "CONSENT_MISSING" in d.reasons


def test_no_identifier_means_no_consent_and_no_call(tmp_path: Path, provider: Any) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider)
    registry = Registry(bureau=WRITTEN, telecom=GENERAL)
    results = fetch(strategy, registry, tokens={})
    assert registry.asked == []
    assert provider.calls == []
    assert calls(results)["bureau"]["status"] == "CONSENT_MISSING"


# -- alternative data ------------------------------------------------------------------------------
def test_alternative_data_is_off_until_enabled(tmp_path: Path, provider: Any) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider)
    registry = Registry(bureau=WRITTEN, telecom=GENERAL, games=SEPARATE)
    results = fetch(strategy, registry)
    assert "games" not in {q.source for q in registry.asked}
    assert provider.count("/games") == 0
    assert calls(results)["games"]["status"] == "FEATURE_NOT_ENABLED"
    assert results.values["games.level"] is None
    assert decide(strategy, results).decision == "approve"  # dropped, not refused


@pytest.mark.parametrize("answer", [GENERAL, ConsentAnswer("missing"),
                                    ConsentAnswer("revoked", "separate", "c", "v")])
def test_enabled_alternative_data_needs_its_own_separate_consent(
        tmp_path: Path, provider: Any, answer: ConsentAnswer) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider, games_enabled="true")
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL, games=answer))
    assert provider.count("/games") == 0
    assert calls(results)["games"]["status"] == "FEATURE_NOT_ENABLED"
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL, games=SEPARATE))
    assert provider.count("/games") == 1
    assert decide(strategy, results).reasons == ["GAME_LEVEL_HIGH"]


# -- slow, failing, nonsense ------------------------------------------------------------------------
def test_sources_are_fetched_concurrently(tmp_path: Path, provider: Any) -> None:
    serve_all(provider, bureau=0.4, telecom=0.4)
    strategy = build(tmp_path, provider)
    t0 = time.monotonic()
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL))
    elapsed = time.monotonic() - t0
    assert {c["status"] for c in results.calls if c["source"] != "games"} == {"OK"}
    assert elapsed < 0.75, elapsed  # one wait, not two in a row


def test_a_slow_provider_times_out_and_the_policy_applies(tmp_path: Path, provider: Any) -> None:
    serve_all(provider, bureau=1.5)
    strategy = build(tmp_path, provider, timeout=200)
    t0 = time.monotonic()
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL))
    assert time.monotonic() - t0 < 1.0
    assert calls(results)["bureau"]["status"] == "TIMEOUT"
    assert calls(results)["telecom"]["status"] == "OK"
    d = decide(strategy, results)
    assert d.decision == "refer" and d.reasons == ["SOURCE_UNAVAILABLE"]


def test_the_decision_deadline_bounds_every_source(tmp_path: Path, provider: Any) -> None:
    serve_all(provider, bureau=3.0, telecom=3.0)
    strategy = build(tmp_path, provider, deadline=300, timeout=5000, retries=3)
    t0 = time.monotonic()
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL))
    assert time.monotonic() - t0 < 1.0
    assert calls(results)["bureau"]["status"] == "TIMEOUT"
    assert calls(results)["telecom"]["status"] == "TIMEOUT"


def test_transient_failures_are_retried(tmp_path: Path, provider: Any) -> None:
    Behaviour = provider.Behaviour
    serve_all(provider)
    provider.set("/bureau", Behaviour({"score": 720}, fail_first=2))
    strategy = build(tmp_path, provider, retries=2)
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL))
    assert calls(results)["bureau"]["status"] == "OK"
    assert calls(results)["bureau"]["attempts"] == 3
    assert provider.count("/bureau") == 3


@pytest.mark.parametrize(("behaviour", "code"), [
    ({"body": b"<html>oops</html>"}, "INVALID_RESPONSE"),
    ({"body": b"[1, 2]"}, "INVALID_RESPONSE"),
    ({"body": {"score": "seven hundred"}}, "INVALID_RESPONSE"),
    ({"body": {"score": 7200}}, "INVALID_RESPONSE"),
    ({"body": {"score": True}}, "INVALID_RESPONSE"),
    ({"status": 500}, "ERROR"),
    ({"status": 403}, "ERROR"),
    ({"status": 404}, "NO_DATA"),
])
def test_failures_and_nonsense_deliver_nothing(tmp_path: Path, provider: Any,
                                               behaviour: dict[str, Any], code: str) -> None:
    Behaviour = provider.Behaviour
    serve_all(provider)
    provider.set("/bureau", Behaviour(**behaviour))
    strategy = build(tmp_path, provider)
    results = fetch(strategy, Registry(bureau=WRITTEN, telecom=GENERAL))
    assert calls(results)["bureau"]["status"] == code
    assert results.values["bureau.score"] is None
    d = decide(strategy, results)
    if code == "NO_DATA":
        assert d.decision == "approve"  # nothing on file is not a failure
    else:
        assert d.decision == "refer" and "SOURCE_UNAVAILABLE" in d.reasons


def test_the_circuit_breaker_stops_calls_then_tries_again(tmp_path: Path, provider: Any) -> None:
    Behaviour = provider.Behaviour
    serve_all(provider)
    provider.set("/bureau", Behaviour(status=500))
    strategy = build(tmp_path, provider, reset=0.3)
    runtime = SourceRuntime(strategy.plan)
    registry = Registry(bureau=WRITTEN, telecom=GENERAL)
    for _ in range(2):
        assert calls(fetch(strategy, registry, runtime))["bureau"]["status"] == "ERROR"
    assert provider.count("/bureau") == 2
    assert calls(fetch(strategy, registry, runtime))["bureau"]["status"] == "CIRCUIT_OPEN"
    assert provider.count("/bureau") == 2
    time.sleep(0.35)
    provider.set("/bureau", Behaviour({"score": 650}))
    assert calls(fetch(strategy, registry, runtime))["bureau"]["status"] == "OK"  # the trial
    assert calls(fetch(strategy, registry, runtime))["bureau"]["status"] == "OK"  # closed again
    assert provider.count("/bureau") == 4


def test_answers_are_cached_per_person_by_pseudonym(tmp_path: Path, provider: Any) -> None:
    serve_all(provider)
    strategy = build(tmp_path, provider, ttl=60)
    runtime = SourceRuntime(strategy.plan)
    registry = Registry(bureau=WRITTEN, telecom=GENERAL)
    first = fetch(strategy, registry, runtime)
    second = fetch(strategy, registry, runtime)
    assert provider.count("/bureau") == 1
    assert calls(second)["bureau"]["cached"] is True
    assert second.values["bureau.score"] == first.values["bureau.score"] == 720
    other = {"applicant.id_number": ("pn1.00000001.someone-else",)}
    fetch(strategy, registry, runtime, tokens=other)
    assert provider.count("/bureau") == 2
    # The cache never answers without consent.
    revoked = Registry(bureau=ConsentAnswer("revoked", "written", "c-1", "v1"), telecom=GENERAL)
    assert calls(fetch(strategy, revoked, runtime))["bureau"]["status"] == "CONSENT_REVOKED"
    assert all(ID not in repr(k) for k in runtime.cache._items)


# -- the other connectors ----------------------------------------------------------------------------
LOOKUP = """\
strategy: lookups
version: 1
stage: account_management
inputs:
  customer.id_number: {type: str, pii: id_card}
  customer.segment: {type: str}
sources:
  internal:
    kind: internal
    purpose: account_management
    consent: general
    subject: customer.id_number
    data_class: C2
    fields:
      credit_limit: {type: float, min: 0}
      dpd: {type: int, min: 0}
    connector: {type: sql, url: "SQLURL", query: "select credit_limit, max_dpd as dpd from book where segment = :seg", request: {seg: customer.segment}}
  watchlist:
    kind: fraud
    purpose: account_management
    consent: general
    subject: customer.id_number
    data_class: C2
    fields:
      hit: {type: bool}
    connector: {type: file, path: watchlist.csv, key_column: subject, key: customer.id_number}
    on_missing_consent: decline
rules:
  - {id: watch, when: "coalesce(watchlist.hit, false)", action: refer, reason: WATCHLIST_HIT}
  - {id: dpd, when: "internal.dpd > 30 and internal.credit_limit > 0", action: decline, reason: DPD_OVER_30}
"""


def test_sql_and_file_lookups(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table book (segment text, credit_limit real, max_dpd int)")
        conn.execute("insert into book values ('gold', 50000, 45)")
    # The watch list holds pseudonyms; an older key's pseudonym still matches.
    (tmp_path / "watchlist.csv").write_text("subject,hit\npn1.00000002.older,true\n", "utf-8")
    path = tmp_path / "strategy.yaml"
    path.write_text(LOOKUP.replace("SQLURL", f"sqlite:///{db}"), "utf-8")
    strategy = compile_strategy(path)
    runtime = SourceRuntime(strategy.plan)
    tokens = {"customer.id_number": TOKENS["applicant.id_number"]}
    registry = Registry(internal=GENERAL, watchlist=GENERAL)

    def lookup(segment: str) -> SourceResults:
        return run(runtime, {"customer": {"id_number": ID, "segment": segment}}, tokens, registry)

    got = lookup("gold")
    assert got.values["internal.credit_limit"] == 50000 and got.values["internal.dpd"] == 45
    assert got.values["watchlist.hit"] is True
    d = evaluate(strategy, {"customer.id_number": "x", "customer.segment": "gold", **got.values})
    assert d.decision == "decline" and d.reasons[:2] == ["DPD_OVER_30", "WATCHLIST_HIT"]
    none = lookup("silver")
    assert calls(none)["internal"]["status"] == "NO_DATA"
    other = run(runtime, {"customer": {"id_number": ID, "segment": "gold"}},
                {"customer.id_number": ("pn1.nobody",)}, registry)
    assert calls(other)["watchlist"]["status"] == "NO_DATA"
    refused = run(runtime, {"customer": {"id_number": ID, "segment": "gold"}}, tokens,
                  Registry(internal=GENERAL))
    d = evaluate(strategy, {"customer.id_number": "x", "customer.segment": "gold",
                            **refused.values})
    assert d.decision == "decline" and d.reasons[0] == "CONSENT_MISSING"


# -- the example in examples/sources --------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sources" / "strategy.yaml"


def test_the_example_runs_with_its_url_and_token_from_the_environment(
        provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    provider.set("/v1/report", provider.Behaviour({"report": {"score": 700, "monthly_debt": 900}}))
    strategy = compile_strategy(EXAMPLE)
    runtime = SourceRuntime(strategy.plan)
    record = {"applicant": {"id_number": ID, "age": 30, "income_monthly": 20000},
              "loan": {"amount": 30000}, "telecom": {"tenure_months": 3},
              "games": {"level": 900}}
    registry = Registry(bureau=WRITTEN, telecom=GENERAL, watchlist=GENERAL, games=SEPARATE)
    monkeypatch.delenv("BUREAU_URL", raising=False)
    unset = run(runtime, record, TOKENS, registry)
    assert calls(unset)["bureau"]["status"] == "ERROR"
    assert "BUREAU_URL" in calls(unset)["bureau"]["error"]
    monkeypatch.setenv("BUREAU_URL", provider.url(""))
    monkeypatch.setenv("BUREAU_TOKEN", "secret-token")
    got = run(runtime, record, TOKENS, registry)
    c = calls(got)
    assert [c[n]["status"] for n in ("bureau", "telecom", "watchlist", "games")] == \
        ["OK", "OK", "NO_DATA", "FEATURE_NOT_ENABLED"]
    assert got.values["games.level"] is None  # sent, but not enabled: dropped
    assert got.values["telecom.tenure_months"] == 3
    d = evaluate(strategy, {"applicant.id_number": "pn1.x", "applicant.age": 30,
                            "applicant.income_monthly": 20000, "loan.amount": 30000,
                            **got.values})
    assert (d.decision, d.reasons) == ("refer", ["PHONE_TENURE_SHORT"])
    assert d.limit == 120000
