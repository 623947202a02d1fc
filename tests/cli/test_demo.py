"""``fengkong demo``: the newcomer's tour end to end, on a small book."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
from typer.testing import CliRunner

from fengkong.cli import app

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
        app, ["demo", "--rows", str(ROWS), "--dir", str(directory), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    decisions = _check_demo_dir(directory, result.stdout)
    assert set(decisions["segment"].drop_nulls()) <= {"thin_file", "app", "default"}
    assert "stub_loan v1" in result.stdout

    # A second run keeps the (possibly edited) strategy and decides again.
    (directory / "strategy.yaml").write_text(
        (directory / "strategy.yaml").read_text().replace("\nversion: 1\n", "\nversion: 2\n", 1)
    )
    again = runner.invoke(app, ["demo", "--rows", str(ROWS), "--dir", str(directory)])
    assert again.exit_code == 0, again.output
    assert "Using the strategy already in" in again.stdout
    assert "stub_loan v2" in again.stdout


def test_demo_reports_a_broken_strategy(runner: CliRunner, stub_pack: Path, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "strategy.yaml").write_text("strategy: x\n", encoding="utf-8")
    result = runner.invoke(app, ["demo", "--rows", "100", "--dir", str(directory)])
    assert result.exit_code == 1
    assert "does not compile" in result.stderr
    assert not (directory / "decisions.parquet").exists()


def test_demo_with_the_shipped_example_pack(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--rows", str(ROWS), "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    _check_demo_dir(directory, result.stdout)
