"""``evaluate`` (one record) and ``evaluate_batch`` (a table): the engine's two entry points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fengkong.compile import CompiledStrategy
from fengkong.compile._batch import run_batch
from fengkong.core import Clock, SystemClock
from fengkong.engine._decision import Decision
from fengkong.errors import DataError, EvaluationError

_SYSTEM = SystemClock()


def evaluate(strategy: CompiledStrategy, record: Mapping[str, Any], *,
             clock: Clock = _SYSTEM) -> Decision:
    """Decide one record.

    Parameters
    ----------
    strategy
        From :func:`~fengkong.compile_strategy`.
    record
        Field name -> value; dotted names (``"applicant.age"``) or nested objects
        (``{"applicant": {"age": 30}}``). Dates may be ``datetime.date`` or ISO text.
    clock
        Where ``evaluated_at`` comes from.

    Returns
    -------
    Decision

    Raises
    ------
    InputValidationError
        Naming every missing, mistyped or out-of-range field; never echoing a value.

    Examples
    --------
    >>> from fengkong import compile_strategy, evaluate
    >>> from fengkong.demo import example_record, example_strategy_path
    >>> d = evaluate(compile_strategy(example_strategy_path()), example_record())
    >>> d.decision in ("approve", "decline", "refer")
    True
    """
    if type(record) is not dict and not isinstance(record, Mapping):
        msg = f"A record must be a mapping of field names to values; got {type(record).__name__}."
        raise EvaluationError(msg)
    values = strategy.online(record, clock.now())
    return Decision(strategy.columns, strategy.column_index, values)


def evaluate_batch(strategy: CompiledStrategy, table: pl.DataFrame | Any, *,
                   clock: Clock = _SYSTEM, reasons: bool = True) -> pl.DataFrame:
    """Decide every row of a table; the result has one column per decision field.

    Parameters
    ----------
    strategy
        From :func:`~fengkong.compile_strategy`.
    table
        A Polars DataFrame (or anything ``polars.DataFrame`` accepts, such as an Arrow
        table) with one column per input field, named as in the strategy.
    clock
        Where ``evaluated_at`` comes from (one time for the whole batch).
    reasons
        ``False`` leaves the ``reasons`` column null: for back-tests and reviews that
        need decisions, scores and amounts but not the ranked reasons (their assembly
        is most of the cost of a scorecard strategy). Every other column is the same.

    Returns
    -------
    polars.DataFrame
        The columns of :attr:`CompiledStrategy.columns` plus ``error``: the problems
        of a row whose inputs are invalid (its decision columns are then null).

    Raises
    ------
    DataError
        If a required column is missing or a column has the wrong type.
    """
    if not isinstance(table, pl.DataFrame):
        try:
            table = pl.DataFrame(table)
        except (TypeError, ValueError) as exc:
            msg = f"Cannot read the batch input as a table: {exc}"
            raise DataError(msg) from exc
    return run_batch(strategy.plan, table, clock.now(), strategy.batch_cache, reasons=reasons)
