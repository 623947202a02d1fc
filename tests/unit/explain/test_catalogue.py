"""The reason-code catalogue and the compiler's checks of reason texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengkong import compile_strategy
from fengkong.demo import example_strategy_path
from fengkong.errors import Diagnostic, StrategyFileError
from fengkong.explain import catalogue, customer_reasons, pick_language
from fengkong.strategy import load_strategy

CONSENT_CODES = ("CONSENT_MISSING", "CONSENT_EXPIRED", "CONSENT_REVOKED", "PURPOSE_MISMATCH",
                 "SEPARATE_CONSENT_REQUIRED", "WRITTEN_CONSENT_REQUIRED",
                 "FEATURE_NOT_ENABLED", "SOURCE_UNAVAILABLE")

BASE = """\
strategy: s
version: 1
stage: origination
inputs:
  age: {{type: int, min: 16, max: 100}}
  income: {{type: float, min: 0, max: 1000000}}
scorecards:
  card:
    characteristics:
      - {{name: inc, expr: income, reason: {char_code}, missing: 0, bins: [{{when: "< 5000", points: 0}}, {{when: ">= 5000", points: 30}}]}}
use: {{score: card}}
rules:
  - {{id: young, when: "age < 18", action: decline, reason: {rule_code}}}
  - {{id: low, when: "score < 10", action: decline, reason: SCORE_TOO_LOW}}
{extra}"""


def write(tmp_path: Path, rule_code: str = "AGE_BELOW_MIN", char_code: str = "LOW_INCOME",
          extra: str = "") -> Path:
    path = tmp_path / "strategy.yaml"
    path.write_text(BASE.format(rule_code=rule_code, char_code=char_code, extra=extra),
                    encoding="utf-8")
    return path


def diagnostics(path: Path) -> list[Diagnostic]:
    try:
        return list(compile_strategy(path).warnings)
    except StrategyFileError as exc:
        return list(exc.diagnostics)


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


# -- the catalogue ---------------------------------------------------------------------------

def test_every_code_has_chinese_and_english_text() -> None:
    cat = catalogue()
    assert len(cat.codes) > 60
    for code, entry in cat.codes.items():
        assert entry.zh and entry.en, code
        assert entry.zh != entry.en, code
    for name in ("review_right", "under_review", "human_reviewed", "not_adverse", "no_text"):
        assert cat.statement(name, "zh") and cat.statement(name, "en")


def test_consent_and_source_codes_are_specific_and_covered() -> None:
    cat = catalogue()
    for code in CONSENT_CODES:
        assert cat.has_text(code) and not cat.is_generic(code), code
    for code in ("SCORE_TOO_LOW", "LOW_SCORE", "OTHER", "POLICY_DECLINE", "SCORE_BORDERLINE"):
        assert cat.is_generic(code), code
    assert any(c.startswith("HUMAN_REVIEW_") for c in cat.codes)


def test_every_code_the_example_and_engine_emit_has_a_text() -> None:
    spec = load_strategy(example_strategy_path()).spec
    codes = {r.reason for r in spec.rules} | {r.reason for s in spec.segments for r in s.rules}
    for card in spec.scorecards.values():
        codes |= {c.reason for c in card.characteristics}  # type: ignore[union-attr]
    codes |= {spec.outcome.decline_reason, "POLICY_DECLINE"}  # the engine's default
    missing = sorted(c for c in codes if not catalogue().has_text(c))
    assert missing == []
    assert not [w for w in compile_strategy(example_strategy_path()).warnings
                if w.code.startswith("reason-")]


def test_texts_prefer_the_strategy_then_the_catalogue_then_the_other_language() -> None:
    cat = catalogue()
    own = {"AGE_BELOW_MIN": {"en": "Too young for us."}, "X_ONLY_ZH": {"zh": "中文"}}
    assert cat.text("AGE_BELOW_MIN", "en", own) == "Too young for us."
    assert cat.text("AGE_BELOW_MIN", "zh", own) == cat.codes["AGE_BELOW_MIN"].zh
    assert cat.text("X_ONLY_ZH", "en", own) == "中文"
    assert cat.text("NOBODY_KNOWS", "en") == cat.statement("no_text", "en")


def test_customer_reasons_drop_generic_codes_while_a_specific_one_remains() -> None:
    assert customer_reasons(["SCORE_TOO_LOW", "LOW_INCOME", "AGE", "EDUCATION", "SHORT_EMPLOYMENT",
                             "OTHER"]) == ["LOW_INCOME", "AGE", "EDUCATION", "SHORT_EMPLOYMENT"]
    assert customer_reasons(["SCORE_TOO_LOW"]) == ["SCORE_TOO_LOW"]
    assert customer_reasons(["AGE", "AGE"]) == ["AGE"]


@pytest.mark.parametrize(("query", "header", "lang"), [
    (None, None, "zh"), ("en", None, "en"), ("zh", "en-GB", "zh"), (None, "en-US,en;q=0.9", "en"),
    (None, "fr-FR, zh-CN;q=0.8, en;q=0.5", "zh"), (None, "fr", "zh"), (None, "en;q=x", "zh"),
    (None, "zh;q=0.2, en;q=0.7", "en")])
def test_language_from_the_query_then_accept_language_then_chinese(
        query: str | None, header: str | None, lang: str) -> None:
    assert pick_language(query, header) == lang


# -- the compiler's checks -------------------------------------------------------------------

def test_a_clean_strategy_has_no_reason_diagnostics(tmp_path: Path) -> None:
    assert diagnostics(write(tmp_path)) == []


def test_a_code_without_text_is_a_located_warning(tmp_path: Path) -> None:
    path = write(tmp_path, rule_code="MYSTERY_CODE")
    [d] = diagnostics(path)
    assert (d.code, d.severity) == ("reason-text-missing", "warning")
    assert d.line == line_of(path, "MYSTERY_CODE") and d.column is not None
    assert d.path == "rules[0].reason"
    assert "MYSTERY_CODE" in d.message


def test_a_characteristic_code_without_text_is_reported_in_the_scorecard(tmp_path: Path) -> None:
    path = write(tmp_path, char_code="WEIRD_FACTOR")
    [d] = diagnostics(path)
    assert d.code == "reason-text-missing"
    assert d.path == "scorecards.card.characteristics[0].reason"
    assert d.line == line_of(path, "WEIRD_FACTOR")


def test_the_strategy_can_supply_the_text(tmp_path: Path) -> None:
    extra = 'reasons:\n  MYSTERY_CODE: {en: "Explained.", zh: "已说明。"}\n'
    compiled = compile_strategy(write(tmp_path, rule_code="MYSTERY_CODE", extra=extra))
    assert compiled.warnings == ()
    assert compiled.spec.reasons["MYSTERY_CODE"]["en"] == "Explained."


def test_a_generic_code_on_a_rule_that_reads_no_score_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, rule_code="OTHER")
    [d] = diagnostics(path)
    assert (d.code, d.severity) == ("reason-generic", "error")
    assert d.line == line_of(path, "reason: OTHER")
    # The cut-off rule reads the score: its SCORE_TOO_LOW ranks after the score's factors.
    assert "rules[1]" not in {x.path for x in diagnostics(path)}


def test_a_generic_characteristic_or_written_decline_reason_is_a_warning(tmp_path: Path) -> None:
    found = diagnostics(write(tmp_path, char_code="LOW_SCORE",
                              extra="outcome: {decline_reason: OTHER, decision: \"'approve'\"}\n"))
    assert sorted((d.code, d.path) for d in found) == [
        ("reason-generic-factor", "outcome.decline_reason"),
        ("reason-generic-factor", "scorecards.card.characteristics[0].reason")]
    assert all(d.severity == "warning" for d in found)


def test_reasons_key_leaves_the_digest_of_strategies_without_it(tmp_path: Path) -> None:
    plain = compile_strategy(write(tmp_path)).digest
    with_texts = compile_strategy(write(
        tmp_path, extra='reasons:\n  AGE_BELOW_MIN: {en: "x", zh: "y"}\n')).digest
    assert plain != with_texts
    again = compile_strategy(write(tmp_path)).digest
    assert plain == again
