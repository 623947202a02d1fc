"""Pseudonymising whole tables: the batch counterpart of :func:`pseudonymise_record`.

A back-test run with pseudonymisation sees exactly what the decision service sees: each
personal data column replaced by the tenant's pseudonyms (the same tokens the service
makes, so the output joins with the decision log and the consent registry), checked
first by the same rules, and decided by the strategy compiled with ``pii_tokens`` (so an
experiment keyed on an identifier buckets the same customers into the same arms).

The work is per distinct value, not per row: each column's distinct values are checked
and pseudonymised once (an HMAC needs Python), and the tokens are mapped back onto the
column by Polars. A book where each person applies several times pays once per person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from fengkong.compile import CompiledStrategy
from fengkong.compile.ir import FieldIR
from fengkong.core import Clock, SystemClock
from fengkong.engine import evaluate_batch
from fengkong.errors import DataError
from fengkong.privacy._ingress import pseudonymise_value
from fengkong.privacy._pseudonym import PseudonymKeys, is_pseudonym

_ACCEPTS: dict[str, tuple[type[pl.DataType], ...]] = {
    "str": (pl.String, pl.Categorical, pl.Enum),
    "enum": (pl.String, pl.Categorical, pl.Enum),
    "int": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64),
    "date": (pl.Date, pl.String),
}
# Decision columns that are the same for every row (the engine keeps them on bad rows).
_CONSTANT = ("strategy_id", "strategy_version", "strategy_digest", "evaluated_at")
_ERROR = "__fengkong_pii_error"


@dataclass(frozen=True)
class PseudonymisedFrame:
    """A table whose personal data columns hold pseudonyms.

    Attributes
    ----------
    frame
        The input with every personal data column (present) replaced by its pseudonyms
        (``String``); a value that failed its checks is null, never kept in clear.
    errors
        Per row, the problems of its personal data values (``String``, null when none),
        worded as the service words them (``input-identifier`` and the field checks).
    bad
        Per personal data column, which rows had a bad value (so a caller can tell a
        bad value from a missing one).
    """

    frame: pl.DataFrame
    errors: pl.Series
    bad: dict[str, pl.Series]


def pseudonymise_frame(frame: pl.DataFrame, fields: Sequence[FieldIR], keys: PseudonymKeys,
                       *, scope: str = "") -> PseudonymisedFrame:
    """``frame`` with each personal data column of ``fields`` replaced by its pseudonyms.

    The tokens are those :func:`~fengkong.privacy.pseudonymise_record` (the decision
    service) makes for the same value, key and scope (the tenant); values that are
    pseudonyms already are kept. Columns absent from ``frame`` are skipped.

    Raises
    ------
    DataError
        If a personal data column's type does not fit its field (named by column, never
        by value).

    >>> from fengkong.compile.ir import FieldIR
    >>> keys = PseudonymKeys.generate()
    >>> phone = FieldIR("phone", "str", True, None, None, None, 20, "phone")
    >>> out = pseudonymise_frame(pl.DataFrame({"phone": ["13800138000", "12345"]}), [phone], keys)
    >>> out.frame["phone"][0] == keys.pseudonym("phone", "13800138000"), out.frame["phone"][1]
    (True, None)
    >>> out.errors.to_list()
    [None, 'Field `phone` must be a mainland mobile number (11 digits starting with 13 to 19, optionally after +86).']
    """
    replaced: list[pl.Series] = []
    messages: list[pl.Series] = []
    bad: dict[str, pl.Series] = {}
    for f in fields:
        if f.name not in frame.columns:
            continue
        column = frame[f.name]
        tokens, problems = _column(f, column, keys, scope)
        replaced.append(tokens)
        if problems is not None:
            messages.append(problems)
            bad[f.name] = problems.is_not_null()
    out = frame.with_columns(replaced) if replaced else frame
    if messages:
        errors = pl.DataFrame(messages).select(_joined(pl.all()).alias("error")).to_series()
    else:
        errors = pl.Series("error", [None] * frame.height, dtype=pl.String)
    return PseudonymisedFrame(out, errors, bad)


def _joined(*exprs: pl.Expr) -> pl.Expr:
    """The non-null texts joined by spaces; null when there are none."""
    text = pl.concat_str(*exprs, separator=" ", ignore_nulls=True)
    return pl.when(text != "").then(text)


def _column(f: FieldIR, column: pl.Series, keys: PseudonymKeys, scope: str
            ) -> tuple[pl.Series, pl.Series | None]:
    """The column's pseudonyms, and its problems (None when every value is fine)."""
    name = column.name
    if column.dtype == pl.Null:
        return pl.Series(name, [None] * column.len(), dtype=pl.String), None
    if not isinstance(column.dtype, _ACCEPTS.get(f.type, ())):
        msg = f"Column `{name}` has type {column.dtype}; the strategy declares {f.type}."
        raise DataError(msg)
    if isinstance(column.dtype, pl.Categorical | pl.Enum):
        column = column.cast(pl.String)
    distinct = column.drop_nulls().unique()
    if distinct.len() == 0:
        return pl.Series(name, [None] * column.len(), dtype=pl.String), None
    tokens: list[str | None] = []
    problems: list[str | None] = []
    for value in distinct.to_list():
        if is_pseudonym(value):
            tokens.append(value)
            problems.append(None)
            continue
        token, problem = pseudonymise_value(f, value, keys, scope=scope)
        tokens.append(token)
        problems.append(None if problem is None else problem.message)
    mapped = column.replace_strict(distinct, pl.Series(tokens, dtype=pl.String), default=None,
                                   return_dtype=pl.String).alias(name)
    if all(p is None for p in problems):
        return mapped, None
    errors = column.replace_strict(distinct, pl.Series(problems, dtype=pl.String), default=None,
                                   return_dtype=pl.String).alias(name)
    return mapped, errors


