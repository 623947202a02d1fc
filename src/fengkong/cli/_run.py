"""Deciding a table in chunks, with a Rich progress bar over the rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from fengkong import CompiledStrategy, evaluate_batch
from fengkong.core import FixedClock, SystemClock
from fengkong.privacy import PseudonymKeys, evaluate_batch_pseudonymised

#: Rows decided per call to :func:`fengkong.evaluate_batch` unless told otherwise.
DEFAULT_CHUNK_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class BatchRun:
    """The result of :func:`decide_in_chunks`.

    Attributes
    ----------
    decisions
        ``keep`` columns, then the decision columns and ``error``, one row per input row.
    seconds
        Wall time spent deciding (reading and writing files excluded).
    """

    decisions: pl.DataFrame
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Decisions per second of wall time (0 for an empty run)."""
        return self.decisions.height / self.seconds if self.seconds > 0 else 0.0


class _RateColumn(ProgressColumn):
    """Rows per second, averaged over the whole run so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("- rows/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:,.0f} rows/s", style="progress.data.speed")


def progress_bar(console: Console) -> Progress:
    """A progress bar showing rows done / total, rows per second and time left.

    Parameters
    ----------
    console
        Where to draw it (stderr for ``batch``, so stdout stays clean).

    Returns
    -------
    rich.progress.Progress
    """
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def decide_in_chunks(
    strategy: CompiledStrategy,
    frame: pl.DataFrame,
    *,
    console: Console,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keep: Sequence[str] = (),
    description: str = "deciding",
    keys: PseudonymKeys | None = None,
    scope: str = "",
) -> BatchRun:
    """Decide every row of ``frame`` with :func:`fengkong.evaluate_batch`, chunk by chunk.

    Every chunk is decided with the same clock reading, so ``evaluated_at`` is one
    time for the whole run, as if the table had been decided in one call.

    Parameters
    ----------
    strategy
        The compiled strategy.
    frame
        Input rows; ``keep`` columns are copied to the output unchanged.
    console
        Where the progress bar is drawn.
    chunk_size
        Rows per chunk (>= 1).
    keep
        Input columns to put in front of the decision columns (e.g. an application id).
    description
        Label of the progress bar.
    keys, scope
        With keys, decide as the decision service does
        (:func:`fengkong.privacy.evaluate_batch_pseudonymised`): personal data fields are
        replaced by pseudonyms of tenant ``scope`` first, and ``keep`` columns that are
        personal data come out as pseudonyms. ``strategy`` must then be compiled with
        ``pii_tokens=True``.

    Returns
    -------
    BatchRun

    Raises
    ------
    DataError
        If a required column is missing or a column has the wrong type.
    ValueError
        If ``chunk_size`` < 1, or a ``keep`` column has the name of a decision column.
    """
    if chunk_size < 1:
        msg = f"chunk_size must be >= 1. Got {chunk_size} instead."
        raise ValueError(msg)
    clash = [k for k in keep if k in strategy.columns or k == "error"]
    if clash:
        msg = f"Cannot keep column `{clash[0]}`: the decisions have a column of that name."
        raise ValueError(msg)
    clock = FixedClock(SystemClock().now())

    def decide(part: pl.DataFrame) -> pl.DataFrame:
        if keys is not None:
            return evaluate_batch_pseudonymised(strategy, part, keys, scope=scope, clock=clock,
                                                keep=keep)
        decided = evaluate_batch(strategy, part, clock=clock)
        return pl.concat([part.select(keep), decided], how="horizontal") if keep else decided

    # An empty slice checks columns and types before the bar starts, and gives an
    # empty input its output columns.
    chunks = [decide(frame.head(0))]
    started = time.perf_counter()
    with progress_bar(console) as progress:
        task = progress.add_task(description, total=frame.height)
        for offset in range(0, frame.height, chunk_size):
            part = frame.slice(offset, chunk_size)
            chunks.append(decide(part))
            progress.advance(task, part.height)
    decisions = pl.concat(chunks, how="vertical", rechunk=True)
    return BatchRun(decisions=decisions, seconds=time.perf_counter() - started)
