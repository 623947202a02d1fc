"""Declared data sources at compile time: consent, purpose and data-class checks with
file:line:col, source fields as optional inputs, policies as rules; online == batch."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.errors import StrategyFileError

BASE = """\
strategy: s
version: 1
stage: {stage}
inputs:
  applicant.id_number: {{type: str, pii: id_card}}
  applicant.age: {{type: int, min: 18, max: 100}}
sources:
  src:
    kind: {kind}
    purpose: {purpose}
    consent: {consent}
    sensitive: {sensitive}
    subject: {subject}
    data_class: {data_class}
    fields:
      score: {{type: int, min: 300, max: 900}}
      unused: {{type: str}}
    connector: {connector}
    on_missing_consent: {policy}
rules:
  - {{id: low, when: "src.score < 500", action: decline, reason: SCORE_LOW}}
"""
OK = {"stage": "origination", "kind": "credit_report", "purpose": "origination",
      "consent": "written", "sensitive": "false", "subject": "applicant.id_number",
      "data_class": "C2", "connector": '{type: http, url: "https://bureau.example/v1"}',
      "policy": "refer"}


def write(tmp_path: Path, **over: str) -> Path:
    path = tmp_path / "strategy.yaml"
    path.write_text(BASE.format(**(OK | over)), "utf-8")
    return path


def errors(tmp_path: Path, **over: str) -> dict[str, tuple[int | None, int | None, str]]:
    with pytest.raises(StrategyFileError) as e:
        compile_strategy(write(tmp_path, **over))
    return {d.code: (d.line, d.column, d.message) for d in e.value.diagnostics
            if d.severity == "error"}


@pytest.mark.parametrize(("over", "code", "line"), [
    ({"purpose": "marketing"}, "source-purpose", 10),
    ({"purpose": "collections"}, "source-purpose", 10),
    ({"consent": "general"}, "source-consent", 11),
    ({"kind": "income_asset", "consent": "separate"}, "source-consent", 11),
    ({"kind": "telecom", "consent": "general", "sensitive": "true"}, "source-consent", 11),
    ({"kind": "social", "consent": "general"}, "source-consent", 11),
    ({"data_class": "C3"}, "c3-data", 14),
    ({"subject": "applicant.age"}, "source-subject", 13),
    ({"subject": "applicant.id_numbr"}, "source-subject", 13),
    ({"connector": '{type: http, url: "ftp://x"}'}, "source-url", 18),
    ({"connector": "{type: http, url: \"https://x\", request: {id: applicant.idnumber}}"},
     "unknown-field", 18),
    ({"connector": "{type: file, path: missing.csv, key_column: k, key: applicant.id_number}"},
     "source-file", 18),
])
def test_refused_sources_are_located(tmp_path: Path, over: dict[str, str], code: str,
                                     line: int) -> None:
    found = errors(tmp_path, **over)
    assert code in found, found
    assert found[code][0] == line


def test_purpose_message_names_the_stage(tmp_path: Path) -> None:
    message = errors(tmp_path, purpose="marketing")["source-purpose"][2]
    assert "`marketing`" in message and "`origination`" in message
    assert "applicant.id_numbr" not in message
    assert "Did you mean `applicant.id_number`" in errors(
        tmp_path, subject="applicant.id_numbr")["source-subject"][2]


def test_acquisition_may_rely_on_marketing_consent(tmp_path: Path) -> None:
    compiled = compile_strategy(write(tmp_path, stage="acquisition", purpose="marketing"))
    assert compiled.plan.sources[0].purpose == "marketing"


def test_an_input_may_not_pose_as_a_source(tmp_path: Path) -> None:
    text = BASE.format(**OK).replace("  applicant.age:", "  src.extra: {type: int}\n  applicant.age:")
    path = tmp_path / "strategy.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(StrategyFileError) as e:
        compile_strategy(path)
    assert "name-collision" in {d.code for d in e.value.diagnostics}


def test_fields_read_nothing_warns_and_policies_become_rules(tmp_path: Path) -> None:
    compiled = compile_strategy(write(tmp_path))
    warnings = {(d.code, d.path) for d in compiled.warnings}
    assert ("source-field-unused", "sources.src.fields.unused") in warnings
    plan = compiled.plan
    fields = {f.name: f for f in plan.fields}
    assert not fields["src.score"].required and fields["src.score"].source == "src"
    assert fields["sources.src.status"].values is not None
    assert "CONSENT_REVOKED" in fields["sources.src.status"].values
    rules = {r.id: (r.action, r.reason) for r in plan.rules}
    assert rules["source_src_consent_missing"] == ("refer", "CONSENT_MISSING")
    assert rules["source_src_written_consent_required"] == ("refer", "WRITTEN_CONSENT_REQUIRED")
    assert "source_src_separate_consent_required" not in rules  # cannot happen for `written`
    assert rules["source_src_unavailable"] == ("flag", "SOURCE_UNAVAILABLE")
    assert [r.id for r in plan.rules][-1] == "low"  # the strategy's own rules come after


def test_decline_policy_and_online_equals_batch(tmp_path: Path) -> None:
    compiled = compile_strategy(write(tmp_path, policy="decline"))
    rows = [
        {"applicant.id_number": "t1", "applicant.age": 30, "src.score": 450,
         "sources.src.status": "OK"},
        {"applicant.id_number": "t2", "applicant.age": 30, "src.score": None,
         "sources.src.status": "CONSENT_EXPIRED"},
        {"applicant.id_number": "t3", "applicant.age": 30, "src.score": None,
         "sources.src.status": "TIMEOUT"},
        {"applicant.id_number": "t4", "applicant.age": 30, "src.score": None,
         "sources.src.status": None},
    ]
    online = [evaluate(compiled, r) for r in rows]
    assert [(d.decision, d.reasons) for d in online] == [
        ("decline", ["SCORE_LOW"]), ("decline", ["CONSENT_EXPIRED"]),
        ("approve", ["SOURCE_UNAVAILABLE"]), ("approve", [])]
    frame = pl.DataFrame(rows, schema={"applicant.id_number": pl.String,
                                       "applicant.age": pl.Int64, "src.score": pl.Int64,
                                       "sources.src.status": pl.String})
    batch = evaluate_batch(compiled, frame)
    assert batch["decision"].to_list() == [d.decision for d in online]
    assert batch["reasons"].to_list() == [d.reasons for d in online]


def test_a_status_outside_the_list_is_refused(tmp_path: Path) -> None:
    from fengkong.errors import InputValidationError

    compiled = compile_strategy(write(tmp_path))
    with pytest.raises(InputValidationError) as e:
        evaluate(compiled, {"applicant.id_number": "t", "applicant.age": 30,
                            "sources.src.status": "FINE"})
    assert [p.field for p in e.value.problems] == ["sources.src.status"]
