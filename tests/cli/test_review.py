"""``fengkong review``: the account-management review of a book, from the command line."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.lifecycle import Book, synthetic_book

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "account_management" / "strategy.yaml"
ORIGINATION = Path(__file__).resolve().parents[2] / "examples" / "consumer_loan" / "strategy.yaml"


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(3_000, months=14, seed=5)


@pytest.fixture(scope="module")
def files(book: Book, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("review")
    book.accounts.write_parquet(base / "book.parquet")
    book.history.write_parquet(base / "history.parquet")
    return base / "book.parquet", base / "history.parquet"


def test_review_writes_actions_notices_and_summary(runner: CliRunner, files: tuple[Path, Path],
                                                   book: Book, tmp_path: Path) -> None:
    out = tmp_path / "run" / "actions.parquet"
    res = runner.invoke(app, ["review", str(EXAMPLE), "--accounts", str(files[0]), "--as-of",
                              book.as_of.isoformat(), "--out", str(out), "--chunk-size", "1000",
                              "--control-share", "0.1"])
    assert res.exit_code == 0, res.output
    assert "Account review by segment and action" in res.output
    assert "3,000 accounts reviewed" in res.output
    actions = pl.read_parquet(out)
    notices = pl.read_parquet(out.parent / "notices.parquet")
    summary = json.loads((out.parent / "summary.json").read_text())
    csv = pl.read_csv(out.parent / "summary.csv")
    assert actions.height == 3_000
    assert {"account_id", "action", "old_limit", "new_limit", "old_apr", "new_apr", "reasons",
            "guard", "control"} <= set(actions.columns)
    assert csv["accounts"].sum() == 3_000 and len(summary) == csv.height
    assert set(csv.columns) >= {"segment", "action", "control", "accounts", "exposure_added",
                                "exposure_removed", "el_change", "notices"}
    assert (notices["due_by"] == book.as_of + timedelta(days=30)).all()
    assert notices.height == actions["notice"].sum() > 0
    assert 0.07 < actions["control"].mean() < 0.13  # type: ignore[operator]


def test_history_recomputes_the_same_features(runner: CliRunner, files: tuple[Path, Path],
                                              book: Book, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "actions.parquet", tmp_path / "b" / "actions.parquet"
    base = ["review", str(EXAMPLE), "--accounts", str(files[0]), "--as-of", book.as_of.isoformat()]
    assert runner.invoke(app, [*base, "--out", str(a)]).exit_code == 0
    res = runner.invoke(app, [*base, "--out", str(b), "--history", str(files[1])])
    assert res.exit_code == 0, res.output
    cols = ["account_id", "action", "new_limit", "new_apr", "guard"]
    assert pl.read_parquet(a).select(cols).sort("account_id").equals(
        pl.read_parquet(b).select(cols).sort("account_id"))


def test_refuses_a_strategy_of_another_stage(runner: CliRunner, files: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    res = runner.invoke(app, ["review", str(ORIGINATION), "--accounts", str(files[0]), "--as-of",
                              "2026-01-01", "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 1
    assert "account_management" in res.output


@pytest.mark.parametrize(("args", "needle"), [
    (["--as-of", "01/01/2026", "--out", "x.parquet"], "YYYY-MM-DD"),
    (["--as-of", "2026-01-01", "--out", "x.csv"], "Parquet"),
    (["--as-of", "2026-01-01", "--out", "x.parquet", "--dpd-months", "5"], "3, 6 or 12"),
    (["--as-of", "2026-01-01", "--out", "x.parquet", "--control-share", "2"], "control-share"),
])
def test_usage_errors(runner: CliRunner, files: tuple[Path, Path], tmp_path: Path,
                      args: list[str], needle: str) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    res = runner.invoke(app, ["review", str(EXAMPLE), "--accounts", str(files[0]), *args])
    assert res.exit_code == 2
    assert needle in res.output


def test_a_book_without_a_column_fails_cleanly(runner: CliRunner, book: Book,
                                               tmp_path: Path) -> None:
    path = tmp_path / "thin.parquet"
    book.accounts.drop("opt_in").write_parquet(path)
    res = runner.invoke(app, ["review", str(EXAMPLE), "--accounts", str(path), "--as-of",
                              date(2026, 1, 1).isoformat(), "--out", str(tmp_path / "o.parquet")])
    assert res.exit_code == 1
    assert "opt_in" in res.output
