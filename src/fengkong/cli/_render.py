"""What the CLI shows: diagnostics, decisions and summary tables as Rich renderables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fengkong import Decision
from fengkong.cli import _summary
from fengkong.cli._run import BatchRun
from fengkong.errors import Diagnostic

_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow"}


def consoles() -> tuple[Console, Console]:
    """The stdout and stderr consoles of one command run.

    Created per run, not at import, so each run sees the streams it was given.

    Returns
    -------
    stdout, stderr : rich.console.Console
    """
    return Console(highlight=False), Console(stderr=True, highlight=False)


def diagnostic_text(d: Diagnostic) -> Text:
    """``file:line:col: severity[code] message (at path)``, coloured.

    The plain text is exactly :meth:`Diagnostic.format`.

    Parameters
    ----------
    d
        The diagnostic.

    Returns
    -------
    rich.text.Text
    """
    where = d.file or "<strategy>"
    if d.line is not None:
        where += f":{d.line}"
        if d.column is not None:
            where += f":{d.column}"
    text = Text.assemble(
        (where, "bold"),
        ": ",
        (d.severity, _SEVERITY_STYLE.get(d.severity, "")),
        ("[", "dim"),
        (d.code, "cyan"),
        ("]", "dim"),
        " ",
        d.message,
    )
    if d.path:
        text.append(f" (at {d.path})", style="dim")
    return text


def plural(n: int, word: str) -> str:
    """``"1 error"``, ``"2 errors"``.

    Parameters
    ----------
    n
        The count.
    word
        The singular noun.

    Returns
    -------
    str
    """
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def file_summary(file: str, n_errors: int, n_warnings: int, *, strict: bool) -> Text:
    """The one-line verdict on a strategy file, e.g. ``s.yaml: ok, 2 warnings``.

    Parameters
    ----------
    file
        The file as given.
    n_errors, n_warnings
        The counts of its diagnostics.
    strict
        Whether warnings fail the file.

    Returns
    -------
    rich.text.Text
    """
    if n_errors:
        counts = plural(n_errors, "error") + (
            f", {plural(n_warnings, 'warning')}" if n_warnings else ""
        )
        return Text.assemble((file, "bold"), ": ", (counts, "bold red"))
    if n_warnings and strict:
        return Text.assemble(
            (file, "bold"),
            ": ",
            (f"{plural(n_warnings, 'warning')} (failing: --strict)", "bold red"),
        )
    if n_warnings:
        return Text.assemble(
            (file, "bold"),
            ": ",
            ("ok", "bold green"),
            ", ",
            (plural(n_warnings, "warning"), "yellow"),
        )
    return Text.assemble((file, "bold"), ": ", ("ok", "bold green"))


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    # A handful of rows in a large book should not read as zero.
    return "<0.1%" if 0 < value < 0.0005 else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _apr(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _summary_table(title: str, caption: str | None = None) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )


def outcome_renderable(
    decisions: pl.DataFrame, *, title: str = "Decisions", bad_column: str | None = None
) -> Table:
    """Rows and share per outcome (input errors last), optionally with the bad rate.

    Parameters
    ----------
    decisions
        A decisions table.
    title
        The table's title.
    bad_column
        Optional 0/1 outcome column to report the bad rate of.

    Returns
    -------
    rich.table.Table
    """
    frame = _summary.outcome_table(decisions, bad_column=bad_column)
    table = _summary_table(title)
    table.add_column("decision", no_wrap=True)
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    if bad_column is not None:
        table.add_column(f"{bad_column} rate", justify="right")
    for row in frame.iter_rows(named=True):
        cells = [row["decision"], f"{row['rows']:,}", _pct(row["share"])]
        if bad_column is not None:
            cells.append(_pct(row["bad_rate"]))
        table.add_row(*cells, style="red" if row["decision"] == _summary.INPUT_ERROR else None)
    table.add_section()
    total = [f"{decisions.height:,}", _pct(1.0 if decisions.height else None)]
    if bad_column is not None:
        total.append(_pct(decisions[bad_column].cast(pl.Float64).mean()))  # type: ignore[arg-type]
    table.add_row("total", *total)
    return table


def rates_renderable(
    decisions: pl.DataFrame,
    column: str | None,
    *,
    title: str,
    label: str = "",
    null_label: str = "(none)",
    caption: str | None = None,
) -> Table:
    """Approve/refer/decline rates and approvals' average limit and APR per group.

    Parameters
    ----------
    decisions
        A decisions table.
    column
        Grouping column, or ``None`` for one overall row.
    title
        The table's title.
    label
        Header of the group column.
    null_label
        How a null group is shown (e.g. records outside an experiment).
    caption
        A note under the table.

    Returns
    -------
    rich.table.Table
    """
    frame = _summary.rates_by(decisions, column)
    rates = [c for c in frame.columns if c.endswith("_rate")]
    table = _summary_table(title, caption)
    table.add_column(label, no_wrap=True)
    table.add_column("rows", justify="right")
    for c in rates:
        table.add_column(c.removesuffix("_rate"), justify="right")
    table.add_column("avg limit", justify="right")
    table.add_column("avg APR", justify="right")
    for row in frame.iter_rows(named=True):
        table.add_row(
            row["group"] if row["group"] is not None else null_label,
            f"{row['rows']:,}",
            *(_pct(row[c]) for c in rates),
            _money(row["avg_limit"]),
            _apr(row["avg_apr"]),
        )
    return table


def reasons_renderable(decisions: pl.DataFrame, n: int = 10) -> Table:
    """The ``n`` most frequent reason codes.

    Parameters
    ----------
    decisions
        A decisions table.
    n
        How many codes.

    Returns
    -------
    rich.table.Table
    """
    frame = _summary.top_reasons(decisions, n)
    table = _summary_table(f"Top {n} reason codes")
    table.add_column("reason", no_wrap=True)
    table.add_column("rows", justify="right")
    table.add_column("share of decided", justify="right")
    for row in frame.iter_rows(named=True):
        table.add_row(row["reason"], f"{row['rows']:,}", _pct(row["share"]))
    return table


def run_renderable(run: BatchRun, output: Path) -> Table:
    """Rows, input errors, throughput and where the decisions went.

    Parameters
    ----------
    run
        The finished batch.
    output
        The file written.

    Returns
    -------
    rich.table.Table
    """
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    errors = _summary.input_error_rows(run.decisions)
    table.add_row("rows", f"{run.decisions.height:,}")
    table.add_row("rows with input errors", Text(f"{errors:,}", style="red" if errors else ""))
    table.add_row("throughput", f"{run.rows_per_second:,.0f} rows/s ({run.seconds:.2f} s deciding)")
    table.add_row("written to", str(output))
    return table


def decision_renderable(decision: Decision, *, micros: float | None = None) -> Table:
    """The essentials of one decision as a two-column table.

    Parameters
    ----------
    decision
        The decision.
    micros
        How long it took, shown if given.

    Returns
    -------
    rich.table.Table
    """
    style = {"approve": "bold green", "refer": "bold yellow", "decline": "bold red"}
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("decision", Text(decision.decision, style=style.get(decision.decision, "bold")))
    table.add_row("segment", decision.segment)
    for exp, arm in decision.experiments.items():
        table.add_row(f"experiment {exp}", arm or "(not in experiment)")
    for slot, score in decision.scores.items():
        card = decision.components.get(slot)
        name = "score" if slot == "score" else f"score {slot}"
        table.add_row(name, "-" if score is None else f"{score:g} ({card})")
    table.add_row("limit", _money(decision.limit))
    table.add_row("APR", _apr(decision.apr))
    table.add_row("term", "-" if decision.term is None else str(decision.term))
    table.add_row("reasons", ", ".join(decision.reasons) or "-")
    table.add_row("rule hits", ", ".join(decision.rule_hits) or "-")
    if micros is not None:
        table.add_row("decided in", f"{micros:,.0f} µs")
    return table


def next_steps(lines: Sequence[tuple[str, str]]) -> Text:
    """A list of ``(what, command)`` suggestions, one command per line.

    Print it with ``soft_wrap=True`` so that commands are never broken across lines.

    Parameters
    ----------
    lines
        Pairs of a short description and the command to run.

    Returns
    -------
    rich.text.Text
    """
    text = Text()
    for what, command in lines:
        text.append(f"  {what}:\n", style="dim")
        text.append(f"    {command}\n", style="bold cyan")
    text.rstrip()
    return text
