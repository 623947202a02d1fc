"""``fengkong anonymize``: files in and out, the report, refusals and config errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from fengkong import demo
from fengkong.anonymize import check
from fengkong.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "anonymize" / "consumer_loan.yaml"
QIS = ["applicant.age", "applicant.income_monthly", "applicant.occupation",
       "applicant.education", "applicant.province"]


@pytest.fixture(scope="module")
def applications() -> pl.DataFrame:
    return demo.generate_applications(4_000, seed=3)


def run(runner: CliRunner, src: Path, dest: Path, config: Path = EXAMPLE, *extra: str) -> Result:
    return runner.invoke(
        app, ["anonymize", str(src), "--config", str(config), "--output", str(dest), *extra])


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_parquet_with_json_report(runner: CliRunner, applications: pl.DataFrame,
                                  tmp_path: Path) -> None:
    applications.write_parquet(tmp_path / "in.parquet")
    result = run(runner, tmp_path / "in.parquet", tmp_path / "out.parquet", EXAMPLE,
                 "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(tmp_path / "out.parquet")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    for identifier in ("applicant.id_number", "applicant.phone", "applicant.name",
                       "application_id"):
        assert identifier not in out.columns
    assert out.height == report["rows_out"] == report["rows_in"] - report["suppressed_rows"]
    assert report["suppression"] <= 0.05
    assert report["k"] >= 5 and report["l"] >= 2
    measured = check(out, QIS, 5, "bad", 2)
    assert measured.is_anonymous
    assert measured.k == report["k"]
    assert {q["column"] for q in report["quasi_identifiers"]} == set(QIS)
    assert "information loss" in result.stdout
    assert f"Wrote {out.height:,} rows" in result.stdout


def test_csv_in_and_out_with_html_report(runner: CliRunner, applications: pl.DataFrame,
                                         tmp_path: Path) -> None:
    applications.write_csv(tmp_path / "in.csv")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.csv", EXAMPLE,
                 "--report", str(tmp_path / "report.html"))
    assert result.exit_code == 0, result.output
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert check(out, QIS, 5, "bad", 2).is_anonymous
    assert "<table>" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_refusal_writes_nothing(runner: CliRunner, applications: pl.DataFrame,
                                tmp_path: Path) -> None:
    applications.write_parquet(tmp_path / "in.parquet")
    config = tmp_path / "anon.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8").replace("k: 5 ", "k: 50000 "),
                      encoding="utf-8")
    (tmp_path / "regions.csv").write_text(
        (EXAMPLE.parent / "regions.csv").read_text(encoding="utf-8"), encoding="utf-8")
    result = run(runner, tmp_path / "in.parquet", tmp_path / "out.parquet", config,
                 "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 1
    assert "error[ANON_K_NOT_MET]" in result.stderr
    assert "Nothing was written" in result.stderr
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "report.json").exists()
    assert leftovers(tmp_path) == []


def test_l_refusal(runner: CliRunner, tmp_path: Path) -> None:
    frame = pl.DataFrame({"age": list(range(20, 60)), "bad": [0] * 40})
    frame.write_csv(tmp_path / "in.csv")
    config = tmp_path / "anon.yaml"
    config.write_text("target: bad\nquasi_identifiers:\n  age: {type: bands, widths: [10]}\n",
                      encoding="utf-8")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.csv", config)
    assert result.exit_code == 1
    assert "error[ANON_L_NOT_MET]" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_config_error_names_file_line_and_key(runner: CliRunner, tmp_path: Path) -> None:
    pl.DataFrame({"age": [1]}).write_csv(tmp_path / "in.csv")
    config = tmp_path / "anon.yaml"
    config.write_text("k: 5\nquasi_identifiers:\n  age: {type: bands, widths: [10], orign: 0}\n",
                      encoding="utf-8")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.csv", config)
    assert result.exit_code == 1
    assert f"{config}:3:" in result.stderr
    assert "unknown-key" in result.stderr and "Did you mean `origin`?" in result.stderr
    assert "error[ANON_CONFIG_INVALID]" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_data_error(runner: CliRunner, tmp_path: Path) -> None:
    pl.DataFrame({"years": [1]}).write_csv(tmp_path / "in.csv")
    config = tmp_path / "anon.yaml"
    config.write_text("quasi_identifiers:\n  age: {type: bands, widths: [10]}\n", encoding="utf-8")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.csv", config)
    assert result.exit_code == 1
    assert "error[ANON_DATA_INVALID]" in result.stderr
    assert "`age`" in result.stderr


def test_unknown_output_format_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    pl.DataFrame({"age": [1]}).write_csv(tmp_path / "in.csv")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.xlsx", EXAMPLE)
    assert result.exit_code == 2
    assert "out.xlsx" in result.output


def test_an_unwritable_report_leaves_no_output(runner: CliRunner, tmp_path: Path) -> None:
    pl.DataFrame({"age": [20, 21, 30, 31], "bad": [0, 1, 0, 1]}).write_csv(tmp_path / "in.csv")
    config = tmp_path / "anon.yaml"
    config.write_text("target: bad\nk: 2\nquasi_identifiers:\n  age: {type: bands, widths: [10]}\n",
                      encoding="utf-8")
    (tmp_path / "blocker").write_text("a file, not a directory", encoding="utf-8")
    result = run(runner, tmp_path / "in.csv", tmp_path / "out.csv", config,
                 "--report", str(tmp_path / "blocker" / "report.json"))
    assert result.exit_code == 1
    assert "Nothing was written" in result.stderr
    assert not (tmp_path / "out.csv").exists()
    assert leftovers(tmp_path) == []
