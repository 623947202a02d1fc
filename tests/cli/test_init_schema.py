"""``fengkong init``, ``schema`` and ``demo-data``."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.demo import COLUMNS


def test_init_copies_the_pack_into_a_new_dir(
    runner: CliRunner, stub_pack: Path, tmp_path: Path
) -> None:
    target = tmp_path / "project"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "strategy.yaml").read_text() == (stub_pack / "strategy.yaml").read_text()
    assert (target / "scorecards" / "main.yaml").is_file()
    assert not (target / "__init__.py").exists()
    assert f"fengkong validate {target / 'strategy.yaml'}" in result.stdout
    assert "fengkong demo-data" in result.stdout
    assert "fengkong batch" in result.stdout
    # What was copied is a working strategy.
    check = runner.invoke(app, ["validate", str(target / "strategy.yaml")])
    assert check.exit_code == 0, check.output


def test_init_into_an_empty_existing_dir(
    runner: CliRunner, stub_pack: Path, tmp_path: Path
) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "strategy.yaml").is_file()


def test_init_refuses_a_non_empty_dir_without_force(
    runner: CliRunner, stub_pack: Path, tmp_path: Path
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "strategy.yaml").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1
    assert "--force" in result.stderr
    assert (target / "strategy.yaml").read_text() == "mine"

    forced = runner.invoke(app, ["init", "--force", str(target)])
    assert forced.exit_code == 0, forced.output
    assert (target / "strategy.yaml").read_text() == (stub_pack / "strategy.yaml").read_text()


def test_init_refuses_a_file(runner: CliRunner, stub_pack: Path, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["init", "--force", str(target)])
    assert result.exit_code == 1
    assert "not a directory" in result.stderr


def test_schema_prints_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = orjson.loads(result.stdout)
    assert "$schema" in schema
    assert "properties" in schema


def test_schema_writes_a_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "schema" / "strategy.schema.json"
    result = runner.invoke(app, ["schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "$schema" in orjson.loads(target.read_bytes())
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["apps.parquet", "apps.csv"])
def test_demo_data_writes_the_rows(runner: CliRunner, tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    result = runner.invoke(
        app, ["demo-data", "--rows", "500", "--output", str(target), "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(target) if name.endswith(".parquet") else pl.read_csv(target)
    assert frame.height == 500
    assert frame.columns == list(COLUMNS)
    assert "500" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--rows", "0", "--output", "x.parquet"],
        ["--rows", "10", "--output", "x.json"],
        ["--rows", "10"],
    ],
)
def test_demo_data_usage_errors(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = runner.invoke(app, ["demo-data", *args])
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []
