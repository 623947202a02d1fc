"""``fengkong demo``: the newcomer's tour end to end, on a small book."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.cli._demo_lifecycle import QUICK

ROWS = 2_000


def _check_demo_dir(directory: Path, output: str) -> pl.DataFrame:
    for name in (
        "strategy.yaml",
        "applications.parquet",
        "decisions.parquet",
        "example_record.json",
    ):
        assert (directory / name).is_file(), name
    assert not list(directory.glob(".*.tmp"))
    decisions = pl.read_parquet(directory / "decisions.parquet")
    assert decisions.height == ROWS
    assert decisions.columns[:2] == ["application_id", "bad"]
    assert decisions["decision"].drop_nulls().is_in(["approve", "refer", "decline"]).all()
    assert orjson.loads((directory / "example_record.json").read_bytes())
    for heading in (
        "Decisions (overall)",
        "By segment",
        "By arm of experiment",
        "Top 10 reason codes",
        "Online and batch agree",
        "avg APR",
    ):
        assert heading in output, heading
    return decisions


def test_demo_with_a_stand_in_pack(runner: CliRunner, stub_pack: Path, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["demo", "--rows", str(ROWS), "--dir", str(directory), "--seed", "1", "--no-lifecycle"],
    )
    assert result.exit_code == 0, result.output
    decisions = _check_demo_dir(directory, result.stdout)
    assert set(decisions["segment"].drop_nulls()) <= {"thin_file", "app", "default"}
    assert "stub_loan v1" in result.stdout

    # A second run keeps the (possibly edited) strategy and decides again.
    (directory / "strategy.yaml").write_text(
        (directory / "strategy.yaml").read_text().replace("\nversion: 1\n", "\nversion: 2\n", 1)
    )
    again = runner.invoke(
        app, ["demo", "--rows", str(ROWS), "--dir", str(directory), "--no-lifecycle"]
    )
    assert again.exit_code == 0, again.output
    assert "Using the strategy already in" in again.stdout
    assert "stub_loan v2" in again.stdout


def test_demo_reports_a_broken_strategy(runner: CliRunner, stub_pack: Path, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "strategy.yaml").write_text("strategy: x\n", encoding="utf-8")
    result = runner.invoke(
        app, ["demo", "--rows", "100", "--dir", str(directory), "--no-lifecycle"]
    )
    assert result.exit_code == 1
    assert "does not compile" in result.stderr
    assert not (directory / "decisions.parquet").exists()


def test_demo_with_the_shipped_example_pack(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo", "--rows", str(ROWS), "--dir", str(directory), "--no-lifecycle"]
    )
    assert result.exit_code == 0, result.output
    _check_demo_dir(directory, result.stdout)
    assert not (directory / "lifecycle").exists()


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle_quick(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--rows", str(ROWS), "--dir", str(directory), "--quick"])
    assert result.exit_code == 0, result.output
    _check_demo_dir(directory, result.stdout)
    out = result.stdout
    for heading in (
        "Train segment scorecards",
        "Deploy the origination strategy",
        "Account management review",
        "Decide applications through the service and age the book",
        "Collections work list",
        "Back-test a challenger",
        "Lifecycle report",
        "Next steps",
    ):
        assert heading in out, heading
    assert "Skipped" not in out  # every stage's module is installed
    life = directory / "lifecycle"
    report = (life / "lifecycle_report.html").read_text(encoding="utf-8")
    for section in (
        "Origination",
        "Book growth",
        "Delinquency and roll rates",
        "Account management",
        "Collections",
        "Champion vs challenger",
    ):
        assert f">{section}</h2>" in report, section
    assert report.count("<svg") == 6  # origination, book, delinquency, AM, collections, challenger
    assert "Skipped:" not in report
    assert (life / "model" / "strategy.yaml").is_file()
    assert (life / "model" / "report.html").is_file()
    assert (life / "simulation" / "report.html").is_file()
    # The applications went through the service and its durable decision log.
    assert (life / "service" / "fengkong.db").is_file()
    decided = QUICK.months * QUICK.per_month
    assert f"Decided {decided:,} applications through POST /v1/decisions" in out


def test_demo_lifecycle_skips_a_missing_stage_and_says_so(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fengkong.cli import _demo_lifecycle

    monkeypatch.setattr(_demo_lifecycle, "example_file", lambda *a, **k: None)
    monkeypatch.setattr(
        _demo_lifecycle,
        "QUICK",
        _demo_lifecycle.Sizes(history=6_000, accounts=300, book_months=3, months=1, per_month=10),
    )
    monkeypatch.setattr(_demo_lifecycle, "_train", lambda st, history, out: None)
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--rows", "200", "--dir", str(directory), "--quick"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Skipped:") == 3
    report = (directory / "lifecycle" / "lifecycle_report.html").read_text(encoding="utf-8")
    assert "Skipped: no account-management example strategy was found" in report
    assert "Skipped: no collections example strategy was found" in report
    assert "Skipped: no challenger example strategy was found" in report
