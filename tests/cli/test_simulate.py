"""``fengkong simulate``: champion vs challenger over a history, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.demo import example_strategy_path, generate_applications

EXAMPLES = example_strategy_path().parents[1]
CHALLENGER = EXAMPLES / "simulation" / "challenger.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "applications.parquet"
    generate_applications(3_000, seed=5).write_parquet(path)
    return path


def test_simulate_writes_report_decisions_and_summary(
        runner: CliRunner, history: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--champion", str(example_strategy_path()),
                                 "--challenger", str(CHALLENGER), "--history", str(history),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "swap-in" in result.output and "approval rate" in result.output
    decisions = pl.read_parquet(out / "decisions.parquet")
    assert decisions.height == 3_000
    assert decisions["application_id"].n_unique() == 3_000
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    o = summary["overall"]
    # The challenger lowers the cut-off: swap-ins only, each a champion refer or decline.
    assert o["swap_in"] == decisions.filter(pl.col("swap") == "swap_in").height > 0
    assert o["swap_out"] == 0
    assert o["challenger_approval_rate"] > o["champion_approval_rate"]
    swap_in = decisions.filter(pl.col("swap") == "swap_in")
    assert set(swap_in["champion_decision"]) <= {"refer", "decline"}
    assert set(swap_in["challenger_decision"]) == {"approve"}
    assert summary["strategies"]["challenger"]["id"] == "consumer_loan_challenger"
    html = (out / "report.html").read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 4


def test_segment_by_a_history_column(runner: CliRunner, history: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--champion", str(example_strategy_path()),
                                 "--challenger", str(CHALLENGER), "--history", str(history),
                                 "--out", str(out), "--segment-by", "channel"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert {r["segment"] for r in summary["by_segment"]} == {"app", "partner", "branch"}


def test_missing_outcome_fails_cleanly(runner: CliRunner, history: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--champion", str(example_strategy_path()),
                                 "--challenger", str(CHALLENGER), "--history", str(history),
                                 "--out", str(tmp_path / "sim"), "--outcome", "nope"])
    assert result.exit_code == 1
    assert "no column `nope`" in result.output and "--outcome" in result.output
    assert not (tmp_path / "sim" / "report.html").exists()


def test_csv_history(runner: CliRunner, tmp_path: Path) -> None:
    frame = generate_applications(1_000, seed=6)
    frame = frame.with_columns(  # an unknown outcome is an empty cell
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("bad"))
        .alias("bad"))
    path = tmp_path / "history.csv"
    frame.select(pl.exclude("applied_at"), pl.col("applied_at").cast(pl.String)).write_csv(path)
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--champion", str(example_strategy_path()),
                                 "--challenger", str(CHALLENGER), "--history", str(path),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["overall"]["known_outcomes"] == 900
