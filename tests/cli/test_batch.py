"""``fengkong batch``: Parquet and CSV in and out, chunking, summaries, errors, atomic writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner, Result

from fengkong import CompiledStrategy, evaluate_batch
from fengkong.cli import app

ROWS = 300
FrameBuilder = Callable[..., pl.DataFrame]


def _batch(runner: CliRunner, strategy: Path, src: Path, dest: Path, *extra: str) -> Result:
    return runner.invoke(
        app, ["batch", str(strategy), "--input", str(src), "--output", str(dest), *extra]
    )


def _expected(strategy: CompiledStrategy, frame: pl.DataFrame) -> pl.DataFrame:
    return evaluate_batch(strategy, frame.drop("app_id")).drop("evaluated_at")


def test_parquet_round_trip_in_chunks(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    frame = build_frame(mini, ROWS)
    frame.write_parquet(tmp_path / "in.parquet")
    result = _batch(
        runner,
        mini_path,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        "--chunk-size",
        "64",
        "--keep",
        "app_id",
    )
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.columns == ["app_id", *mini.columns, "error"]
    assert out["app_id"].to_list() == frame["app_id"].to_list()
    assert out["evaluated_at"].n_unique() == 1  # one clock reading for all chunks
    assert_frame_equal(out.drop("app_id", "evaluated_at"), _expected(mini, frame))
    assert f"{ROWS:,}" in result.stdout
    assert "approve" in result.stdout or "decline" in result.stdout


def test_csv_round_trip_keeps_numeric_looking_text(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    frame = build_frame(mini, ROWS)
    frame.write_csv(tmp_path / "in.csv")
    result = _batch(
        runner,
        mini_path,
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        "--keep",
        "app_id",
        "--keep",
        "device.note",
    )
    assert result.exit_code == 0, result.output
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    # Numeric-looking text with leading zeros comes back exactly, not as numbers.
    assert out["device.note"].to_list() == frame["device.note"].to_list()
    assert any(n and n.startswith("0") for n in out["device.note"].to_list())
    assert out["app_id"].to_list() == frame["app_id"].to_list()
    expected = _expected(mini, frame)
    assert out["decision"].to_list() == expected["decision"].to_list()
    joined = expected["reasons"].list.join("|").to_list()
    assert [r or "" for r in out["reasons"].to_list()] == joined
    assert any("|" in r for r in joined)  # the join was exercised
    assert out["evaluated_at"][0].endswith("+00:00")


def test_csv_and_parquet_inputs_decide_alike(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    frame = build_frame(mini, ROWS, seed=3)
    frame.write_csv(tmp_path / "in.csv")
    frame.write_parquet(tmp_path / "in.parquet")
    assert _batch(runner, mini_path, tmp_path / "in.csv", tmp_path / "a.parquet").exit_code == 0
    assert _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "b.parquet").exit_code == 0
    a = pl.read_parquet(tmp_path / "a.parquet").drop("evaluated_at")
    b = pl.read_parquet(tmp_path / "b.parquet").drop("evaluated_at")
    assert_frame_equal(a, b)


def test_input_errors_are_counted(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    frame = build_frame(mini, 50).with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(150)
        .otherwise(pl.col("applicant.age"))
        .alias("applicant.age")
    )
    frame.write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out["error"].is_not_null().sum() == 3
    assert "rows with input errors  3" in result.stdout
    assert "input error" in result.stdout


def test_empty_input_gives_empty_output(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    build_frame(mini, 5).head(0).write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.height == 0
    assert out.columns == [*mini.columns, "error"]


@pytest.mark.parametrize(
    ("src", "dest", "named"),
    [
        ("in.txt", "out.parquet", ".txt"),
        ("in.parquet", "out.xlsx", ".xlsx"),
        ("in.parquet", "out", "no extension"),
    ],
)
def test_unknown_extension_is_a_usage_error(
    runner: CliRunner, mini_path: Path, tmp_path: Path, src: str, dest: str, named: str
) -> None:
    (tmp_path / src).write_bytes(b"")
    result = _batch(runner, mini_path, tmp_path / src, tmp_path / dest)
    assert result.exit_code == 2
    assert named in result.output
    assert not (tmp_path / dest).exists()


def test_missing_column_is_a_data_error(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    build_frame(mini, 20).drop("channel").write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert result.exit_code == 1
    assert "`channel`" in result.stderr
    assert not (tmp_path / "out.parquet").exists()


def test_wrong_dtype_is_a_data_error(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    frame = build_frame(mini, 20).with_columns(pl.col("applicant.age").cast(pl.String))
    frame.write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert result.exit_code == 1
    assert "`applicant.age`" in result.stderr


def test_bad_csv_cell_is_named_by_column_not_value(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    secret = "11010519491231002X"
    frame = build_frame(mini, 20).with_columns(pl.col("applicant.age").cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(secret))
        .otherwise(pl.col("applicant.age"))
        .alias("applicant.age")
    )
    frame.write_csv(tmp_path / "in.csv")
    result = _batch(runner, mini_path, tmp_path / "in.csv", tmp_path / "out.parquet")
    assert result.exit_code == 1
    assert (
        "column `applicant.age` has 1 value(s) that are not integers (first in data row 5)"
        in result.stderr
    )
    assert secret not in result.output


def test_missing_keep_column_is_a_data_error(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    build_frame(mini, 5).write_parquet(tmp_path / "in.parquet")
    result = _batch(
        runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet", "--keep", "loan_no"
    )
    assert result.exit_code == 1
    assert "`loan_no`" in result.stderr


def test_keeping_a_decision_column_is_a_usage_error(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    build_frame(mini, 5).write_parquet(tmp_path / "in.parquet")
    result = _batch(
        runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet", "--keep", "segment"
    )
    assert result.exit_code == 2
    assert "segment" in result.output


def test_failed_write_leaves_nothing_behind(
    runner: CliRunner,
    mini_path: Path,
    mini: CompiledStrategy,
    build_frame: FrameBuilder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_frame(mini, 20).write_parquet(tmp_path / "in.parquet")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.parquet").write_bytes(b"previous run")

    def half_write(self: pl.DataFrame, file: Path, *args: object, **kwargs: object) -> None:
        Path(file).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", half_write)
    for name in ("new.parquet", "old.parquet"):
        result = _batch(runner, mini_path, tmp_path / "in.parquet", out_dir / name)
        assert result.exit_code == 1
        assert "No space left on device" in result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["old.parquet"]
    assert (out_dir / "old.parquet").read_bytes() == b"previous run"


def test_missing_input_file_is_a_usage_error(
    runner: CliRunner, mini_path: Path, tmp_path: Path
) -> None:
    result = _batch(runner, mini_path, tmp_path / "none.parquet", tmp_path / "out.parquet")
    assert result.exit_code == 2


def test_chunk_size_must_be_positive(runner: CliRunner, mini_path: Path, tmp_path: Path) -> None:
    (tmp_path / "in.parquet").write_bytes(b"")
    result = _batch(
        runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet", "--chunk-size", "0"
    )
    assert result.exit_code == 2


# -- personal data: never in clear; --pseudonymise decides as the service does ----------------

def test_keeping_a_personal_data_column_in_clear_is_refused(
    runner: CliRunner, mini_path: Path, mini: CompiledStrategy, build_frame: FrameBuilder,
    tmp_path: Path,
) -> None:
    build_frame(mini, 20).write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet",
                    "--keep", "applicant.id_number")
    assert result.exit_code == 2
    assert "personal data" in result.output and "--pseudonymise" in result.output
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(("extra", "hint"), [
    (["--pseudonymise"], "--tenant"),
    (["--tenant", "bank-a"], "--pseudonymise"),
])
def test_pseudonymise_and_tenant_go_together(
    runner: CliRunner, mini_path: Path, tmp_path: Path, extra: list[str], hint: str
) -> None:
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet", *extra)
    assert result.exit_code == 2 and hint in result.output


def test_pseudonymise_without_keys_fails_and_creates_none(
    runner: CliRunner, mini_path: Path, mini: CompiledStrategy, build_frame: FrameBuilder,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEYS", raising=False)
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEY_FILE", raising=False)
    build_frame(mini, 20).write_parquet(tmp_path / "in.parquet")
    result = _batch(runner, mini_path, tmp_path / "in.parquet", tmp_path / "out.parquet",
                    "--pseudonymise", "--tenant", "bank-a", "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 1 and "No pseudonym keys" in result.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_pseudonymised_batch_has_no_identifier_in_clear_and_the_services_tokens(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str,
) -> None:
    from fengkong import compile_strategy, evaluate
    from fengkong.demo import example_pack_dir, generate_applications
    from fengkong.privacy import PseudonymKeys, pseudonymise_record
    from fengkong.service import Settings

    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEY_FILE", raising=False)
    data_dir = tmp_path / "data"
    # The service's key set, rotated once: tokens are made with the current key.
    keys = PseudonymKeys.generate().rotated()
    monkeypatch.setenv("FENGKONG_PSEUDONYM_KEYS", keys.to_json())
    assert Settings(data_dir=data_dir).load_keys() == keys
    book = generate_applications(300, seed=11)
    src = tmp_path / f"in{suffix}"
    book.write_parquet(src) if suffix == ".parquet" else book.write_csv(src)
    strategy_path = example_pack_dir() / "strategy.yaml"
    dest = tmp_path / f"out{suffix}"
    pii = ["applicant.id_number", "applicant.phone", "applicant.name"]
    result = _batch(runner, strategy_path, src, dest, "--pseudonymise", "--tenant", "bank-a",
                    "--keep", "application_id", *[a for p in pii for a in ("--keep", p)],
                    "--data-dir", str(data_dir), "--chunk-size", "128")
    assert result.exit_code == 0, result.output
    assert "bank-a" in result.stdout and keys.current in result.stdout
    raw = dest.read_bytes()
    for name in pii:
        for value in book[name].drop_nulls().unique().to_list():
            assert value.encode() not in raw, name
            assert value not in result.output
    out = pl.read_parquet(dest) if suffix == ".parquet" else pl.read_csv(dest, infer_schema=False)
    assert out.columns[:4] == ["application_id", *pii]
    # Each row: the pseudonyms and the decision the decision service makes for it.
    service = compile_strategy(strategy_path, pii_tokens=True)
    fields = {f.name for f in service.plan.fields}
    for i, row in enumerate(book.head(60).iter_rows(named=True)):
        record = {k: v for k, v in row.items() if k in fields and v is not None}
        inputs, problems = pseudonymise_record(record, service.plan.pii_fields, keys,
                                               scope="bank-a")
        assert problems == []
        assert [out[name][i] for name in pii] == [inputs[name] for name in pii]
        assert out["applicant.id_number"][i].startswith(f"pn1.{keys.current}.")
        online = evaluate(service, inputs)
        assert (out["decision"][i], out["experiment.apr_test"][i]) == (
            online.decision, online.to_dict()["experiments"].get("apr_test"))
    assert not data_dir.exists()  # keys from the variable: no key file made
