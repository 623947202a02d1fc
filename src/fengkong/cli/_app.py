"""The ``fengkong`` commands: each parses its options, calls the library, and sets the exit code.

Exit codes: 0 ok, 1 strategy or data errors, 2 usage errors (Typer's own).
Error messages go to stderr and never carry applicant data values.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from fengkong import CompiledStrategy, __version__, compile_strategy, demo, evaluate
from fengkong.cli import (
    _anonymize,
    _consent,
    _demo,
    _io,
    _lifecycle,
    _pack,
    _pseudonym,
    _render,
    _service,
    _train,
)
from fengkong.cli._run import DEFAULT_CHUNK_SIZE, decide_in_chunks
from fengkong.errors import DataError, Diagnostic, InputValidationError, StrategyFileError
from fengkong.strategy import strategy_json_schema

app = typer.Typer(
    name="fengkong",
    help="fengkong (风控): credit-risk decisions from a declarative strategy file.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a crashed command may hold applicant records: never print them.
    pretty_exceptions_show_locals=False,
)

StrategyArg = Annotated[
    Path,
    typer.Argument(
        help="The strategy file (.yaml, .yml or .json).", metavar="STRATEGY", show_default=False
    ),
]


def _fail(err: Console, message: str) -> NoReturn:
    err.print(Text.assemble(("error", "bold red"), ": ", message), soft_wrap=True)
    raise typer.Exit(1)


def _print_diagnostics(console: Console, diagnostics: tuple[Diagnostic, ...]) -> None:
    for d in diagnostics:
        console.print(_render.diagnostic_text(d), soft_wrap=True)


def _compile(path: Path, err: Console, *, pii_tokens: bool = False) -> CompiledStrategy:
    try:
        return compile_strategy(path, pii_tokens=pii_tokens)
    except StrategyFileError as exc:
        _print_diagnostics(err, exc.diagnostics)
        n = sum(d.severity == "error" for d in exc.diagnostics)
        _fail(err, f"{path} has {_render.plural(n, 'error')}; nothing was decided.")


def _check_table_path(path: Path, option: str) -> None:
    try:
        _io.table_format(path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _version(value: bool) -> None:  # noqa: FBT001 - Typer passes the flag positionally
    if value:
        typer.echo(f"fengkong {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """fengkong (风控): credit-risk decisions from a declarative strategy file."""


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Strategy files to check.", metavar="FILE", show_default=False),
    ],
    *,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Compile strategy files and report every error and warning with its position."""
    out, _ = _render.consoles()
    failed = False
    for file in files:
        try:
            diagnostics = compile_strategy(file).warnings
        except StrategyFileError as exc:
            diagnostics = exc.diagnostics
        _print_diagnostics(out, diagnostics)
        n_errors = sum(d.severity == "error" for d in diagnostics)
        n_warnings = len(diagnostics) - n_errors
        out.print(
            _render.file_summary(str(file), n_errors, n_warnings, strict=strict), soft_wrap=True
        )
        failed = failed or n_errors > 0 or (strict and n_warnings > 0)
    if failed:
        raise typer.Exit(1)


@app.command()
def decide(
    strategy: StrategyArg,
    input_: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            metavar="FILE",
            show_default=False,
            help="A JSON record, or an array of records; - reads stdin.",
        ),
    ],
) -> None:
    """Decide one record (or a JSON array of records) and print the decision as JSON."""
    _, err = _render.consoles()
    compiled = _compile(strategy, err)
    if input_ == "-":
        data, source = typer.get_binary_stream("stdin").read(), "<stdin>"
    else:
        try:
            data, source = Path(input_).read_bytes(), input_
        except OSError as exc:
            msg = f"Cannot read {input_}: {exc.strerror}."
            raise typer.BadParameter(msg, param_hint="--input") from exc
    try:
        records, is_array = _io.parse_records(data, source)
    except DataError as exc:
        _fail(err, str(exc))
    results: list[dict[str, object]] = []
    bad: list[int] = []
    for i, record in enumerate(records):
        try:
            results.append(evaluate(compiled, record).to_dict())
        except InputValidationError as exc:
            bad.append(i)
            prefix = f"record [{i}]: " if is_array else ""
            for p in exc.problems:
                err.print(f"{prefix}{p.field}: {p.message}", markup=False, soft_wrap=True)
    if bad:
        which = (
            f"{_render.plural(len(bad), 'record')} invalid ({', '.join(f'[{i}]' for i in bad)})"
            if is_array
            else "the record is invalid"
        )
        _fail(err, f"{source}: {which}; nothing was decided.")
    typer.echo(_io.dumps_json(results if is_array else results[0]))


