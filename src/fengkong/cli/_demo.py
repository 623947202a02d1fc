"""The guided demo: example pack, synthetic data, one online decision, a batch and summaries."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from fengkong import CompiledStrategy, Decision, compile_strategy, demo, evaluate
from fengkong.cli import _io, _pack, _render, _summary
from fengkong.cli._run import BatchRun, decide_in_chunks
from fengkong.errors import InputValidationError

#: Files the demo writes next to the strategy pack.
DATA_FILE = "applications.parquet"
DECISIONS_FILE = "decisions.parquet"
RECORD_FILE = "example_record.json"

#: Demo-data columns carried into the decisions file (an id to join on, the known outcome).
KEEP = ("application_id", "bad")
_OUTCOME = "bad"
_TIMING_LOOPS = 200
_RECORDS_TRIED = 1_000


@dataclass(frozen=True, slots=True)
class Example:
    """The record decided online, and what the demo learned from it."""

    row: int
    record: dict[str, Any]
    decision: Decision
    micros: float


def _say(console: Console, text: str) -> None:
    # Paths may hold "[", which Rich would read as markup.
    console.print(text, markup=False, soft_wrap=True)


def _step(console: Console, n: int, title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{n}. {title}", align="left"))


def prepare_pack(directory: Path, console: Console) -> Path:
    """Copy the example pack into ``directory`` unless a strategy is already there.

    An existing ``strategy.yaml`` is kept, so a user can edit it and run the demo again.

    Parameters
    ----------
    directory
        The demo directory.
    console
        Where to report.

    Returns
    -------
    pathlib.Path
        The strategy file.
    """
    strategy = directory / _pack.STRATEGY_FILE
    if strategy.exists():
        _say(
            console,
            f"Using the strategy already in {directory} "
            "(delete the directory to start from the example again).",
        )
        return strategy
    files = _pack.copy_pack(demo.example_pack_dir(), directory)
    _say(
        console,
        f"Copied the example strategy pack into {directory}: {', '.join(str(f) for f in files)}",
    )
    return strategy


def first_valid_record(strategy: CompiledStrategy, frame: pl.DataFrame) -> Example | None:
    """Decide the first row of ``frame`` the strategy accepts, and time that decision.

    Parameters
    ----------
    strategy
        The compiled strategy.
    frame
        The applications.

    Returns
    -------
    Example or None
        ``None`` if none of the first rows is a valid record.
    """
    names = [f.name for f in strategy.plan.fields if f.name in frame.columns]
    for i, row in enumerate(frame.head(_RECORDS_TRIED).select(names).iter_rows(named=True)):
        record = {k: v for k, v in row.items() if v is not None}
        try:
            decision = evaluate(strategy, record)
        except InputValidationError:
            continue
        started = time.perf_counter()
        for _ in range(_TIMING_LOOPS):
            evaluate(strategy, record)
        micros = (time.perf_counter() - started) / _TIMING_LOOPS * 1e6
        return Example(row=i, record=record, decision=decision, micros=micros)
    return None


def disagreements(example: Example, run: BatchRun) -> list[str]:
    """Output columns where the batch row differs from the online decision of the same record.

    Parameters
    ----------
    example
        The online decision.
    run
        The batch over the whole table.

    Returns
    -------
    list of str
        Column names (``evaluated_at`` is not compared); empty when they agree.
    """
    batch_row = run.decisions.row(example.row, named=True)
    online = example.decision.to_row()
    return [c for c, v in online.items() if c != "evaluated_at" and not _same(v, batch_row[c])]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def show_summaries(decisions: pl.DataFrame, console: Console) -> None:
    """Print outcome shares, rates by segment and experiment arm, and top reason codes.

    Parameters
    ----------
    decisions
        The decisions table (with ``bad`` if the demo data carried it).
    console
        Where to print.
    """
    bad = _OUTCOME if _OUTCOME in decisions.columns else None
    console.print(
        _render.outcome_renderable(decisions, title="Decisions (overall)", bad_column=bad)
    )
    console.print(
        _render.rates_renderable(
            decisions,
            None,
            title="Rates overall",
            caption="avg limit and avg APR are over approvals",
        )
    )
    console.print(
        _render.rates_renderable(decisions, "segment", title="By segment", label="segment")
    )
    for column in _summary.experiment_columns(decisions):
        name = column.removeprefix("experiment.")
        console.print(
            _render.rates_renderable(
                decisions,
                column,
                title=f"By arm of experiment {name}",
                label="arm",
                null_label="(not in experiment)",
            )
        )
    console.print(_render.reasons_renderable(decisions, 10))


def run_demo(
    directory: Path,
    *,
    rows: int,
    seed: int,
    console: Console,
    lifecycle: bool = False,
    quick: bool = False,
) -> None:
    """Run the whole demo, printing as it goes.

    Parameters
    ----------
    directory
        Where the pack, the data and the decisions go.
    rows
        How many synthetic applications.
    seed
        Seed of the synthetic data.
    console
        Where to print.
    lifecycle
        Then run the whole credit lifecycle (scorecards, service, book, account management,
        collections, back-test) and write its HTML report.
    quick
        Small lifecycle sizes (a first look, tests).

    Raises
    ------
    StrategyFileError
        If the strategy in ``directory`` does not compile.
    DataError
        If the data do not fit the strategy.
    OSError
        If a file cannot be written.
    """
    _step(console, 1, "Strategy pack")
    strategy_path = prepare_pack(directory, console)

    _step(console, 2, "Synthetic applications")
    frame = demo.generate_applications(rows, seed=seed, show_progress=True)
    data_path = directory / DATA_FILE
    _io.write_table(frame, data_path)
    _say(console, f"Wrote {frame.height:,} applications (seed {seed}) to {data_path}.")

    _step(console, 3, "Validate the strategy")
    strategy = compile_strategy(strategy_path)
    for warning in strategy.warnings:
        console.print(_render.diagnostic_text(warning), soft_wrap=True)
    console.print(
        _render.file_summary(str(strategy_path), 0, len(strategy.warnings), strict=False),
        soft_wrap=True,
    )
    _say(
        console,
        f"{strategy.strategy_id} v{strategy.version}: {len(strategy.plan.fields)} inputs, "
        f"{len(strategy.plan.rules)} rules, {len(strategy.plan.scorecards)} scorecards, "
        f"{len(strategy.plan.tables)} tables ({strategy.digest[:19]}…)",
    )

    _step(console, 4, "Decide one application online")
    example = first_valid_record(strategy, frame)
    if example is None:
        console.print("[yellow]None of the first applications is a valid record; skipping.")
    else:
        _io.write_text(_io.dumps_json(example.record) + "\n", directory / RECORD_FILE)
        _say(console, f"Application {example.row + 1} (saved as {directory / RECORD_FILE}):")
        console.print(_render.decision_renderable(example.decision, micros=example.micros))

    _step(console, 5, "Decide all applications in batch")
    keep = [c for c in KEEP if c in frame.columns]
    run = decide_in_chunks(strategy, frame, console=console, keep=keep)
    decisions_path = directory / DECISIONS_FILE
    _io.write_table(run.decisions, decisions_path)
    console.print(_render.run_renderable(run, decisions_path))
    if example is not None:
        differ = disagreements(example, run)
        if differ:
            console.print(
                f"[bold red]Online and batch disagree on application {example.row + 1} "
                f"in: {escape(', '.join(differ))}",
                soft_wrap=True,
            )
        else:
            console.print(
                f"[green]Online and batch agree on application {example.row + 1}, "
                "column for column."
            )

    _step(console, 6, "Portfolio summary")
    show_summaries(run.decisions, console)

    step = 7
    report: Path | None = None
    if lifecycle:
        from fengkong.cli._demo_lifecycle import run_lifecycle

        life = run_lifecycle(directory, quick=quick, seed=seed, console=console, first_step=7)
        step = life.next_step
        report = life.report
    _step(console, step, "Next steps")
    steps = next_steps(directory, strategy_path, has_record=example is not None)
    if report is not None:
        steps.insert(0, ("open the lifecycle report", str(report)))
    console.print(_render.next_steps(steps), soft_wrap=True)


def next_steps(directory: Path, strategy: Path, *, has_record: bool) -> list[tuple[str, str]]:
    """The commands to try after the demo.

    Parameters
    ----------
    directory
        The demo directory.
    strategy
        The strategy file.
    has_record
        Whether an example record was saved.

    Returns
    -------
    list of (description, command)
    """
    steps = [("check the strategy", f"fengkong validate {strategy}")]
    if has_record:
        steps.append(
            ("decide one record", f"fengkong decide {strategy} --input {directory / RECORD_FILE}")
        )
    steps += [
        (
            "decide a file",
            f"fengkong batch {strategy} --input {directory / DATA_FILE} "
            f"--output {directory / 'decisions.csv'} --keep application_id",
        ),
        ("change the strategy, then", f"fengkong demo --dir {directory}"),
    ]
    return steps
