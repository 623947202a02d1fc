"""``train``: from a table of applications with outcomes to a deployable scorecard strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from fengkong.cli import _render

_OPTIONS = {
    "data": "--data",
    "target": "--target",
    "segment_by": "--segment-by",
    "time_column": "--time-column",
    "oot_months": "--oot-months",
    "exclude": "--exclude",
    "protected": "--protected",
    "test_size": "--test-size",
}


def _fail(err: Console, message: str) -> NoReturn:
    err.print(Text.assemble(("error", "bold red"), ": ", message), soft_wrap=True)
    raise typer.Exit(1)


def _split_names(values: list[str] | None) -> list[str]:
    """Column names from repeated options, each possibly comma-separated."""
    out: list[str] = []
    for v in values or ():
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


class _Bar:
    """One Rich progress bar fed by the workbench's (stage, done, total) callbacks."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task(stage, total=total)
        self.progress.update(self.task, description=stage, completed=done, total=total)

    def reset(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = None


def train(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            show_default=False,
            help="Historical applications with their outcome (.parquet or .csv).",
        ),
    ],
    target: Annotated[
        str,
        typer.Option(
            "--target", metavar="COLUMN", show_default=False, help="The outcome: 1 = bad, 0 = good."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            show_default=False,
            help="Where to write the strategy, scorecards, bin tables, metrics and report.",
        ),
    ],
    segment_by: Annotated[
        str | None,
        typer.Option(
            "--segment-by",
            metavar="COLUMN",
            show_default=False,
            help="Fit one scorecard per value of this column (e.g. channel).",
        ),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column",
            metavar="COLUMN",
            show_default=False,
            help="Application date: its last --oot-months months are the out-of-time sample.",
        ),
    ] = None,
    oot_months: Annotated[
        int, typer.Option("--oot-months", min=1, metavar="N", help="Months out of time.")
    ] = 3,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="COLUMN",
            show_default=False,
            help="A column that is not a characteristic (ids, later information); repeatable "
            "or comma-separated.",
        ),
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option(
            "--protected",
            metavar="COLUMNS",
            show_default=False,
            help="Protected attributes (e.g. gender,age_band,region): never used by the model, "
            "only for the fairness report.",
        ),
    ] = None,
    test_size: Annotated[
        float,
        typer.Option("--test-size", min=0.0, max=1.0, metavar="SHARE",
                     help="Share of the records held out for testing."),
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/test split.")] = 42,
    special: Annotated[
        list[float] | None,
        typer.Option(
            "--special",
            metavar="VALUE",
            show_default=False,
            help="A special value binned on its own where it occurs (default -999); repeatable.",
        ),
    ] = None,
    stepwise: Annotated[
        bool,
        typer.Option(
            "--stepwise/--all-characteristics",
            help="Choose the card's characteristics by forward selection (BIC) among those "
            "that pass the IV, correlation, VIF and stability filters, or use all of them.",
        ),
    ] = True,
    cutoff: Annotated[
        float | None,
        typer.Option(
            "--cutoff",
            metavar="SCORE",
            show_default=False,
            help="Approve at this score or above in the fairness report (default: the score of "
            "maximum KS on the test records).",
        ),
    ] = None,
) -> None:
    """Fit binning, selection and a scorecard (per segment), evaluate, and export a strategy.

    Writes into --out: strategy.yaml and scorecards/*.yaml (compiled, and checked to score
    the held-out records exactly as fitted, before anything is written), bin_tables/*.csv,
    metrics.json and report.html (the model report for validation). Bad input (a missing
    column, a target that is not 0/1, a segment too small to fit) exits with code 2.
    """
    from fengkong.workbench._train import (
        ExportCheckError,
        TrainingInputError,
        read_table,
    )
    from fengkong.workbench._train import train as fit

    out_console, err = _render.consoles()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    bar = _Bar(progress)
    try:
        with progress:
            bar("reading the data", 0, 1)
            frame = read_table(data)
            bar.reset()
            result = fit(
                frame, target=target, segment_by=segment_by, time_column=time_column,
                oot_months=oot_months, exclude=_split_names(exclude),
                protected=_split_names(protected), test_size=test_size, seed=seed,
                special_values=tuple(special) if special is not None else (-999.0,),
                cutoff=cutoff, source=data.name, progress=bar, stepwise=stepwise)
            bar.reset()
            files = result.write(out, progress=bar)
    except TrainingInputError as exc:
        raise typer.BadParameter(str(exc), param_hint=_OPTIONS.get(exc.parameter, "--data")) \
            from exc
    except ExportCheckError as exc:
        _fail(err, f"{exc} Nothing was written to {out}.")
    except OSError as exc:
        _fail(err, f"Cannot write into {out}: {exc.strerror or exc}.")
    overall = result.report.overall_metrics
    for name in ("train", "test", "oot"):
        m = overall.get(name)
        if m and "auc" in m:
            out_console.print(
                f"{name:>5}: {int(m['n']):,} records, bad rate {100 * m['bad_rate']:.2f} %, "
                f"AUC {m['auc']:.3f}, Gini {m['gini']:.3f}, KS {100 * m['ks']:.1f}",
                markup=False, soft_wrap=True, highlight=False)
    cards = ", ".join(f"{k} ({len(v.features_)} characteristics)"
                      for k, v in result.scorecards.items())
    out_console.print(f"Scorecards: {cards}.", markup=False, soft_wrap=True, highlight=False)
    out_console.print(f"Wrote {len(files)} files to {out}: strategy.yaml, scorecards/, "
                      "bin_tables/, metrics.json, report.html.", markup=False, soft_wrap=True,
                      highlight=False)
    out_console.print(_render.next_steps([
        ("read the report", f"{out / 'report.html'}"),
        ("check the strategy", f"fengkong validate {out / 'strategy.yaml'}"),
        ("score new applications",
         f"fengkong batch {out / 'strategy.yaml'} --input new.parquet --output scores.parquet"),
    ]), soft_wrap=True)
