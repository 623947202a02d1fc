"""``fengkong decide``: one record or an array in, pretty JSON out; bad records named, not echoed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fengkong.cli import app

FAKE_ID = "11010519491231002X"  # synthetic: must never appear in any output


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "applicant": {
            "id_number": FAKE_ID,
            "age": 30,
            "income_monthly": 8000.0,
            "occupation": "salaried",
        },
        "channel": "app",
        "bureau.score": 650,
        "applicant.birth_date": "1990-01-01",
    }
    record.update(changes)
    return record


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "record.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def test_decides_one_record(runner: CliRunner, mini_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["decide", str(mini_path), "--input", str(_write(tmp_path, _record()))]
    )
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["decision"] in ("approve", "refer", "decline")
    assert out["strategy"]["id"] == "mini_loan"
    assert dt.datetime.fromisoformat(out["evaluated_at"]).tzinfo is not None
    assert result.stdout.startswith('{\n  "decision"')  # pretty, two-space indent


def test_reads_stdin(runner: CliRunner, mini_path: Path) -> None:
    result = runner.invoke(
        app, ["decide", str(mini_path), "--input", "-"], input=orjson.dumps(_record())
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["segment"] == "app_salaried"


def test_array_gives_array(runner: CliRunner, mini_path: Path, tmp_path: Path) -> None:
    doc = [_record(), _record(channel="branch")]
    result = runner.invoke(app, ["decide", str(mini_path), "-i", str(_write(tmp_path, doc))])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert [d["segment"] for d in out] == ["app_salaried", "default"]


def test_invalid_record_names_fields_not_values(
    runner: CliRunner, mini_path: Path, tmp_path: Path
) -> None:
    # The ID number is put where a number belongs: the error must name the field only.
    bad = _record(applicant={"id_number": FAKE_ID, "age": FAKE_ID, "occupation": "pilot"})
    result = runner.invoke(app, ["decide", str(mini_path), "-i", str(_write(tmp_path, bad))])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(line.startswith("applicant.age: ") for line in lines), result.stderr
    assert any(line.startswith("applicant.income_monthly: ") for line in lines)
    assert any(line.startswith("applicant.occupation: ") for line in lines)
    assert FAKE_ID not in result.output
    assert "pilot" not in result.output


def test_one_bad_record_fails_the_array_by_index(
    runner: CliRunner, mini_path: Path, tmp_path: Path
) -> None:
    doc = [_record(), _record(channel=FAKE_ID)]
    result = runner.invoke(app, ["decide", str(mini_path), "-i", str(_write(tmp_path, doc))])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "record [1]: channel: " in result.stderr
    assert "([1])" in result.stderr
    assert FAKE_ID not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"applicant": ', "not valid JSON"),
        (b'"just text"', "got a JSON string"),
        (b'[{"channel": "app"}, 3]', "record [1] is not a JSON object"),
    ],
)
def test_malformed_input_is_a_data_error(
    runner: CliRunner, mini_path: Path, text: bytes, expected: str
) -> None:
    result = runner.invoke(app, ["decide", str(mini_path), "-i", "-"], input=text)
    assert result.exit_code == 1
    assert expected in result.stderr


def test_broken_strategy_fails_with_diagnostics(runner: CliRunner, tmp_path: Path) -> None:
    strategy = tmp_path / "s.yaml"
    strategy.write_text("strategy: x\nversion: [\n", encoding="utf-8")
    result = runner.invoke(app, ["decide", str(strategy), "-i", "-"], input=b"{}")
    assert result.exit_code == 1
    assert f"{strategy}:" in result.stderr
    assert "nothing was decided" in result.stderr


def test_missing_input_file_is_a_usage_error(
    runner: CliRunner, mini_path: Path, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["decide", str(mini_path), "-i", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "none.json" in result.output
