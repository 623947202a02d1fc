"""``fengkong validate``: diagnostics with positions, per-file verdicts, exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.cli._render import diagnostic_text
from fengkong.errors import Diagnostic

CATCH_ALL = '      - ["-", "-", 0, null]\n'


def _write_variant(src: Path, dest: Path, old: str, new: str) -> Path:
    text = src.read_text(encoding="utf-8")
    assert old in text
    dest.write_text(text.replace(old, new, 1), encoding="utf-8")
    return dest


@pytest.fixture
def broken(mini_path: Path, tmp_path: Path) -> Path:
    return _write_variant(
        mini_path, tmp_path / "broken.yaml", 'when: "dti > 0.6"', 'when: "dtx > 0.6"'
    )


@pytest.fixture
def warned(mini_path: Path, tmp_path: Path) -> Path:
    # Dropping the catch-all row of a first-hit table is a warning, not an error.
    return _write_variant(mini_path, tmp_path / "warned.yaml", CATCH_ALL, "")


def test_valid_file_is_ok(runner: CliRunner, mini_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(mini_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{mini_path}: ok"


def test_warnings_are_printed_and_pass(runner: CliRunner, warned: Path) -> None:
    result = runner.invoke(app, ["validate", str(warned)])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"^{re.escape(str(warned))}:\d+:\d+: warning\[table-no-default\] .+ "
        r"\(at tables\.pricing_std\)$",
        result.stdout,
        re.MULTILINE,
    )
    assert f"{warned}: ok, 1 warning" in result.stdout


def test_strict_fails_on_warnings(runner: CliRunner, warned: Path) -> None:
    result = runner.invoke(app, ["validate", "--strict", str(warned)])
    assert result.exit_code == 1
    assert "1 warning (failing: --strict)" in result.stdout


def test_errors_name_file_line_and_column(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "dtx" in text)
    assert re.search(
        rf"^{re.escape(str(broken))}:{line}:\d+: error\[unknown-field\] .*`dtx`.* "
        r"\(at rules\[2\]\.when\)$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert f"{broken}: 1 error" in result.stdout


def test_every_file_is_reported_and_any_error_fails(
    runner: CliRunner, mini_path: Path, broken: Path
) -> None:
    result = runner.invoke(app, ["validate", str(broken), str(mini_path)])
    assert result.exit_code == 1
    assert f"{broken}: 1 error" in result.stdout
    assert f"{mini_path}: ok" in result.stdout


def test_missing_file_is_a_strategy_error(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["validate", str(missing)])
    assert result.exit_code == 1
    assert "error[file-not-found]" in result.stdout


def test_no_file_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "diagnostic",
    [
        Diagnostic("unknown-field", "Unknown name `x`.", "rules[0].when", "s.yaml", 3, 14),
        Diagnostic(
            "table-no-default", "No catch-all row.", "tables.t", "s.yaml", 9, None, "warning"
        ),
        Diagnostic("file-not-found", "File `s.yaml` does not exist.", "", "s.yaml"),
        Diagnostic("spec-error", "Something [odd].", ""),
    ],
)
def test_diagnostic_text_is_the_plain_format(diagnostic: Diagnostic) -> None:
    assert diagnostic_text(diagnostic).plain == diagnostic.format()