@app.command()
def batch(
    strategy: StrategyArg,
    input_: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            show_default=False,
            help="Input table (.parquet or .csv).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="Where to write the decisions (.parquet or .csv).",
        ),
    ],
    chunk_size: Annotated[
        int, typer.Option(min=1, metavar="N", help="Rows decided at a time.")
    ] = DEFAULT_CHUNK_SIZE,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            metavar="COLUMN",
            show_default=False,
            help="An input column to copy into the output, e.g. an application id (repeatable). "
            "A personal data (pii:) column is written as its pseudonym, so it needs "
            "--pseudonymise.",
        ),
    ] = None,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Decide as the decision service does: replace personal data (pii:) fields by "
            "the tenant's pseudonyms first (same keys, same tokens, same experiment arms). "
            "Needs --tenant and the service's pseudonym keys.",
        ),
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            show_default=False,
            help="With --pseudonymise: the tenant whose pseudonyms to make (the service's scope).",
        ),
    ] = None,
    data_dir: _service.DataDir = Path("fengkong-data"),
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="local|spark",
            help="local: Polars on this machine. spark: the same plan on each Spark partition "
            "(pip install 'fengkong[spark]'); --output is then a folder of Parquet parts.",
        ),
    ] = "local",
    master: Annotated[
        str,
        typer.Option("--master", metavar="URL",
                     help="With --engine spark: the Spark master (spark-submit sets its own)."),
    ] = "local[*]",
    spark_path: Annotated[
        str,
        typer.Option("--spark-path", metavar="auto|native|arrow",
                     help="With --engine spark: native runs the plan as Spark SQL (no Python on "
                     "the executors), arrow runs the local batch plan on each partition; auto "
                     "takes native whenever the strategy allows it (see fengkong spark-sql)."),
    ] = "auto",
) -> None:
    """Decide every row of a Parquet or CSV file and write the decisions to a file.

    The output never holds an identifier in clear: personal data columns may be kept only
    as pseudonyms (--pseudonymise). The pseudonym keys are the service's: --data-dir's
    pseudonym-keys.json, $FENGKONG_PSEUDONYM_KEY_FILE or $FENGKONG_PSEUDONYM_KEYS.
    """
    out, err = _render.consoles()
    _check_table_path(input_, "--input")
    _check_table_path(output, "--output")
    if tenant is not None and not pseudonymise:
        msg = "A tenant names whose pseudonyms to make; it needs --pseudonymise."
        raise typer.BadParameter(msg, param_hint="--tenant")
    if pseudonymise and tenant is None:
        msg = ("--pseudonymise needs the tenant whose pseudonyms to make "
               "(tokens differ per tenant).")
        raise typer.BadParameter(msg, param_hint="--tenant")
    if engine not in ("local", "spark"):
        msg = f"Unknown engine {engine!r}; choose local or spark."
        raise typer.BadParameter(msg, param_hint="--engine")
    if engine == "spark" and pseudonymise:
        msg = "--pseudonymise runs with --engine local only."
        raise typer.BadParameter(msg, param_hint="--engine")
    if spark_path not in ("auto", "native", "arrow"):
        msg = f"Unknown Spark path {spark_path!r}; choose auto, native or arrow."
        raise typer.BadParameter(msg, param_hint="--spark-path")
    compiled = _compile(strategy, err, pii_tokens=pseudonymise)
    if compiled.warnings:
        err.print(
            f"{strategy}: {_render.plural(len(compiled.warnings), 'warning')} "
            f"(see fengkong validate {strategy})",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    columns = tuple(keep or ())
    clash = [c for c in columns if c in compiled.columns or c == "error"]
    if clash:
        msg = f"Column `{clash[0]}` is also a decision column; it cannot be kept."
        raise typer.BadParameter(msg, param_hint="--keep")
    personal = {f.name: f.pii for f in compiled.plan.pii_fields}
    clear = [c for c in columns if c in personal]
    if clear and not pseudonymise:
        msg = (f"Column `{clear[0]}` is personal data (pii: {personal[clear[0]]}) and would be "
               "written in clear; add --pseudonymise --tenant T to keep its pseudonym instead.")
        raise typer.BadParameter(msg, param_hint="--keep")
    if engine == "spark":
        from fengkong.cli._spark import batch_on_spark

        batch_on_spark(strategy, compiled, input_, output, keep=columns, master=master,
                       console=err, path=spark_path)
        return
    keys = _pseudonym.existing_keys(data_dir) if pseudonymise else None
    try:
        # Personal data columns are read as declared (they become pseudonyms after).
        raw = {f.name: f for f in compiled.plan.pii_fields}
        fields = [raw.get(f.name, f) for f in compiled.plan.fields]
        frame = _io.read_table(input_, fields, keep=columns)
        run = decide_in_chunks(compiled, frame, console=err, chunk_size=chunk_size, keep=columns,
                               keys=keys, scope=tenant or "")
        _io.write_table(run.decisions, output)
    except DataError as exc:
        _fail(err, str(exc))
    except OSError as exc:
        _fail(err, f"Cannot write {output}: {exc.strerror or exc}.")
    out.print(_render.run_renderable(run, output))
    if keys is not None:
        out.print(
            f"Personal data fields ({', '.join(personal) or 'none declared'}) were replaced by "
            f"tenant {tenant}'s pseudonyms (key {keys.current}) before deciding.",
            markup=False, soft_wrap=True)
    out.print(_render.outcome_renderable(run.decisions))


@app.command("spark-sql")
def spark_sql_(
    strategy: StrategyArg,
    table: Annotated[str, typer.Option("--table", metavar="NAME",
                                       help="The table (or view) holding one row per record.")],
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", metavar="COLUMN", show_default=False,
                     help="A column to copy into the result first, e.g. an account id (repeatable)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="TIME", show_default=False,
                     help="The decision time written into the query (ISO 8601; default: now)."),
    ] = None,
    reasons: Annotated[bool, typer.Option("--reasons/--no-reasons",
                                          help="Compute reason codes.")] = True,
) -> None:
    """Print the Spark SQL query that decides every row of a table, as the native Spark path runs it.

    The query needs no Python and no fengkong on the cluster: run it with spark-sql or
    spark.sql(). Input columns are taken to have the strategy's declared types. A strategy
    using what has no exact Spark SQL form (LightGBM models, exp, log) is refused with the
    reason; run it with fengkong batch --engine spark, which uses the Arrow path for it.
    """
    out, err = _render.consoles()
    _compile(strategy, err)
    from fengkong.spark import spark_sql

    when = None
    if at is not None:
        try:
            when = _dt.datetime.fromisoformat(at)
        except ValueError:
            msg = f"{at!r} is not an ISO 8601 time."
            raise typer.BadParameter(msg, param_hint="--at") from None
        if when.tzinfo is None:
            msg = "give the time zone, e.g. 2026-12-01T02:00:00+08:00."
            raise typer.BadParameter(msg, param_hint="--at")
    try:
        query = spark_sql(strategy, table, keep=tuple(keep or ()), at=when, reasons=reasons)
    except ValueError as exc:
        _fail(err, str(exc))
    out.print(query, markup=False, highlight=False, soft_wrap=True)


