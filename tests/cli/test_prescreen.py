"""``fengkong prescreen``: a prospect list in, every prospect's offer and selection out."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.demo import example_strategy_path
from fengkong.lifecycle import prospects

STRATEGY = example_strategy_path().parents[1] / "acquisition" / "strategy.yaml"


@pytest.fixture(scope="module")
def prospect_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("acq") / "prospects.parquet"
    prospects(5_000, seed=4).write_parquet(path)
    return path


@pytest.mark.parametrize("limit", [["--volume", "300"], ["--budget", "500"]])
def test_prescreen_writes_offers(runner: CliRunner, prospect_file: Path, tmp_path: Path,
                                 limit: list[str]) -> None:
    out = tmp_path / "offers.parquet"
    result = runner.invoke(app, ["prescreen", str(STRATEGY), "--prospects", str(prospect_file),
                                 *limit, "--out", str(out)])
    assert result.exit_code == 0, result.output
    offers = pl.read_parquet(out)
    assert offers.height == 5_000
    chosen = offers.filter(pl.col("selected"))
    if limit[0] == "--volume":
        assert chosen.height == 300
    else:
        assert 0 < chosen["contact_cost"].sum() <= 500
    assert chosen["consent_ok"].all()
    assert offers.filter(~pl.col("selected"))["reason"].null_count() == 0
    assert "all" in result.output


def test_prescreen_needs_a_constraint(runner: CliRunner, prospect_file: Path,
                                      tmp_path: Path) -> None:
    result = runner.invoke(app, ["prescreen", str(STRATEGY), "--prospects", str(prospect_file),
                                 "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert not (tmp_path / "o.parquet").exists()
