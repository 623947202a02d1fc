"""``fengkong collections plan`` and ``collections report`` from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.lifecycle import Book, synthetic_book

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "collections" / "strategy.yaml"


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(6_000, months=13, seed=11)


@pytest.fixture(scope="module")
def files(book: Book, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("collections")
    paths = {k: base / f"{k}.parquet" for k in ("accounts", "history", "payments",
                                                 "promises", "contacts")}
    book.accounts.write_parquet(paths["accounts"])
    book.history.write_parquet(paths["history"])
    book.payments.write_parquet(paths["payments"])
    late = book.accounts.filter(pl.col("dpd") > 0, pl.col("bucket") != "write-off")
    ids = late["account_id"].head(40)
    day = book.as_of
    pl.DataFrame({"promise_id": [f"P{i}" for i in range(len(ids))], "account_id": ids,
                  "promised_on": [day - dt.timedelta(days=25)] * len(ids),
                  "due_date": [day - dt.timedelta(days=20)] * len(ids),
                  "amount": [50.0] * len(ids)}).write_parquet(paths["promises"])
    at = dt.datetime.combine(day, dt.time(3)) - dt.timedelta(days=1)
    pl.DataFrame({"account_id": [ids[0]] * 7, "channel": ["call"] * 7,
                  "attempted_at": [at] * 7}).write_parquet(paths["contacts"])
    return paths


def test_plan_writes_the_ranked_work_list(runner: CliRunner, files: dict[str, Path], book: Book,
                                          tmp_path: Path) -> None:
    out, blocked = tmp_path / "worklist.parquet", tmp_path / "blocked.parquet"
    res = runner.invoke(app, ["collections", "plan", "--accounts", str(files["accounts"]),
                              "--history", str(files["history"]),
                              "--contacts", str(files["contacts"]),
                              "--promises", str(files["promises"]),
                              "--payments", str(files["payments"]),
                              "--date", book.as_of.isoformat(), "--out", str(out),
                              "--blocked", str(blocked)])
    assert res.exit_code == 0, res.output
    assert "delinquent accounts" in res.output
    wl = pl.read_parquet(out)
    late = book.accounts.filter(pl.col("dpd") > 0, pl.col("bucket") != "write-off")
    assert wl.height == late.height
    assert wl["rank"].to_list() == list(range(1, wl.height + 1))
    assert wl["priority"].is_sorted(descending=True)
    assert set(wl["treatment"].unique()) <= {"sms", "robocall", "agent_call", "field_visit",
                                             "legal"}
    assert set(wl.filter(pl.col("p_cure") >= 0.6)["treatment"].unique()) <= {"sms"}
    b = pl.read_parquet(blocked)
    assert set(b["blocked_rule"].unique()) <= {"third_party", "opted_out", "local_hours",
                                               "frequency_cap"}
    assert b.height == int((wl["contact_status"] == "blocked").sum())


def test_plan_caps_calls_from_the_contact_history(runner: CliRunner, files: dict[str, Path],
                                                  book: Book, tmp_path: Path) -> None:
    first = tmp_path / "first.parquet"
    args = ["collections", "plan", "--accounts", str(files["accounts"]), "--history",
            str(files["history"]), "--date", book.as_of.isoformat()]
    assert runner.invoke(app, [*args, "--out", str(first)]).exit_code == 0
    called = pl.read_parquet(first).filter(pl.col("channel_planned") == "call",
                                           pl.col("contact_status") == "scheduled")
    victim = called["account_id"][0]
    at = dt.datetime.combine(book.as_of, dt.time(0)) - dt.timedelta(days=2)
    history = tmp_path / "contacts.csv"
    pl.DataFrame({"account_id": [victim] * 7, "channel": ["call"] * 7,
                  "attempted_at": [at + dt.timedelta(hours=i) for i in range(7)]}
                 ).write_csv(history)
    second = tmp_path / "second.parquet"
    res = runner.invoke(app, [*args, "--contacts", str(history), "--out", str(second)])
    assert res.exit_code == 0, res.output
    assert "frequency_cap 1" in res.output
    row = pl.read_parquet(second).filter(pl.col("account_id") == victim)
    assert row["contact_status"][0] == "blocked"
    assert row["blocked_rule"][0] == "frequency_cap"
    loose = runner.invoke(app, [*args, "--contacts", str(history), "--max-calls", "8",
                                "--out", str(second)])
    assert loose.exit_code == 0
    assert pl.read_parquet(second).filter(
        pl.col("account_id") == victim)["contact_status"][0] == "scheduled"


def test_plan_rejects_bad_options(runner: CliRunner, files: dict[str, Path],
                                  tmp_path: Path) -> None:
    res = runner.invoke(app, ["collections", "plan", "--accounts", str(files["accounts"]),
                              "--date", "tomorrow", "--out", str(tmp_path / "w.parquet")])
    assert res.exit_code == 2
    res = runner.invoke(app, ["collections", "plan", "--accounts", str(files["accounts"]),
                              "--date", "2026-01-01", "--out", str(tmp_path / "w.parquet"),
                              "--promises", str(files["promises"])])
    assert res.exit_code == 1
    assert "--payments" in res.output


def test_report_renders_roll_rates_vintages_and_kept_rate(
        runner: CliRunner, files: dict[str, Path], book: Book, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["collections", "report", "--history", str(files["history"]),
                              "--promises", str(files["promises"]),
                              "--payments", str(files["payments"]),
                              "--as-of", book.as_of.isoformat(), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    for title in ("Roll rates", "Flow rates and flow to loss", "Vintage curves",
                  "Promises to pay"):
        assert title in html
    assert html.count("<svg") >= 5
    assert "write-off" in html
