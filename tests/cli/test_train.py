"""``fengkong train``: a table in, a deployable strategy, bin tables, metrics and a report out.

The exported strategy must score every record exactly as the workbench does; bad input
is refused with exit code 2 and a message naming the column or value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from fengkong import compile_strategy, evaluate_batch
from fengkong.cli import app
from fengkong.workbench._datasets import synthetic_credit
from fengkong.workbench._train import TrainResult, train

# A slice of the synthetic data keeps the run short: numeric characteristics with special
# values (-999) and missing values, categorical ones with nulls, and every role column.
CHARACTERISTICS = ["bureau_score", "debt_to_income", "utilization", "num_inquiries_6m",
                   "months_since_last_delinquency", "employment_years", "housing",
                   "loan_purpose"]
PROTECTED = ["gender", "age_band", "region"]
ARGS = ["--target", "bad", "--segment-by", "channel", "--time-column", "applied_at",
        "--oot-months", "3", "--protected", ",".join(PROTECTED), "--exclude", "application_id"]


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    frame = synthetic_credit(20_000, seed=7).select(
        *CHARACTERISTICS, "channel", "applied_at", *PROTECTED, "bad")
    ids = pl.Series("application_id", [f"A{i:07d}" for i in range(frame.height)])
    return frame.insert_column(0, ids)


@pytest.fixture(scope="module")
def trained(history: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[TrainResult, Path, list[tuple[str, int, int]]]:
    calls: list[tuple[str, int, int]] = []
    result = train(history, target="bad", segment_by="channel", time_column="applied_at",
                   protected=PROTECTED, exclude=["application_id"], source="history.parquet",
                   progress=lambda stage, done, total: calls.append((stage, done, total)))
    out = tmp_path_factory.mktemp("api") / "model"
    result.write(out, progress=lambda stage, done, total: calls.append((stage, done, total)))
    return result, out, calls


@pytest.fixture(scope="module")
def cli_out(history: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("cli")
    history.write_parquet(base / "history.parquet")
    runner = CliRunner(env={"COLUMNS": "400"})
    result = runner.invoke(app, ["train", "--data", str(base / "history.parquet"), *ARGS,
                                 "--out", str(base / "model")])
    assert result.exit_code == 0, result.output
    return base / "model", result.output


def _engine_scores(strategy: Path, frame: pl.DataFrame) -> np.ndarray[Any, Any]:
    compiled = compile_strategy(strategy)
    doc = yaml.safe_load(strategy.read_text(encoding="utf-8"))
    decisions = evaluate_batch(compiled, frame.select(list(doc["inputs"])))
    assert decisions["error"].null_count() == decisions.height
    return decisions["score.score"].to_numpy()


@pytest.mark.slow
def test_engine_scores_every_record_as_the_workbench(
        trained: tuple[TrainResult, Path, list[Any]], history: pl.DataFrame) -> None:
    result, out, _ = trained
    engine = _engine_scores(out / "strategy.yaml", history)
    workbench = result.predict_score(history)
    assert np.array_equal(engine, workbench)  # to the point, on train, test and out-of-time
    for value, card in result.scorecards.items():
        rows = history.filter(pl.col("channel") == value)
        assert np.array_equal(_engine_scores(out / "strategy.yaml", rows),
                              card.predict_score(rows))
    assert json.loads((out / "metrics.json").read_text())["engine_check"]["mismatches"] == 0


@pytest.mark.slow
def test_cli_writes_every_file(cli_out: tuple[Path, str],
                               trained: tuple[TrainResult, Path, list[Any]]) -> None:
    out, output = cli_out
    _, api_out, _ = trained
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"strategy.yaml", "report.html", "metrics.json", "scorecards/score_online.yaml",
            "scorecards/score_branch.yaml", "scorecards/score_partner.yaml"} <= names
    assert {f"bin_tables/{seg}__{c}.csv" for seg in ("online", "branch", "partner")
            for c in CHARACTERISTICS} <= names
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    # The command fits the same model as the API (same data, same seed).
    for name in ("strategy.yaml", "scorecards/score_online.yaml"):
        assert (out / name).read_text() == (api_out / name).read_text()
    assert re.search(r"test: [\d,]+ records, bad rate [\d.]+ %, AUC 0\.\d{3}", output)
    assert "Scorecards: " in output and "fengkong validate" in output
    table = pl.read_csv(out / "bin_tables/online__bureau_score.csv")
    assert {"bin", "kind", "count", "event_rate", "woe", "iv", "in_scorecard"} <= set(
        table.columns)


@pytest.mark.slow
def test_routing_and_protected_attributes(cli_out: tuple[Path, str]) -> None:
    out, _ = cli_out
    doc = yaml.safe_load((out / "strategy.yaml").read_text())
    assert not set(PROTECTED) & set(doc["inputs"])
    assert "application_id" not in doc["inputs"] and "applied_at" not in doc["inputs"]
    routes = doc["segments"]
    assert [r.get("when") for r in routes[:-1]] == [
        f"channel == '{r['name'].removeprefix('segment_')}'" for r in routes[:-1]]
    assert "when" not in routes[-1]  # the largest segment also takes unseen and missing values
    assert doc["use"]["score"] == f"score_{routes[-1]['name'].removeprefix('segment_')}"
    metrics = json.loads((out / "metrics.json").read_text())
    excluded = {e["column"]: e["reason"] for e in metrics["excluded"]}
    assert all("protected" in excluded[c] for c in PROTECTED)
    for seg in metrics["segments"].values():
        assert not {c["name"] for c in seg["characteristics"]} & set(PROTECTED)
    assert set(metrics["fairness"]["attributes"]) == set(PROTECTED)
    assert set(metrics["samples"]) == {"train", "test", "oot"}


@pytest.mark.slow
def test_report_has_what_a_validator_asks_for(cli_out: tuple[Path, str]) -> None:
    out, _ = cli_out
    page = (out / "report.html").read_text()
    for section in ("overview", "performance", "characteristics", "stability", "segments",
                    "fairness", "points", "deploy"):
        assert f'<section id="{section}">' in page
    labels = re.findall(r'<svg role="img" aria-label="([^"]*)"', page)
    for seg in ("online", "branch", "partner"):
        for chart in ("IV ranking", "ROC", "KS", "Calibration", "Score distributions",
                      "Score stability"):
            assert f"{chart}, segment {seg}" in labels, (chart, seg)
    assert any(label.startswith("WoE by bin of bureau_score") for label in labels)
    for attr in PROTECTED:
        assert f"Approval rate by {attr}" in labels
    for text in ("Gains and lift", "CSI per characteristic", "four-fifths", "base points",
                 "Checked: the engine scored", "scorecards/score_online.yaml"):
        assert text in page
    assert "<script" not in page and not re.search(r'(src|href)="https?:', page)


@pytest.mark.slow
def test_progress_is_reported(trained: tuple[TrainResult, Path, list[tuple[str, int, int]]]
                              ) -> None:
    _, _, calls = trained
    stages = [c[0] for c in calls]
    assert "splitting" in stages and "binning (online)" in stages
    assert "checking the export with the engine" in stages
    assert all(0 <= done <= total for _, done, total in calls)


@pytest.mark.slow
def test_csv_without_segments(runner: CliRunner, history: pl.DataFrame, tmp_path: Path) -> None:
    history.head(6_000).write_csv(tmp_path / "h.csv")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "h.csv"), "--target", "bad",
                                 "--exclude", "application_id,applied_at,channel",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((tmp_path / "m" / "strategy.yaml").read_text())
    assert "segments" not in doc and list(doc["scorecards"]) == ["score_all"]
    # Protected attributes are only excluded when named: here they are candidates.
    assert "oot" not in json.loads((tmp_path / "m" / "metrics.json").read_text())["samples"]


# -- bad input -----------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    frame = pl.DataFrame({
        "x": rng.normal(size=n), "grade": rng.choice(["a", "b"], n),
        "channel": ["tiny"] * 5 + ["app"] * (n - 5),
        "outcome3": rng.integers(0, 3, n), "bad": rng.integers(0, 2, n)})
    frame.write_csv(tmp_path / "small.csv")
    return tmp_path / "small.csv"


@pytest.mark.parametrize(("args", "option", "needle"), [
    (["--target", "nope"], "--target", "`nope` is not in the data"),
    (["--target", "outcome3"], "--target", "`outcome3` must be binary"),
    (["--target", "grade"], "--target", "('a', 'b')"),
    (["--target", "bad", "--segment-by", "region"], "--segment-by", "`region` is not in the data"),
    (["--target", "bad", "--segment-by", "channel"], "--segment-by", "`channel = tiny`"),
    (["--target", "bad", "--exclude", "ghost"], "--exclude", "`ghost` is not in the data"),
    (["--target", "bad", "--protected", "gender"], "--protected", "`gender` is not in the data"),
    (["--target", "bad", "--time-column", "grade"], "--time-column", "not ISO dates"),
])
def test_bad_input_exits_2(runner: CliRunner, small: Path, args: list[str], option: str,
                           needle: str) -> None:
    out = small.parent / "model"
    result = runner.invoke(app, ["train", "--data", str(small), *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert option in result.output and needle in result.output
    assert not out.exists()


def test_missing_outcomes_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    pl.DataFrame({"x": [1.0, 2.0, 3.0], "bad": [0, None, 1]}).write_csv(tmp_path / "t.csv")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "t.csv"), "--target", "bad",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "`bad` has 1 missing values" in result.output


@pytest.mark.slow
def test_whole_number_segments(history: pl.DataFrame, tmp_path: Path) -> None:
    codes = {"online": 1, "branch": 2, "partner": 3}
    frame = history.head(8_000).with_columns(
        pl.col("channel").replace_strict(codes, return_dtype=pl.Int64)).select(
        "bureau_score", "debt_to_income", "housing", "channel", "bad")
    result = train(frame, target="bad", segment_by="channel")
    result.write(tmp_path / "m")  # the engine check inside compares every held-out record
    doc = yaml.safe_load((tmp_path / "m" / "strategy.yaml").read_text())
    assert doc["inputs"]["channel"]["type"] == "int"
    assert {r.get("when") for r in doc["segments"][:-1]} <= {"channel == 1", "channel == 2",
                                                             "channel == 3"}
    assert np.array_equal(_engine_scores(tmp_path / "m" / "strategy.yaml", frame),
                          result.predict_score(frame))
