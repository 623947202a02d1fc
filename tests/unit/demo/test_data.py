"""Tests of the synthetic application generator (fengkong.demo)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fengkong.demo import COLUMNS, generate_applications, write_applications

ROWS = 50_000
BUREAU = [c for c in COLUMNS if c.startswith("bureau.")]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return generate_applications(ROWS, seed=123)


def _check_char(body: str) -> str:
    return ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def test_same_seed_gives_identical_frame() -> None:
    assert_frame_equal(generate_applications(2_000, seed=5), generate_applications(2_000, seed=5))


def test_different_seed_gives_different_frame() -> None:
    a = generate_applications(2_000, seed=5)
    b = generate_applications(2_000, seed=6)
    assert not a.equals(b)


def test_columns_and_dtypes(frame: pl.DataFrame) -> None:
    assert frame.columns == list(COLUMNS)
    assert dict(frame.schema) == COLUMNS
    assert frame.height == ROWS


def test_application_ids_unique_and_formatted(frame: pl.DataFrame) -> None:
    ids = frame["application_id"]
    assert ids.n_unique() == ROWS
    assert ids.str.contains(r"^A\d{10}$").all()
    assert ids[0] == "A0000000001"


def test_dates_in_range(frame: pl.DataFrame) -> None:
    assert frame["applied_at"].min() >= dt.date(2025, 1, 1)
    assert frame["applied_at"].max() <= dt.date(2026, 6, 30)


def test_id_numbers_have_valid_check_characters(frame: pl.DataFrame) -> None:
    ids = frame["applicant.id_number"]
    assert ids.str.contains(r"^\d{17}[\dX]$").all()
    sample = ids.head(5_000).to_list()
    assert all(_check_char(i[:17]) == i[17] for i in sample)


def test_id_numbers_are_consistent_with_age_and_gender(frame: pl.DataFrame) -> None:
    checked = frame.select(
        pl.col("applicant.id_number").str.slice(6, 8).str.to_date("%Y%m%d").alias("birth"),
        pl.col("applied_at"),
        pl.col("applicant.age"),
        pl.col("applicant.gender"),
        (pl.col("applicant.id_number").str.slice(16, 1).cast(pl.Int64) % 2).alias("odd"),
    ).with_columns(
        (
            pl.col("applied_at").dt.year().cast(pl.Int64)
            - pl.col("birth").dt.year().cast(pl.Int64)
            - (pl.col("applied_at").dt.strftime("%m%d") < pl.col("birth").dt.strftime("%m%d")).cast(
                pl.Int64
            )
        ).alias("completed_years")
    )
    assert (checked["completed_years"] == checked["applicant.age"]).all()
    assert ((checked["odd"] == 1) == (checked["applicant.gender"] == "M")).all()


def test_phone_and_name_format(frame: pl.DataFrame) -> None:
    assert frame["applicant.phone"].str.contains(r"^1[35789]\d{9}$").all()
    lengths = frame["applicant.name"].str.len_chars()
    assert lengths.min() >= 2
    assert lengths.max() <= 3


def test_categorical_levels(frame: pl.DataFrame) -> None:
    levels = {
        "channel": {"app", "partner", "branch"},
        "scenario": {"consumption", "cash", "sme"},
        "applicant.gender": {"F", "M"},
        "applicant.occupation": {"salaried", "civil_servant", "self_employed", "student", "other"},
        "applicant.education": {"high_school", "college", "bachelor", "master_plus"},
        "applicant.marital_status": {"single", "married", "divorced"},
    }
    for column, expected in levels.items():
        assert set(frame[column].unique().to_list()) == expected, column
    assert frame["applicant.province"].n_unique() == 10
    assert set(frame["loan.term_months"].unique().to_list()) <= {3, 6, 12, 24, 36}


def test_channel_mix(frame: pl.DataFrame) -> None:
    share = frame["channel"].value_counts(normalize=True).rows()
    shares = dict(share)
    assert shares["app"] == pytest.approx(0.55, abs=0.02)
    assert shares["partner"] == pytest.approx(0.30, abs=0.02)
    assert shares["branch"] == pytest.approx(0.15, abs=0.02)


def test_age_distribution(frame: pl.DataFrame) -> None:
    age = frame["applicant.age"]
    assert age.min() >= 16
    assert age.max() <= 80
    minors = (age < 18).mean()
    assert 0.001 < minors < 0.006
    assert ((age >= 20) & (age <= 60)).mean() > 0.9
    assert (age >= 71).sum() > 0
    students = frame.filter(pl.col("applicant.occupation") == "student")["applicant.age"]
    assert students.max() <= 24


def test_value_ranges(frame: pl.DataFrame) -> None:
    assert frame["applicant.id_verified"].mean() == pytest.approx(0.98, abs=0.01)
    face = frame["applicant.face_match_score"]
    assert face.min() >= 0
    assert face.max() <= 1
    assert (face > 0.8).mean() > 0.85
    assert frame["loan.amount"].min() >= 1_000
    assert frame["loan.amount"].max() <= 200_000
    score = frame["bureau.score"].drop_nulls()
    assert score.min() >= 300
    assert score.max() <= 900
    dpd = frame["bureau.max_dpd_24m"].drop_nulls()
    assert dpd.min() >= 0
    assert dpd.max() <= 180
    util = frame["bureau.credit_utilisation"].drop_nulls()
    assert util.min() >= 0
    assert util.max() <= 1.5
    assert (frame["bureau.inquiries_6m"] >= frame["bureau.inquiries_3m"]).all()
    assert frame["blacklist.hit"].mean() == pytest.approx(0.005, abs=0.003)
    game = frame["digital.game_level"].drop_nulls()
    assert game.min() >= 0
    assert game.max() <= 100


def test_money_rounded_to_cents(frame: pl.DataFrame) -> None:
    for column in ["applicant.income_monthly", "loan.amount", "bureau.monthly_debt"]:
        values = frame[column].drop_nulls().to_numpy()
        assert np.allclose(values, np.round(values, 2)), column


def test_bureau_block_null_together(frame: pl.DataFrame) -> None:
    nulls = frame.select([pl.col(c).is_null() for c in BUREAU])
    all_null = nulls.select(pl.all_horizontal(pl.all())).to_series()
    any_null = nulls.select(pl.any_horizontal(pl.all())).to_series()
    assert (all_null == any_null).all()
    assert all_null.mean() == pytest.approx(0.12, abs=0.03)


def test_alternative_data_blocks_null_together(frame: pl.DataFrame) -> None:
    blocks = [
        ["telecom.tenure_months", "telecom.monthly_bill", "telecom.real_name_verified"],
        ["ecommerce.spend_12m", "ecommerce.orders_12m"],
        ["digital.game_level", "digital.followers"],
    ]
    for block in blocks:
        nulls = frame.select([pl.col(c).is_null() for c in block])
        all_null = nulls.select(pl.all_horizontal(pl.all())).to_series()
        any_null = nulls.select(pl.any_horizontal(pl.all())).to_series()
        assert (all_null == any_null).all(), block
        assert 0 < all_null.mean() < 0.6, block


def test_bad_rate_in_range(frame: pl.DataFrame) -> None:
    assert set(frame["bad"].unique().to_list()) == {0, 1}
    assert 0.06 <= frame["bad"].mean() <= 0.08


def test_bad_rate_falls_across_bureau_score_quintiles(frame: pl.DataFrame) -> None:
    with_bureau = frame.filter(pl.col("bureau.score").is_not_null())
    score = with_bureau["bureau.score"].to_numpy()
    bad = with_bureau["bad"].to_numpy()
    order = np.argsort(score, kind="stable")
    rates = [bad[part].mean() for part in np.array_split(order, 5)]
    assert all(a > b for a, b in itertools.pairwise(rates)), rates
    assert rates[0] > 3 * rates[-1]


def test_thin_file_and_partner_channel_are_riskier(frame: pl.DataFrame) -> None:
    thin = frame.filter(pl.col("bureau.score").is_null())["bad"].mean()
    thick = frame.filter(pl.col("bureau.score").is_not_null())["bad"].mean()
    assert thin > thick
    by_channel = dict(frame.group_by("channel").agg(pl.col("bad").mean()).rows())
    assert by_channel["partner"] > by_channel["app"]
    assert by_channel["partner"] > by_channel["branch"]


def test_alternative_data_carries_signal_for_thin_file(frame: pl.DataFrame) -> None:
    thin = frame.filter(
        pl.col("bureau.score").is_null() & pl.col("telecom.tenure_months").is_not_null()
    )
    median = thin["telecom.tenure_months"].median()
    short = thin.filter(pl.col("telecom.tenure_months") < median)["bad"].mean()
    long = thin.filter(pl.col("telecom.tenure_months") >= median)["bad"].mean()
    assert short > 1.5 * long


def test_gender_not_related_to_outcome(frame: pl.DataFrame) -> None:
    by_gender = dict(frame.group_by("applicant.gender").agg(pl.col("bad").mean()).rows())
    assert by_gender["F"] == pytest.approx(by_gender["M"], abs=0.01)


def test_zero_rows() -> None:
    empty = generate_applications(0)
    assert empty.height == 0
    assert dict(empty.schema) == COLUMNS


def test_negative_rows_rejected() -> None:
    with pytest.raises(ValueError, match="rows"):
        generate_applications(-1)


def test_show_progress_gives_same_frame() -> None:
    assert_frame_equal(
        generate_applications(500, seed=2, show_progress=True), generate_applications(500, seed=2)
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_applications_round_trip(tmp_path: Path, suffix: str) -> None:
    path = write_applications(tmp_path / "sub" / f"apps{suffix}", 1_000, seed=9)
    assert path == tmp_path / "sub" / f"apps{suffix}"
    expected = generate_applications(1_000, seed=9)
    back = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path, schema=COLUMNS)
    assert_frame_equal(back, expected)


def test_write_applications_rejects_other_extensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx"):
        write_applications(tmp_path / "apps.xlsx", 10)
    assert not (tmp_path / "apps.xlsx").exists()