@app.command()
def init(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Where to put the example strategy pack.", metavar="DIR", show_default=False
        ),
    ],
    *,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Copy into a non-empty directory, overwriting files of the same name."
        ),
    ] = False,
) -> None:
    """Start a strategy project from the example pack (strategy plus scorecards)."""
    out, err = _render.consoles()
    if directory.exists() and not directory.is_dir():
        _fail(err, f"{directory} exists and is not a directory.")
    if _pack.has_entries(directory) and not force:
        _fail(
            err, f"{directory} is not empty; pass --force to copy the example pack into it anyway."
        )
    files = _pack.copy_pack(demo.example_pack_dir(), directory)
    out.print(f"Copied the example strategy pack into {directory}:", markup=False, soft_wrap=True)
    for f in files:
        out.print(f"  {f}", markup=False, soft_wrap=True)
    strategy = directory / _pack.STRATEGY_FILE
    data = directory / "applications.parquet"
    out.print("\nNext steps:")
    out.print(
        _render.next_steps(
            [
                ("check the strategy", f"fengkong validate {strategy}"),
                ("make demo data", f"fengkong demo-data --rows 10000 --output {data}"),
                (
                    "decide the data",
                    f"fengkong batch {strategy} --input {data} "
                    f"--output {directory / 'decisions.parquet'} --keep application_id",
                ),
            ]
        ),
        soft_wrap=True,
    )


