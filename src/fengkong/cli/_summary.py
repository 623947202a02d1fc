"""Portfolio summaries of a decisions table: outcome shares, rates by group, reason codes.

Every function takes the table :func:`fengkong.evaluate_batch` returns (``keep``
columns may be in front) and returns a small Polars frame; rendering is elsewhere.
"""

from __future__ import annotations

import polars as pl

#: The outcomes in the order they are reported; any other value follows, sorted.
OUTCOMES = ("approve", "refer", "decline")

#: How rows with invalid input are labelled in :func:`outcome_table`.
INPUT_ERROR = "input error"

_DECIDED = pl.col("error").is_null()
_APPROVED = pl.col("decision") == "approve"


def _outcome_order(values: list[str]) -> list[str]:
    return [o for o in OUTCOMES if o in values] + sorted(v for v in values if v not in OUTCOMES)


def outcome_table(decisions: pl.DataFrame, *, bad_column: str | None = None) -> pl.DataFrame:
    """Rows and share of all rows per outcome; rows with input errors are counted apart.

    Parameters
    ----------
    decisions
        A decisions table (with ``decision`` and ``error``).
    bad_column
        Optional 0/1 outcome column (e.g. ``bad`` in the demo data); adds its mean
        per outcome as ``bad_rate``.

    Returns
    -------
    polars.DataFrame
        ``decision`` (str), ``rows`` (int), ``share`` (float, of all rows) and
        optionally ``bad_rate`` (float), in the order approve, refer, decline,
        others, then ``input error``.
    """
    label = pl.when(_DECIDED).then(pl.col("decision")).otherwise(pl.lit(INPUT_ERROR))
    aggs = [pl.len().cast(pl.Int64).alias("rows")]
    if bad_column is not None:
        aggs.append(pl.col(bad_column).cast(pl.Float64).mean().alias("bad_rate"))
    grouped = decisions.group_by(label.alias("decision")).agg(aggs)
    total = max(decisions.height, 1)
    grouped = grouped.with_columns((pl.col("rows") / total).alias("share"))
    values = [v for v in grouped["decision"].to_list() if v != INPUT_ERROR]
    order = [*_outcome_order(values), INPUT_ERROR]
    rank = {name: i for i, name in enumerate(order)}
    cols = ["decision", "rows", "share", *(["bad_rate"] if bad_column is not None else [])]
    return (
        grouped.with_columns(
            pl.col("decision").replace_strict(rank, return_dtype=pl.Int64).alias("_rank")
        )
        .sort("_rank")
        .select(cols)
    )


def rates_by(decisions: pl.DataFrame, column: str | None = None) -> pl.DataFrame:
    """Outcome rates per value of ``column`` (or overall), with approvals' average terms.

    Rows with input errors are left out.

    Parameters
    ----------
    decisions
        A decisions table.
    column
        The grouping column (e.g. ``segment``, ``experiment.apr_test``); ``None``
        for one overall row.

    Returns
    -------
    polars.DataFrame
        ``group`` (str; null where ``column`` is null, ``"all"`` overall), ``rows``,
        one ``<outcome>_rate`` column per outcome present, ``avg_limit`` and
        ``avg_apr`` (means over approvals; null without approvals). Sorted by
        descending rows.
    """
    decided = decisions.filter(_DECIDED)
    outcomes = _outcome_order(decided["decision"].drop_nulls().unique().to_list())
    if not outcomes:
        outcomes = list(OUTCOMES)
    group = pl.lit("all") if column is None else pl.col(column).cast(pl.String)
    aggs = [
        pl.len().cast(pl.Int64).alias("rows"),
        *((pl.col("decision") == o).mean().alias(f"{o}_rate") for o in outcomes),
        pl.col("limit").filter(_APPROVED).mean().alias("avg_limit"),
        pl.col("apr").filter(_APPROVED).mean().alias("avg_apr"),
    ]
    return (
        decided.group_by(group.alias("group"))
        .agg(aggs)
        .sort(["rows", "group"], descending=[True, False], nulls_last=True)
    )


def experiment_columns(decisions: pl.DataFrame) -> list[str]:
    """The experiment arm columns (``experiment.<id>``) of a decisions table, in order.

    Parameters
    ----------
    decisions
        A decisions table.

    Returns
    -------
    list of str
    """
    return [c for c in decisions.columns if c.startswith("experiment.")]


def top_reasons(decisions: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The ``n`` reason codes given most often, over decided rows.

    Parameters
    ----------
    decisions
        A decisions table (``reasons`` is a list of codes per row).
    n
        How many to return.

    Returns
    -------
    polars.DataFrame
        ``reason`` (str), ``rows`` (rows that carry it) and ``share`` (of decided
        rows), most frequent first; ties by code.
    """
    decided = decisions.filter(_DECIDED)
    total = max(decided.height, 1)
    return (
        decided.select(pl.col("reasons").list.unique().explode().alias("reason"))
        .drop_nulls()
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .with_columns((pl.col("rows") / total).alias("share"))
        .sort(["rows", "reason"], descending=[True, False])
        .head(n)
    )


def input_error_rows(decisions: pl.DataFrame) -> int:
    """How many rows could not be decided because their input was invalid.

    Parameters
    ----------
    decisions
        A decisions table.

    Returns
    -------
    int
    """
    return decisions.height - decisions.filter(_DECIDED).height
