"""Prohibited attributes and C3 data are refused as inputs, declared or revealed by their names."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from fengkong import compile_strategy
from fengkong.compile._protected import C3, PROHIBITED, category_from_name, refusal
from fengkong.demo import example_strategy_path
from fengkong.errors import Diagnostic, StrategyFileError
from fengkong.strategy import load_strategy
from fengkong.strategy._spec import AttributeCategory

HEAD = """\
strategy: s
version: 1
stage: origination
{market}inputs:
  age: {{type: int, min: 16, max: 100}}
{inputs}rules:
  - {{id: too_young, when: "age < 18", action: decline, reason: TOO_YOUNG}}
"""


def text(inputs: str, market: str | None = None) -> str:
    return HEAD.format(market=f"market: {market}\n" if market else "", inputs=inputs)


def diagnostics(tmp_path: Path, source: str) -> list[Diagnostic]:
    path = tmp_path / "strategy.yaml"
    path.write_text(source, encoding="utf-8")
    try:
        compile_strategy(path)
    except StrategyFileError as exc:
        return list(exc.diagnostics)
    return []


def codes(tmp_path: Path, inputs: str, market: str | None = None) -> list[str]:
    return sorted(d.code for d in diagnostics(tmp_path, text(inputs, market)))


# -- the name detector -----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "category"), [
    ("religion", "religion"), ("applicant.faith", "religion"), ("applicant.zongjiao", "religion"),
    ("applicant.ethnicity", "ethnicity"), ("applicant.ethnic_group", "ethnicity"),
    ("applicant.minzu", "ethnicity"), ("kyc.nation", "ethnicity"), ("applicant.race", "race"),
    ("lab.dna_marker", "genetic"), ("lab.gene_panel", "genetic"), ("lab.genetic_risk", "genetic"),
    ("kyc.fingerprint", "fingerprint"), ("kyc.zhiwen", "fingerprint"),
    ("kyc.face_template", "biometric"), ("kyc.iris_code", "biometric"),
    ("kyc.voiceprint", "biometric"), ("applicant.blood_type", "blood_type"),
    ("applicant.xuexing", "blood_type"), ("health.chronic_disease", "health"),
    ("claims.diagnosis_code", "health"), ("applicant.medical_history", "health"),
    ("applicant.jibing", "health"), ("login.password", "password"), ("login.passwd", "password"),
    ("card.pin", "password"), ("login.otp", "verification_code"),
    ("login.sms_code", "verification_code"), ("verification_code", "verification_code"),
    ("card.cvv", "card_security_code"), ("applicant.marital_status", "marital_status"),
    ("applicant.gender", "sex"), ("applicant.national_origin", "national_origin"),
    ("member.trade_union", "trade_union"), ("applicant.political_party", "political_opinion"),
    ("applicant.sexual_orientation", "sexual_orientation"),
])
def test_names_reveal_categories(name: str, category: str) -> None:
    assert category_from_name(name) == category


@pytest.mark.parametrize("name", [
    "applicant.age", "applicant.general_score", "applicant.face_match_score", "bureau.score",
    "applicant.occupation", "card.spin_rate", "applicant.pinyin_name", "loan.term_months",
    "applicant.racecourse", "union_pay.card_count", "applicant.generation", "device.ip_province_mismatch",
    "applicant.nationalities_count_x", "applicant.passport_country",
])
def test_ordinary_names_are_not_flagged(name: str) -> None:
    assert category_from_name(name) is None


def test_the_example_strategy_has_no_protected_inputs() -> None:
    spec = load_strategy(example_strategy_path()).spec
    assert spec.market == "cn"
    for name, field in spec.inputs.items():
        assert category_from_name(name) is None, name
        assert field.category is None or refusal(field.category, "cn") is None
    compile_strategy(example_strategy_path())


def test_c3_is_refused_in_every_market_and_the_lists_are_known_categories() -> None:
    categories = set(get_args(AttributeCategory))
    assert categories >= C3
    for market, prohibited in PROHIBITED.items():
        assert categories >= prohibited, market
        for c in C3:
            found = refusal(c, market)
            assert found is not None and found[0] == "c3-data"
    for c in ("age", "financial", "credit_history", "other"):
        assert all(refusal(c, m) is None for m in PROHIBITED)


# -- diagnostics -----------------------------------------------------------------------------

def test_a_declared_prohibited_category_is_an_error_at_the_input_key(tmp_path: Path) -> None:
    source = text("  applicant.note_1: {type: str, category: religion}\n")
    [d] = diagnostics(tmp_path, source)
    assert d.code == "prohibited-attribute" and d.severity == "error"
    assert (d.file, d.line, d.column) == (str(tmp_path / "strategy.yaml"), 6, 3)
    assert d.path == "inputs.applicant.note_1"
    assert "`applicant.note_1`" in d.message and "religious belief" in d.message
    assert "market `cn`" in d.message


def test_a_declared_c3_category_is_c3_data(tmp_path: Path) -> None:
    [d] = diagnostics(tmp_path, text("  login.secret: {type: str, category: password}\n"))
    assert d.code == "c3-data" and "C3" in d.message and "`login.secret`" in d.message


def test_names_nested_and_pinyin_are_reported_at_their_keys(tmp_path: Path) -> None:
    inputs = ("  applicant.profile.minzu: {type: str}\n"
              "  kyc.blood_type_code: {type: str, required: false}\n"
              "  \"login.sms_code\": {type: str}\n")
    found = diagnostics(tmp_path, text(inputs))
    assert [(d.code, d.line, d.column) for d in found] == [
        ("prohibited-attribute", 6, 3), ("prohibited-attribute", 7, 3), ("c3-data", 8, 3)]
    assert "ethnicity" in found[0].message and "allow_name" in found[0].message
    assert "blood type" in found[1].message
    assert "verification code" in found[2].message


@pytest.mark.parametrize(("inputs", "market", "expected"), [
    ("  applicant.marital_status: {type: str}\n", "cn", []),
    ("  applicant.marital_status: {type: str}\n", "us", ["prohibited-attribute"]),
    ("  applicant.marital_status: {type: str}\n", "eu", []),
    ("  applicant.gender: {type: str}\n", None, []),
    ("  applicant.gender: {type: str}\n", "us", ["prohibited-attribute"]),
    ("  x: {type: str, category: national_origin}\n", "us", ["prohibited-attribute"]),
    ("  x: {type: str, category: national_origin}\n", "cn", []),
    ("  member.trade_union: {type: bool}\n", "eu", ["prohibited-attribute"]),
    ("  member.trade_union: {type: bool}\n", "us", []),
    ("  applicant.political_party: {type: str}\n", "us", []),
    ("  applicant.political_party: {type: str}\n", "eu", ["prohibited-attribute"]),
    ("  x: {type: int, category: age}\n", "us", []),
    ("  applicant.religion: {type: str}\n", "us", ["prohibited-attribute"]),
    ("  login.pin: {type: str}\n", "us", ["c3-data"]),
    ("  login.pin: {type: str}\n", "eu", ["c3-data"]),
])
def test_markets_differ(tmp_path: Path, inputs: str, market: str | None,
                        expected: list[str]) -> None:
    assert codes(tmp_path, inputs, market) == expected


def test_an_unknown_market_is_an_invalid_value(tmp_path: Path) -> None:
    assert codes(tmp_path, "", "mars") == ["invalid-value"]


def test_allow_name_with_a_reason_overrides_the_name_detector_only(tmp_path: Path) -> None:
    ok = '  device.fingerprint: {type: str, allow_name: true, reason: "A device hash, not a finger."}\n'
    assert codes(tmp_path, ok) == []
    declared = ("  device.hash: {type: str, category: fingerprint, allow_name: true, "
                "reason: I insist.}\n")
    assert codes(tmp_path, declared) == ["c3-data"]
    declared = "  x: {type: str, category: health, allow_name: true, reason: Really.}\n"
    assert codes(tmp_path, declared) == ["prohibited-attribute"]


def test_allow_name_needs_a_reason_and_a_reason_needs_allow_name(tmp_path: Path) -> None:
    source = text("  device.fingerprint: {type: str, allow_name: true}\n")
    found = diagnostics(tmp_path, source)
    assert sorted(d.code for d in found) == ["allow-name-reason", "c3-data"]
    reason = next(d for d in found if d.code == "allow-name-reason")
    assert (reason.line, reason.path) == (6, "inputs.device.fingerprint.allow_name")
    assert codes(tmp_path, "  x: {type: str, reason: Why not.}\n") == ["allow-name-reason"]
    assert codes(tmp_path, "  x: {type: str, allow_name: true, reason: ''}\n") == ["invalid-value"]


def test_market_and_new_keys_leave_the_digest_of_other_strategies_alone(tmp_path: Path) -> None:
    sources = [text(""), text("", "cn"), text("  x: {type: str, allow_name: false}\n"),
               text("  x: {type: str}\n"), text("", "us")]
    digests = []
    for i, source in enumerate(sources):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(source, encoding="utf-8")
        digests.append(compile_strategy(path).digest)
    assert digests[0] == digests[1] != digests[4]
    assert digests[2] == digests[3] != digests[0]


def test_the_documented_table_matches_the_lists() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "strategy-format.md").read_text("utf-8")
    section = doc[doc.index("| `category` | `cn` | `us` | `eu` |"):]
    rows = section.split("\n\n")[0].splitlines()[2:]
    documented: dict[str, dict[str, str]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for category in cells[0].replace("`", "").split(", "):
            documented[category] = dict(zip(("cn", "us", "eu"), cells[1:], strict=True))
    categories = set(get_args(AttributeCategory))
    assert set(documented) == categories
    for category, by_market in documented.items():
        for market, cell in by_market.items():
            found = refusal(category, market)
            expected = {"C3": "c3-data", "prohibited": "prohibited-attribute", "": None}[cell]
            assert (found[0] if found else None) == expected, (category, market)
