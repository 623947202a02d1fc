"""``anonymize``: export a table generalised to k-anonymity and ℓ-diversity, with a report."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from fengkong.anonymize import (
    AnonymityNotMetError,
    AnonymizationConfigError,
    AnonymizationError,
    AnonymizationReport,
    AnonymizationResult,
    AnonymizationSpec,
    load_anonymization_spec,
)
from fengkong.anonymize import anonymize as anonymize_table
from fengkong.cli import _io, _render
from fengkong.errors import DataError


def _fail(err: Console, code: str, message: str) -> NoReturn:
    err.print(Text.assemble(("error", "bold red"), f"[{code}]: ", message), soft_wrap=True)
    raise typer.Exit(1)


def read_any_table(path: Path) -> pl.DataFrame:
    """Read every column of a Parquet or CSV file (CSV cells stay text).

    CSV is read as text so that identifiers with leading zeros and ``keep``
    columns are exported exactly as they were; quasi-identifiers are parsed by
    their hierarchy (numbers for bands, ISO dates for dates).

    Parameters
    ----------
    path
        The input file; the format follows its extension.

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    DataError
        If the file cannot be read; the message carries no cell value.
    """
    fmt = _io.table_format(path)
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        kind = "Parquet" if fmt == "parquet" else "CSV"
        msg = f"Cannot read `{path}` as {kind}: {_io._redact(exc)}"
        raise DataError(msg) from exc


def _report_text(report: AnonymizationReport, path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return report.to_json() + "\n"
    if suffix in (".html", ".htm"):
        return report.to_html()
    return report.to_text() + "\n"


def _write(result: AnonymizationResult, output: Path, report: Path | None) -> None:
    """Write the table and the report; both appear only if both were written."""
    fmt = _io.table_format(output)
    with ExitStack() as stack:
        tmp_out = stack.enter_context(_io.atomic_path(output))
        tmp_report = stack.enter_context(_io.atomic_path(report)) if report else None
        if fmt == "parquet":
            result.frame.write_parquet(tmp_out)
        else:
            result.frame.write_csv(tmp_out)
        if tmp_report is not None and report is not None:
            tmp_report.write_text(_report_text(result.report, report), encoding="utf-8")


def _search(frame: pl.DataFrame, spec: AnonymizationSpec, err: Console) -> AnonymizationResult:
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("nodes"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("searching the generalisation lattice", total=spec.lattice_size)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return anonymize_table(frame, spec, on_progress=advance)


def anonymize(
    input_: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            metavar="INPUT",
            show_default=False,
            help="The table to export (.parquet or .csv), e.g. decisions joined with outcomes.",
        ),
    ],
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            show_default=False,
            help="Anonymisation config (.yaml): quasi-identifiers, hierarchies, k, ℓ, target.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="Where to write the anonymised table (.parquet or .csv).",
        ),
    ],
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE",
            show_default=False,
            help="Also write the report: .json, .html, or text for any other extension.",
        ),
    ] = None,
) -> None:
    """Export a table generalised and suppressed to k-anonymity and ℓ-diversity of the target.

    Refuses (exit 1, nothing written) with ANON_K_NOT_MET or ANON_L_NOT_MET when no
    generalisation meets the config within its suppression cap.
    """
    out, err = _render.consoles()
    for path, option in ((input_, "INPUT"), (output, "--output")):
        try:
            _io.table_format(path)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from exc
    try:
        spec = load_anonymization_spec(config)
    except AnonymizationConfigError as exc:
        for d in exc.diagnostics:
            err.print(_render.diagnostic_text(d), soft_wrap=True)
        n = len(exc.diagnostics)
        _fail(err, exc.code, f"{config} has {_render.plural(n, 'error')}; nothing was written.")
    try:
        frame = read_any_table(input_)
        result = _search(frame, spec, err)
    except AnonymityNotMetError as exc:
        _fail(err, exc.code, f"{exc} Nothing was written.")
    except (AnonymizationError, DataError) as exc:
        _fail(err, exc.code, f"{exc} Nothing was written.")
    try:
        _write(result, output, report)
    except OSError as exc:
        _fail(err, "ANON_WRITE_FAILED", f"Cannot write {exc.filename or output}: "
              f"{exc.strerror or exc}. Nothing was written.")
    except pl.exceptions.PolarsError as exc:
        _fail(err, "ANON_WRITE_FAILED",
              f"Cannot write {output}: {_io._redact(exc)} Nothing was written.")
    out.print(result.report.to_text(), markup=False, soft_wrap=True, highlight=False)
    where = f"{output}" + (f" (report: {report})" if report else "")
    out.print(f"\nWrote {result.frame.height:,} rows to {where}.", markup=False, soft_wrap=True)