def _check_compiled_for_tokens(strategy: CompiledStrategy) -> None:
    declared = {f.name: f for f in strategy.plan.fields}
    for pf in strategy.plan.pii_fields:
        f = declared.get(pf.name)
        if f is not None and (f.type, f.lo, f.hi, f.values, f.max_length) != (
                "str", None, None, None, None):
            msg = ("Compile the strategy with compile_strategy(..., pii_tokens=True): its personal "
                   f"data fields (such as `{pf.name}`) are to receive pseudonyms.")
            raise ValueError(msg)


def evaluate_batch_pseudonymised(strategy: CompiledStrategy, frame: pl.DataFrame,
                                 keys: PseudonymKeys, *, scope: str = "",
                                 clock: Clock | None = None, keep: Sequence[str] = ()
                                 ) -> pl.DataFrame:
    """Decide a table as the decision service would: personal data first replaced by pseudonyms.

    Parameters
    ----------
    strategy
        Compiled with ``pii_tokens=True`` (as the service compiles it).
    frame
        Raw input rows (identifiers in clear).
    keys, scope
        The service's pseudonym keys and the tenant: the tokens equal the service's.
    clock
        Where ``evaluated_at`` comes from (default: the system clock).
    keep
        Input columns to put in front of the decisions; personal data columns among them
        come out as their pseudonyms.

    Returns
    -------
    polars.DataFrame
        ``keep``, the decision columns and ``error``. A row whose personal data fails its
        checks gets its problems in ``error`` and null decision columns, as a row the
        engine finds invalid does.

    Raises
    ------
    ValueError
        If the strategy was not compiled with ``pii_tokens=True``.
    DataError
        If a column is missing or has the wrong type.
    """
    _check_compiled_for_tokens(strategy)
    done = pseudonymise_frame(frame, strategy.plan.pii_fields, keys, scope=scope)
    # A bad value is reported once, by its own check: the engine must not also call it missing.
    engine_input = done.frame.with_columns(
        pl.when(mask).then(pl.lit("")).otherwise(pl.col(name)).alias(name)
        for name, mask in done.bad.items())
    decided = evaluate_batch(strategy, engine_input, clock=clock or SystemClock())
    if done.bad:
        ok = pl.col(_ERROR).is_null()
        decided = decided.with_columns(done.errors.alias(_ERROR)).with_columns(
            *(pl.when(ok).then(pl.col(c)).alias(c)
              for c in strategy.columns if c not in _CONSTANT),
            _joined(pl.col(_ERROR), pl.col("error")).alias("error"),
        ).drop(_ERROR)
    if not keep:
        return decided
    return pl.concat([done.frame.select(keep), decided], how="horizontal")
