"""Lint conformance: each named case in ``lint/*.toml`` produces exactly the listed codes.

A case (zen's ``diagnostics.toml`` layout) has ``name``, ``strategy`` (the YAML text),
``error_codes`` and ``warning_codes`` (compared as sorted lists, so repeats count),
and optionally ``files`` (other files next to the strategy, by name) and
``message_contains`` (text that some diagnostic message must hold).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from fengkong import compile_strategy
from fengkong.errors import Diagnostic, StrategyFileError

CASES_DIR = Path(__file__).parent / "lint"
KEYS = {"name", "strategy", "error_codes", "warning_codes", "files", "message_contains"}


@dataclass(frozen=True)
class LintCase:
    """One named case."""

    file: str
    name: str
    strategy: str
    error_codes: tuple[str, ...]
    warning_codes: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    message_contains: tuple[str, ...]


def _load() -> list[LintCase]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
        assert set(doc) == {"case"}, f"{path.name}: only [[case]] tables are allowed"
        for raw in doc["case"]:
            unknown = set(raw) - KEYS
            assert not unknown, f"{path.name}: case {raw.get('name')!r} has unknown keys {unknown}"
            cases.append(LintCase(path.stem, raw["name"], raw["strategy"],
                                  tuple(raw["error_codes"]), tuple(raw["warning_codes"]),
                                  tuple(raw.get("files", {}).items()),
                                  tuple(raw.get("message_contains", ()))))
    return cases


CASES = _load()


def diagnostics_of(case: LintCase, tmp_path: Path) -> tuple[Diagnostic, ...]:
    for name, text in case.files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "strategy.yaml"
    path.write_text(case.strategy, encoding="utf-8")
    try:
        compiled = compile_strategy(path)
    except StrategyFileError as exc:
        return exc.diagnostics
    return compiled.warnings


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.file}: {c.name}")
def test_lint_case(case: LintCase, tmp_path: Path) -> None:
    found = diagnostics_of(case, tmp_path)
    shown = "\n".join(d.format() for d in found)
    errors = sorted(d.code for d in found if d.severity == "error")
    warnings = sorted(d.code for d in found if d.severity == "warning")
    assert (errors, warnings) == (sorted(case.error_codes), sorted(case.warning_codes)), shown
    for text in case.message_contains:
        assert any(text in d.message for d in found), f"no message holds {text!r}:\n{shown}"
    for d in found:
        assert d.file is not None, d
        assert d.message.rstrip().endswith((".", "?")), d.message


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 30


def test_every_documented_code_has_a_case() -> None:
    covered = {code for c in CASES for code in (*c.error_codes, *c.warning_codes)}
    wanted = {
        "yaml-syntax", "spec-not-mapping", "unknown-key", "missing-key", "invalid-value",
        "invalid-name", "file-not-found", "expr-syntax", "expr-forbidden", "expr-too-deep",
        "expr-empty", "expr-literal-range", "unknown-field", "unknown-function", "wrong-arity",
        "type-mismatch", "enum-value-unknown", "enum-without-values", "values-not-enum",
        "range-not-numeric", "range-empty", "length-not-str", "pii-type", "reserved-name",
        "name-collision", "duplicate-name", "duplicate-rule", "router-no-default",
        "segment-default-not-last", "unknown-component", "slot-kind-mismatch",
        "slot-outputs-mismatch", "unknown-rule", "unknown-arm", "arm-weight", "cap-needs-limit",
        "limit-not-cap", "decision-values", "invalid-cell", "row-width",
        "collect-needs-aggregate", "aggregate-not-collect", "table-overlapping-rows",
        "scorecard-bins-overlap", "model-file-not-found", "model-file-invalid",
        "table-unreachable-row", "table-no-default", "scorecard-bin-gap", "rule-never-fires",
        "feature-unused", "component-unused", "prohibited-attribute", "c3-data",
        "allow-name-reason",
    }
    assert wanted <= covered, sorted(wanted - covered)
