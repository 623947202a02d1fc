"""The CLI's private helpers: table I/O, JSON records, atomic writes and summaries."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from rich.console import Console

from fengkong import CompiledStrategy
from fengkong.cli import _io, _summary
from fengkong.cli._run import decide_in_chunks
from fengkong.errors import DataError


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.parquet", "parquet"), ("a.CSV", "csv"), ("dir.d/a.csv", "csv")]
)
def test_table_format(name: str, fmt: str) -> None:
    assert _io.table_format(Path(name)) == fmt


@pytest.mark.parametrize("name", ["a.xlsx", "a.json", "a", "a.parquet.gz"])
def test_table_format_rejects(name: str) -> None:
    with pytest.raises(ValueError, match=r"use \.parquet or \.csv"):
        _io.table_format(Path(name))


def test_read_csv_converts_by_declared_type(mini: CompiledStrategy, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "applicant.id_number,applicant.age,applicant.income_monthly,bureau.bankrupt,"
        "applicant.birth_date,channel,unused\n"
        "0012345,30,100.5,TRUE,1990-01-31,app,x\n"
        ",  41 ,,false,,branch,y\n",
        encoding="utf-8",
    )
    frame = _io.read_table(path, mini.plan.fields)
    expected = pl.DataFrame(
        {
            "applicant.id_number": ["0012345", None],
            "applicant.age": [30, 41],
            "applicant.income_monthly": [100.5, None],
            "applicant.birth_date": ["1990-01-31", None],
            "channel": ["app", "branch"],
            "bureau.bankrupt": [True, False],
        }
    )
    assert_frame_equal(frame, expected, check_column_order=False)


def test_read_csv_reports_every_bad_column(mini: CompiledStrategy, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "applicant.age,bureau.score,bureau.bankrupt\n1.5,700,yes\n3,x7,no\n", encoding="utf-8"
    )
    with pytest.raises(DataError) as info:
        _io.read_table(path, mini.plan.fields)
    msg = str(info.value)
    assert (
        "column `applicant.age` has 1 value(s) that are not integers (first in data row 1)" in msg
    )
    assert "column `bureau.score` has 1 value(s) that are not integers (first in data row 2)" in msg
    assert "column `bureau.bankrupt` has 2 value(s) that are not true/false values" in msg
    assert "x7" not in msg


def test_read_error_does_not_echo_cells(mini: CompiledStrategy, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('channel,applicant.age\napp,"11010519491231002X\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        _io.read_table(path, mini.plan.fields)
    assert "11010519491231002X" not in str(info.value)
    assert str(path) in str(info.value)


def test_read_parquet_reads_only_what_is_needed(mini: CompiledStrategy, tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pl.DataFrame({"noise": [1], "channel": ["app"], "app_id": ["a"]}).write_parquet(path)
    frame = _io.read_table(path, mini.plan.fields, keep=["app_id"])
    assert frame.columns == ["app_id", "channel"]


def test_atomic_path_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with pytest.raises(RuntimeError), _io.atomic_path(target) as tmp:
        tmp.write_text("partial", encoding="utf-8")
        raise RuntimeError
    assert list((tmp_path / "sub").iterdir()) == []


def test_write_csv_flattens_lists_and_datetimes(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "reasons": [["A", "B"], []],
            "at": [dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)] * 2,
        }
    )
    _io.write_table(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        "reasons,at",
        "A|B,2024-05-01T08:30:00+00:00",
        '"",2024-05-01T08:30:00+00:00',
    ]


def test_dumps_json_is_pretty_and_exact() -> None:
    text = _io.dumps_json({"at": dt.date(2024, 1, 2), "limit": Decimal("100.10")})
    assert text == '{\n  "at": "2024-01-02",\n  "limit": "100.10"\n}'
    assert orjson.loads(text)["limit"] == "100.10"


def test_decide_in_chunks_matches_one_call(
    mini: CompiledStrategy, build_frame: Callable[..., pl.DataFrame]
) -> None:
    frame = build_frame(mini, 100)
    console = Console(file=io.StringIO())
    one = decide_in_chunks(mini, frame, console=console, chunk_size=1_000)
    many = decide_in_chunks(mini, frame, console=console, chunk_size=7, keep=["app_id"])
    assert_frame_equal(
        one.decisions.drop("evaluated_at"), many.decisions.drop("app_id", "evaluated_at")
    )
    assert many.rows_per_second > 0


DECISIONS = pl.DataFrame(
    {
        "decision": ["approve", "approve", "decline", "refer", None],
        "segment": ["a", "b", "a", "a", None],
        "experiment.t": ["x", "y", None, "x", None],
        "limit": [1000.0, 3000.0, None, 500.0, None],
        "apr": [0.10, 0.20, None, 0.15, None],
        "reasons": [["R1"], ["R1", "R2"], ["R3", "R1"], [], None],
        "bad": [0, 1, 1, 0, 0],
        "error": [None, None, None, None, "Field `x` is required."],
    },
    schema_overrides={"reasons": pl.List(pl.String)},
)


def test_outcome_table() -> None:
    table = _summary.outcome_table(DECISIONS, bad_column="bad")
    assert table.to_dicts() == [
        {"decision": "approve", "rows": 2, "share": 0.4, "bad_rate": 0.5},
        {"decision": "refer", "rows": 1, "share": 0.2, "bad_rate": 0.0},
        {"decision": "decline", "rows": 1, "share": 0.2, "bad_rate": 1.0},
        {"decision": "input error", "rows": 1, "share": 0.2, "bad_rate": 0.0},
    ]


def test_rates_by_group_and_overall() -> None:
    overall = _summary.rates_by(DECISIONS).to_dicts()
    assert overall == [
        {
            "group": "all",
            "rows": 4,
            "approve_rate": 0.5,
            "refer_rate": 0.25,
            "decline_rate": 0.25,
            "avg_limit": 2000.0,
            "avg_apr": pytest.approx(0.15),
        }
    ]
    by_segment = _summary.rates_by(DECISIONS, "segment")
    assert by_segment["group"].to_list() == ["a", "b"]
    assert by_segment["rows"].to_list() == [3, 1]
    assert by_segment.filter(pl.col("group") == "a")["avg_limit"].item() == 1000.0
    by_arm = _summary.rates_by(DECISIONS, "experiment.t")
    assert by_arm["group"].to_list() == ["x", "y", None]  # ties by name, null last


def test_top_reasons() -> None:
    top = _summary.top_reasons(DECISIONS, 2)
    assert top.to_dicts() == [
        {"reason": "R1", "rows": 3, "share": 0.75},
        {"reason": "R2", "rows": 1, "share": 0.25},
    ]


def test_input_error_rows_and_experiment_columns() -> None:
    assert _summary.input_error_rows(DECISIONS) == 1
    assert _summary.experiment_columns(DECISIONS) == ["experiment.t"]
