"""Diagnostics point at the right file, line and column, and a file's errors come all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fengkong import compile_strategy
from fengkong.errors import Diagnostic, StrategyFileError

HEAD = """\
strategy: s
version: 1
stage: origination
inputs:
  applicant.age: {type: int, min: 16, max: 100}
  channel: {type: str}
"""


def write(tmp_path: Path, text: str, name: str = "strategy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnostics(path: Path) -> list[Diagnostic]:
    with pytest.raises(StrategyFileError) as info:
        compile_strategy(path)
    return list(info.value.diagnostics)


def only(path: Path, code: str) -> Diagnostic:
    found = [d for d in diagnostics(path) if d.code == code]
    assert len(found) == 1, found
    return found[0]


def position_of(text: str, token: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the ``occurrence``-th ``token`` in ``text``."""
    start = -1
    for _ in range(occurrence):
        start = text.index(token, start + 1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, column


# Each body holds one unknown name, `agee`, written in a different YAML scalar style.
STYLES = {
    "plain": """\
rules:
  - id: r
    when: applicant.age < 18 and agee > 1
    action: decline
    reason: R
""",
    "single-quoted": """\
rules:
  - id: r
    when: 'applicant.age < 18 and agee > 1'
    action: decline
    reason: R
""",
    "double-quoted": """\
rules:
  - id: r
    when: "applicant.age < 18 and agee > 1"
    action: decline
    reason: R
""",
    "flow-mapping": """\
rules:
  - {id: r, when: "applicant.age < 18 and agee > 1", action: decline, reason: R}
""",
    "literal-block": """\
rules:
  - id: r
    when: |
      applicant.age < 18 and agee > 1
    action: decline
    reason: R
""",
    "literal-block-two-lines": """\
rules:
  - id: r
    when: |
      applicant.age < 18
        and agee > 1
    action: decline
    reason: R
""",
    "folded-block": """\
rules:
  - id: r
    when: >-
      applicant.age < 18
      and agee > 1
    action: decline
    reason: R
""",
    "plain-two-lines": """\
rules:
  - id: r
    when: applicant.age < 18
      and agee > 1
    action: decline
    reason: R
""",
    "double-quoted-with-escapes": """\
rules:
  - id: r
    when: "channel == \\"app\\" and agee > 1"
    action: decline
    reason: R
""",
    "single-quoted-with-escapes": """\
rules:
  - id: r
    when: 'channel == ''app'' and agee > 1'
    action: decline
    reason: R
""",
    "feature": """\
features:
  young: "agee < 25"
rules:
  - {id: r, when: "young", action: decline, reason: R}
""",
}


@pytest.mark.parametrize("style", list(STYLES))
def test_expression_error_points_at_the_token(tmp_path: Path, style: str) -> None:
    text = HEAD + STYLES[style]
    path = write(tmp_path, text)
    d = only(path, "unknown-field")
    assert d.file == str(path)
    assert (d.line, d.column) == position_of(text, "agee"), d.format()


def test_output_cell_expression_error_points_at_the_token(tmp_path: Path) -> None:
    text = HEAD + """\
tables:
  grid:
    hit_policy: first
    inputs: [applicant.age]
    outputs: [limit]
    rows:
      - ["< 30", "incme * 6"]
      - ["-", 0]
use: {pricing: grid}
rules:
  - {id: r, when: "pricing.limit < 1", action: decline, reason: R}
"""
    d = only(write(tmp_path, text), "unknown-field")
    assert (d.line, d.column) == position_of(text, "incme"), d.format()
    assert d.path == "tables.grid.rows[0][1]"


def test_invalid_cell_points_at_the_cell(tmp_path: Path) -> None:
    text = HEAD + """\
tables:
  grid:
    hit_policy: first
    inputs: [applicant.age]
    outputs: [limit]
    rows:
      - ["< 30", 100]
      - ["=< 40", 200]
      - ["-", 0]
use: {pricing: grid}
rules:
  - {id: r, when: "pricing.limit < 1", action: decline, reason: R}
"""
    d = only(write(tmp_path, text), "invalid-cell")
    assert (d.line, d.column) == position_of(text, '"=< 40"'), d.format()
    assert d.path == "tables.grid.rows[1][0]"


def test_errors_after_a_dropped_list_item_keep_their_own_position(tmp_path: Path) -> None:
    # The first rule has a schema error and is set aside; the second rule's error must
    # still be reported at rules[1], on its own line.
    text = HEAD + """\
rules:
  - id: r
    whn: applicant.age < 18
    action: decline
    reason: R
  - id: q
    when: agee > 1
    action: decline
    reason: Q
"""
    d = only(write(tmp_path, text), "unknown-field")
    assert d.path == "rules[1].when"
    assert (d.line, d.column) == position_of(text, "agee"), d.format()


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    text = HEAD + """\
rules:
  - {id: r, when: "applicant.age < 18", action: decline, reason: R, colour: red}
"""
    d = only(write(tmp_path, text), "unknown-key")
    assert (d.line, d.column) == position_of(text, "colour"), d.format()
    assert d.path == "rules[0].colour"


def test_invalid_value_points_at_the_value(tmp_path: Path) -> None:
    text = HEAD.replace("stage: origination", "stage: underwriting") + """\
rules:
  - {id: r, when: "applicant.age < 18", action: decline, reason: R}
"""
    d = only(write(tmp_path, text), "invalid-value")
    assert (d.line, d.column) == position_of(text, "underwriting"), d.format()
    assert d.path == "stage"


def test_missing_key_points_at_the_item_that_lacks_it(tmp_path: Path) -> None:
    text = HEAD + """\
rules:
  - {id: r, when: "applicant.age < 18", action: decline, reason: R}
  - {id: q, when: "applicant.age > 90", reason: Q}
"""
    d = only(write(tmp_path, text), "missing-key")
    assert d.line == position_of(text, "{id: q")[0]
    assert d.path == "rules[1].action"


def test_yaml_syntax_error_position(tmp_path: Path) -> None:
    text = HEAD + "rules:\n  - {id: r, when: 'a' 'b'}\n"
    d = only(write(tmp_path, text), "yaml-syntax")
    assert d.file.endswith("strategy.yaml")
    assert d.line == text.count("\n")  # the last line
    assert d.column is not None


def test_duplicate_key_points_at_the_second_key(tmp_path: Path) -> None:
    text = HEAD + "  channel: {type: int}\n"
    d = only(write(tmp_path, text), "yaml-syntax")
    assert "channel" in d.message
    assert (d.line, d.column) == position_of(text, "channel", occurrence=2)


def test_json_strategy_positions(tmp_path: Path) -> None:
    doc = {"strategy": "s", "version": 1, "stage": "origination",
           "inputs": {"age": {"type": "int", "min": 16, "max": 100}},
           "rules": [{"id": "r", "when": "agee < 18", "action": "decline", "reason": "R"}]}
    text = json.dumps(doc, indent=2)
    path = write(tmp_path, text, "strategy.json")
    d = only(path, "unknown-field")
    assert d.file == str(path)
    assert (d.line, d.column) == position_of(text, "agee"), d.format()


# -- all errors at once ---------------------------------------------------------------------

def test_schema_and_expression_errors_are_reported_together(tmp_path: Path) -> None:
    # Plain scalars, and the schema error in the last rule, so that this test is about
    # completeness only (quoted scalars and dropped list items have their own tests).
    text = HEAD + """\
features:
  bad: applicant.age ** 2
rules:
  - id: q
    when: chanel == 'app'
    action: refer
    reason: Q
  - id: p
    when: applicant.age > 'x'
    action: refer
    reason: P
  - id: r
    when: applicant.age < 18
    action: decline
    reason: not_upper
"""
    path = write(tmp_path, text)
    found = diagnostics(path)
    by_code = {d.code: d for d in found}
    assert set(by_code) == {"invalid-name", "unknown-field", "type-mismatch", "expr-forbidden"}
    assert len(found) == 4
    assert (by_code["invalid-name"].line, by_code["invalid-name"].column) == position_of(text, "not_upper")
    assert (by_code["unknown-field"].line, by_code["unknown-field"].column) == position_of(text, "chanel")
    assert "Did you mean `channel`?" in by_code["unknown-field"].message
    assert (by_code["type-mismatch"].line, by_code["type-mismatch"].column) == position_of(
        text, "applicant.age > 'x'")
    assert (by_code["expr-forbidden"].line, by_code["expr-forbidden"].column) == position_of(
        text, "applicant.age ** 2")
    # reported in file order, and the exception text lists them all as file:line:col
    assert [d.line for d in found] == sorted(d.line for d in found)
    with pytest.raises(StrategyFileError) as info:
        compile_strategy(path)
    message = str(info.value)
    assert message.startswith("4 error(s)")
    for d in found:
        assert f"{path}:{d.line}:{d.column}: error[{d.code}]" in message


def test_warnings_do_not_stop_compilation_and_are_located(tmp_path: Path) -> None:
    text = HEAD + """\
features:
  spare: "applicant.age * 2"
rules:
  - {id: r, when: "applicant.age < 16", action: decline, reason: AGE_BELOW_MIN}
"""
    compiled = compile_strategy(write(tmp_path, text))
    found = {d.code: d for d in compiled.warnings}
    assert set(found) == {"feature-unused", "rule-never-fires"}
    assert found["feature-unused"].line == position_of(text, "spare")[0]
    assert found["rule-never-fires"].line == position_of(text, "{id: r")[0]
    assert all(d.severity == "warning" for d in compiled.warnings)


# -- scorecard artifact files -----------------------------------------------------------------

STRATEGY_WITH_CARD = HEAD + """\
scorecards:
  card: {file: cards/card.yaml}
use: {score: card}
rules:
  - {id: r, when: "score < 10", action: refer, reason: R}
"""

CARD = """\
base_points: 100
characteristics:
  - name: age
    expr: applicant.agee
    reason: AGE
    missing: 0
    bins:
      - {when: "< 30", points: 5}
      - {when: ">= 30", points: 20}
"""


def test_artifact_expression_error_names_the_artifact_file(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    card = write(tmp_path / "cards", CARD, "card.yaml")
    d = only(write(tmp_path, STRATEGY_WITH_CARD), "unknown-field")
    assert d.file == str(card)
    assert (d.line, d.column) == position_of(CARD, "applicant.agee")
    assert d.path == "scorecards.card.characteristics[0].expr"


def test_artifact_schema_error_names_the_artifact_file(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    text = CARD.replace("expr: applicant.agee", "expr: applicant.age").replace(
        "reason: AGE", "reason: age_reason")
    card = write(tmp_path / "cards", text, "card.yaml")
    d = only(write(tmp_path, STRATEGY_WITH_CARD), "invalid-name")
    assert d.file == str(card)
    assert (d.line, d.column) == position_of(text, "age_reason")


def test_artifact_cell_error_names_the_artifact_file(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    text = CARD.replace("expr: applicant.agee", "expr: applicant.age").replace(
        '"< 30"', '"<< 30"')
    card = write(tmp_path / "cards", text, "card.yaml")
    d = only(write(tmp_path, STRATEGY_WITH_CARD), "invalid-cell")
    assert d.file == str(card)
    assert d.line == position_of(text, "<< 30")[0]


def test_artifact_yaml_error_names_the_artifact_file(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    card = write(tmp_path / "cards", "base_points: [100\n", "card.yaml")
    d = only(write(tmp_path, STRATEGY_WITH_CARD), "yaml-syntax")
    assert d.file == str(card)
    assert d.line is not None


def test_missing_artifact_points_at_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, STRATEGY_WITH_CARD)
    d = only(path, "file-not-found")
    assert d.file == str(path)
    assert "cards/card.yaml" in d.message
    assert (d.line, d.column) == position_of(STRATEGY_WITH_CARD, "cards/card.yaml")


def test_errors_in_strategy_and_artifact_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    card = write(tmp_path / "cards", CARD, "card.yaml")
    text = STRATEGY_WITH_CARD.replace('"score < 10"', '"scor < 10"')
    path = write(tmp_path, text)
    files = {(d.code, d.file) for d in diagnostics(path)}
    assert files == {("unknown-field", str(card)), ("unknown-field", str(path))}