@app.command()
def schema(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="Write to this file instead of stdout.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of strategy files (for editors and CI)."""
    text = _io.dumps_json(strategy_json_schema())
    if output is None:
        typer.echo(text)
        return
    _, err = _render.consoles()
    try:
        _io.write_text(text + "\n", output)
    except OSError as exc:
        _fail(err, f"Cannot write {output}: {exc.strerror or exc}.")
    err.print(f"Wrote the strategy JSON Schema to {output}.", markup=False, soft_wrap=True)


@app.command("demo-data")
def demo_data(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="Destination (.parquet or .csv).",
        ),
    ],
    rows: Annotated[int, typer.Option(min=1, help="How many applications.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same data.")] = 0,
) -> None:
    """Write synthetic consumer-loan applications (with a known outcome, `bad`)."""
    out, err = _render.consoles()
    _check_table_path(output, "--output")
    frame = demo.generate_applications(rows, seed=seed, show_progress=True)
    try:
        _io.write_table(frame, output)
    except OSError as exc:
        _fail(err, f"Cannot write {output}: {exc.strerror or exc}.")
    out.print(
        f"Wrote {frame.height:,} synthetic applications (seed {seed}) to {output}.",
        markup=False,
        soft_wrap=True,
    )


@app.command("demo")
def demo_(
    rows: Annotated[int, typer.Option(min=1, help="How many synthetic applications.")] = 100_000,
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", help="Where the demo's files go.")
    ] = Path("fengkong-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 0,
    lifecycle: Annotated[
        bool,
        typer.Option(
            "--lifecycle/--no-lifecycle",
            help="Then run the whole credit lifecycle (scorecards, service, book ageing, "
            "account management, collections, back-test) and write its HTML report.",
        ),
    ] = True,
    quick: Annotated[
        bool, typer.Option("--quick", help="A small lifecycle run (about a minute).")
    ] = False,
) -> None:
    """Run the whole tour: example pack, demo data, validation, online and batch decisions,
    then the credit lifecycle end to end with its HTML report."""
    out, err = _render.consoles()
    try:
        _demo.run_demo(
            directory, rows=rows, seed=seed, console=out, lifecycle=lifecycle, quick=quick
        )
    except StrategyFileError as exc:
        _print_diagnostics(err, exc.diagnostics)
        _fail(err, f"The strategy in {directory} does not compile.")
    except DataError as exc:
        _fail(err, str(exc))
    except OSError as exc:
        _fail(err, f"Cannot write into {directory}: {exc.strerror or exc}.")


app.command("anonymize")(_anonymize.anonymize)
app.command("train")(_train.train)
app.command("simulate")(_lifecycle.simulate)
app.command("prescreen")(_lifecycle.prescreen)
app.command("review")(_lifecycle.review)
app.command("monitor")(_lifecycle.monitor)
app.command("serve")(_service.serve)
app.command("openapi")(_service.openapi)
app.add_typer(_service.db_app, name="db")
app.add_typer(_service.keys_app, name="keys")
app.add_typer(_service.audit_app, name="audit")
app.add_typer(_consent.consent_app, name="consent")
app.add_typer(_lifecycle.collections_app, name="collections")
app.add_typer(_pseudonym.pseudonym_keys_app, name="pseudonym-keys")


def main() -> None:
    """Run the ``fengkong`` command line (the console-script entry point)."""
    app(prog_name="fengkong", args=sys.argv[1:])
