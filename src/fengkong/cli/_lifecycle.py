"""The credit-lifecycle commands: each reads its tables, calls :mod:`fengkong.lifecycle`, and
prints a short summary (the jobs themselves draw nothing; long ones report progress here)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from fengkong import CompiledStrategy, compile_strategy
from fengkong.cli import _io, _render
from fengkong.errors import DataError, StrategyFileError

if TYPE_CHECKING:
    from fengkong.lifecycle import Economics, Simulation
    from fengkong.lifecycle._contact import ContactPolicy
    from fengkong.lifecycle._review import ReviewConfig


def _fail(err: Console, message: str) -> NoReturn:
    err.print(Text.assemble(("error", "bold red"), ": ", message), soft_wrap=True)
    raise typer.Exit(1)


def _compile(path: Path, err: Console) -> CompiledStrategy:
    try:
        return compile_strategy(path)
    except StrategyFileError as exc:
        for d in exc.diagnostics:
            err.print(_render.diagnostic_text(d), soft_wrap=True)
        n = sum(d.severity == "error" for d in exc.diagnostics)
        _fail(err, f"{path} has {_render.plural(n, 'error')}; nothing was run.")


def _progress(err: Console) -> tuple[Progress, Callable[[str, int, int], None]]:
    """A transient Rich bar and the ``progress(stage, done, total)`` callback feeding it."""
    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    task: list[TaskID] = []

    def update(stage: str, done: int, total: int) -> None:
        if not task:
            task.append(progress.add_task(stage, total=total))
        progress.update(task[0], description=stage, completed=done, total=total)

    return progress, update


Engine = Annotated[str, typer.Option(
    "--engine", metavar="local|spark",
    help="local: Polars on this machine. spark: the job on each Spark partition "
    "(pip install 'fengkong[spark]'); the output tables are then folders of Parquet parts.")]
Master = Annotated[str, typer.Option(
    "--master", metavar="URL",
    help="With --engine spark: the Spark master (spark-submit sets its own).")]


def _on_spark(engine: str) -> bool:
    if engine not in ("local", "spark"):
        msg = f"Unknown engine {engine!r}; choose local or spark."
        raise typer.BadParameter(msg, param_hint="--engine")
    return engine == "spark"


def _local_only(value: object, option: str) -> None:
    if value is not None:
        msg = f"{option} runs with --engine local only."
        raise typer.BadParameter(msg, param_hint="--engine")


def _parquet_parts(path: Path | None, option: str) -> None:
    if path is not None and path.suffix.lower() != ".parquet":
        msg = "With --engine spark the table is a folder of Parquet parts: use a .parquet name."
        raise typer.BadParameter(msg, param_hint=option)


def _pct(v: object) -> str:
    return f"{100 * v:.2f} %" if isinstance(v, float) else "–"


def _money(v: object) -> str:
    return f"{v:,.0f}" if isinstance(v, int | float) else "–"


def _columns(path: Path) -> list[str]:
    """The column names of a Parquet or CSV table."""
    try:
        lf = pl.scan_parquet(path) if _io.table_format(path) == "parquet" else pl.scan_csv(path)
        return lf.collect_schema().names()
    except (OSError, pl.exceptions.PolarsError) as exc:
        msg = f"Cannot read `{path}`: {type(exc).__name__}."
        raise DataError(msg) from exc


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def simulate(
    champion: Annotated[Path, typer.Option("--champion", exists=True, dir_okay=False,
                                           metavar="STRATEGY", show_default=False,
                                           help="The strategy in production.")],
    challenger: Annotated[Path, typer.Option("--challenger", exists=True, dir_okay=False,
                                             metavar="STRATEGY", show_default=False,
                                             help="The strategy to compare with it.")],
    history: Annotated[Path, typer.Option(
        "--history", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Historical applications with their outcome (.parquet or .csv).")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", show_default=False,
                                      help="Where report.html, decisions.parquet and "
                                      "summary.json go.")],
    outcome: Annotated[str, typer.Option("--outcome", metavar="COLUMN",
                                         help="The outcome: 1 bad, 0 good, empty unknown.")
                       ] = "bad",
    segment_by: Annotated[str | None, typer.Option(
        "--segment-by", metavar="COLUMN", show_default=False,
        help="Group the report by this history column (default: the champion's segment).")
    ] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", metavar="COLUMN", show_default=False,
        help="Carry this column into decisions.parquet (default application_id if present).")
    ] = None,
    pd_from: Annotated[str, typer.Option(
        "--pd-from", metavar="champion|challenger",
        help="Whose score is calibrated into the probability of default.")] = "challenger",
    funding_rate: Annotated[float, typer.Option("--funding-rate", min=0.0, max=1.0,
                                                help="Annual cost of funds.")] = 0.04,
    lgd: Annotated[float, typer.Option("--lgd", min=0.0, max=1.0,
                                       help="Loss given default, share of exposure.")] = 0.65,
    cost_per_loan: Annotated[float, typer.Option("--cost-per-loan", min=0.0,
                                                 help="Cost of booking one loan.")] = 150.0,
    engine: Engine = "local",
    master: Master = "local[*]",
) -> None:
    """Back-test a challenger strategy against the champion over historical applications.

    Both run through the production engine. Writes report.html (approval, bad rates, swap
    matrix, limit and price changes, expected profit; overall and by segment),
    decisions.parquet (one row per application) and summary.json into --out.
    """
    from fengkong.lifecycle import Economics, write_simulation
    from fengkong.lifecycle import simulate as run

    if pd_from not in ("champion", "challenger"):
        msg = "use champion or challenger"
        raise typer.BadParameter(msg, param_hint="--pd-from")
    out_console, err = _render.consoles()
    a, b = _compile(champion, err), _compile(challenger, err)
    fields = {f.name: f for f in (*a.plan.fields, *b.plan.fields)}
    keep = [c for c in dict.fromkeys([outcome, segment_by, id_column]) if c]
    try:
        _io.table_format(history)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--history") from exc
    economics = Economics(funding_rate=funding_rate, lgd=lgd, cost_per_loan=cost_per_loan)
    if _on_spark(engine):
        sim, paths = _simulate_on_spark(champion, challenger, history, out, outcome=outcome,
                                        segment_by=segment_by, id_column=id_column,
                                        pd_from=pd_from, economics=economics, master=master,
                                        err=err)
        _print_simulation(out_console, sim, a, b, paths)
        return
    progress, update = _progress(err)
    try:
        with progress:
            update("reading the history", 0, 1)
            present = _columns(history)
            for option, name in (("--outcome", outcome), ("--segment-by", segment_by),
                                 ("--id-column", id_column)):
                if name is not None and name not in present:
                    _fail(err, f"{history} has no column `{name}` (given with {option}).")
            table = _io.read_table(history, list(fields.values()), keep=keep)
            sim = run(a, b, table, outcome=outcome, segment_by=segment_by, id_column=id_column,
                      economics=economics,
                      pd_from="champion" if pd_from == "champion" else "challenger",
                      progress=update)
            update("writing the report", 0, 1)
            paths = write_simulation(sim, out)
    except DataError as exc:
        _fail(err, str(exc))
    except OSError as exc:
        _fail(err, f"Cannot write into {out}: {exc.strerror or exc}.")
    _print_simulation(out_console, sim, a, b, paths)


def _print_simulation(out_console: Console, sim: Simulation, a: CompiledStrategy,
                      b: CompiledStrategy, paths: dict[str, Path]) -> None:
    o = sim.overall
    t = Table(title=f"{a.strategy_id} v{a.version} (champion) vs {b.strategy_id} v{b.version} "
              f"(challenger), {sim.decisions.height:,} applications", title_justify="left")
    for col in ("", "champion", "challenger"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row("approval rate", _pct(o["champion_approval_rate"]),
              _pct(o["challenger_approval_rate"]))
    t.add_row("bad rate of the approved", _pct(o["champion_bad_rate"]),
              _pct(o["challenger_bad_rate"]))
    t.add_row("expected profit", _money(o["champion_expected_profit"]),
              _money(o["challenger_expected_profit"]))
    out_console.print(t)
    out_console.print(
        f"swap-in {o['swap_in']:,} (bad rate {_pct(o['swap_in_bad_rate'])} observed, "
        f"{_pct(o['swap_in_expected_bad_rate'])} expected); swap-out {o['swap_out']:,} "
        f"(bad rate {_pct(o['swap_out_bad_rate'])}).", markup=False, soft_wrap=True,
        highlight=False)
    out_console.print(f"Wrote {paths['report']}, {paths['decisions']} and {paths['summary']}.",
                      markup=False, soft_wrap=True, highlight=False)


def _simulate_on_spark(champion: Path, challenger: Path, history: Path, out: Path, *,
                       outcome: str, segment_by: str | None, id_column: str | None,
                       pd_from: str, economics: Economics, master: str, err: Console
                       ) -> tuple[Simulation, dict[str, Path]]:
    """The back-test on Spark: decisions.parquet is a folder of parts, the rest as locally."""
    from fengkong.cli._spark import read_table, session, spark_failures
    from fengkong.lifecycle._simulate_report import _atomic, render_report
    from fengkong.spark._lifecycle import simulate_spark

    spark = session(master, "fengkong-simulate")
    paths = {"decisions": out / "decisions.parquet", "summary": out / "summary.json",
             "report": out / "report.html"}
    with spark_failures(lambda message: _fail(err, message), f"Cannot simulate on {history}: "):
        try:
            frame: Any = read_table(spark, history)
            for option, name in (("--outcome", outcome), ("--segment-by", segment_by),
                                 ("--id-column", id_column)):
                if name is not None and name not in frame.columns:
                    _fail(err, f"{history} has no column `{name}` (given with {option}).")
            run = simulate_spark(champion, challenger, frame, outcome=outcome,
                                 segment_by=segment_by, id_column=id_column, economics=economics,
                                 pd_from=pd_from)
            out.mkdir(parents=True, exist_ok=True)
            run.decisions.write.mode("overwrite").parquet(str(paths["decisions"]))
            run.unpersist()
            sim = run.simulation
            text = json.dumps(sim.summary(), indent=2, ensure_ascii=False, default=str) + "\n"
            _atomic(paths["summary"], lambda p: p.write_text(text, encoding="utf-8"))
            report = render_report(sim)
            _atomic(paths["report"], lambda p: p.write_text(report, encoding="utf-8"))
        except DataError as exc:
            _fail(err, str(exc))
        except OSError as exc:
            _fail(err, f"Cannot write into {out}: {exc.strerror or exc}.")
    return sim, paths


# --------------------------------------------------------------------------------------------
# review (account management)
# --------------------------------------------------------------------------------------------


def _review_table(summary: object) -> Table:
    import polars as pl

    assert isinstance(summary, pl.DataFrame)
    table = Table(title="Account review by segment and action", title_justify="left")
    for name in ("segment", "action", "control", "accounts", "exposure added",
                 "exposure removed", "EL change", "notices", "guarded"):
        table.add_column(name, justify="left" if name in ("segment", "action", "control") else "right")
    cols = ["accounts", "exposure_added", "exposure_removed", "el_change", "notices", "guarded"]
    rows = [*summary.iter_rows(named=True)]
    total = summary.select(pl.col(cols).sum()).row(0, named=True)
    for i, r in enumerate([*rows, {"segment": "total", "action": "", "control": False, **total}]):
        if i == len(rows):
            table.add_section()
        table.add_row(r["segment"], r["action"], "yes" if r["control"] else "",
                      f"{r['accounts']:,}", _money(r["exposure_added"]),
                      _money(r["exposure_removed"]), f"{r['el_change']:+,.0f}",
                      f"{r['notices']:,}", f"{r['guarded']:,}")
    return table


def review(
    strategy: Annotated[Path, typer.Argument(
        metavar="STRATEGY", show_default=False,
        help="The account-management strategy (stage: account_management).")],
    accounts: Annotated[Path, typer.Option(
        "--accounts", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="The book: one row per account at the review date (.parquet).")],
    as_of: Annotated[str, typer.Option(
        "--as-of", metavar="DATE", show_default=False,
        help="Review date (YYYY-MM-DD); adverse-action notices are due 30 days after it.")],
    out: Annotated[Path, typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="Where to write the actions (.parquet); notices.parquet, summary.csv and "
             "summary.json are written next to it.")],
    history: Annotated[Path | None, typer.Option(
        "--history", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Monthly account history (.parquet): recompute the behaviour features from it "
             "(the book is then held in memory).")] = None,
    control_share: Annotated[float, typer.Option(
        "--control-share", min=0.0, max=1.0, metavar="SHARE",
        help="Share of accounts held out as the control group.")] = 0.05,
    control_salt: Annotated[str, typer.Option(
        "--control-salt", metavar="TEXT",
        help="Salt of the control-group hash (a new salt draws a new group).")] = "account-review",
    dpd_months: Annotated[int, typer.Option(
        "--dpd-months", metavar="N",
        help="No increase with any DPD in the last N months (3, 6 or 12).")] = 6,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, metavar="N", help="Accounts per chunk.")] = 500_000,
    engine: Engine = "local",
    master: Master = "local[*]",
) -> None:
    """Review the whole book: line increases, price discounts, early warning, notices."""
    import datetime as dt

    import polars as pl

    from fengkong.lifecycle._review import ReviewConfig, behaviour_features, review_to_files

    console, err = _render.consoles()
    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError as exc:
        msg = f"Expected a date YYYY-MM-DD; got {as_of!r}."
        raise typer.BadParameter(msg, param_hint="--as-of") from exc
    if out.suffix.lower() != ".parquet":
        msg = "The actions are written as Parquet: use a .parquet file."
        raise typer.BadParameter(msg, param_hint="--out")
    if dpd_months not in (3, 6, 12):
        msg = "Use 3, 6 or 12."
        raise typer.BadParameter(msg, param_hint="--dpd-months")
    compiled = _compile(strategy, err)
    if compiled.plan.stage != "account_management":
        _fail(err, f"{strategy} is a `{compiled.plan.stage}` strategy; the review needs "
                   "`stage: account_management`.")
    config = ReviewConfig(control_share=control_share, control_salt=control_salt,
                          dpd_lookback_months=dpd_months, chunk_size=chunk_size)
    if _on_spark(engine):
        _local_only(history, "--history")
        _review_on_spark(strategy, accounts, day, out, config, master, console, err)
        return
    source: pl.DataFrame | Path = accounts
    progress, update = _progress(err)
    try:
        if history is not None:
            feats = behaviour_features(pl.scan_parquet(history), as_of=day)
            book = pl.read_parquet(accounts)
            book = book.drop([c for c in feats.columns if c != "account_id" and c in book.columns])
            source = book.join(feats, on="account_id", how="left")
        with progress:
            run = review_to_files(compiled, source, as_of=day, out=out, config=config,
                                  progress=update)
    except (DataError, ValueError, pl.exceptions.PolarsError) as exc:
        _fail(err, f"Cannot review {accounts}: {exc}")
    except OSError as exc:
        _fail(err, f"Cannot read or write: {exc.strerror or exc}.")
    console.print(_review_table(run.summary))
    console.print(f"{run.accounts:,} accounts reviewed in {run.seconds:.1f} s "
                  f"({run.accounts_per_second:,.0f} accounts/s); "
                  f"{run.notices:,} adverse-action notices.")
    for key, path in run.files.items():
        console.print(f"  {key}: {path}")


def _review_on_spark(strategy: Path, accounts: Path, day: _dt.date, out: Path,
                     config: ReviewConfig, master: str, console: Console, err: Console) -> None:
    """The review on Spark: actions and notices are folders of Parquet parts."""
    import time

    from fengkong.cli._spark import read_table, session, spark_failures
    from fengkong.spark._lifecycle import review_spark

    started = time.perf_counter()
    spark = session(master, "fengkong-review")
    notices_out, stem = out.parent / "notices.parquet", out.parent / "summary"
    with spark_failures(lambda message: _fail(err, message), f"Cannot review {accounts}: "):
        try:
            run = review_spark(strategy, read_table(spark, accounts),  # type: ignore[arg-type]
                               as_of=day, config=config)
            run.actions.write.mode("overwrite").parquet(str(out))
            run.notices.write.mode("overwrite").parquet(str(notices_out))
            run.unpersist()
            run.summary.write_csv(stem.with_suffix(".csv"))
            run.summary.write_json(stem.with_suffix(".json"))
        except (DataError, ValueError, pl.exceptions.PolarsError) as exc:
            _fail(err, f"Cannot review {accounts}: {exc}")
        except OSError as exc:
            _fail(err, f"Cannot read or write: {exc.strerror or exc}.")
    seconds = time.perf_counter() - started
    accounts_n, notices_n = (int(run.summary[c].sum()) for c in ("accounts", "notices"))
    console.print(_review_table(run.summary))
    console.print(f"{accounts_n:,} accounts reviewed on Spark ({master}) in {seconds:.1f} s; "
                  f"{notices_n:,} adverse-action notices.", markup=False)
    for key, path in (("actions", out), ("notices", notices_out),
                      ("summary_csv", stem.with_suffix(".csv")),
                      ("summary_json", stem.with_suffix(".json"))):
        console.print(f"  {key}: {path}", markup=False)


# --------------------------------------------------------------------------------------------
# prescreen (acquisition)
# --------------------------------------------------------------------------------------------


def prescreen(
    strategy: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="STRATEGY",
                                             show_default=False,
                                             help="The acquisition strategy.")],
    prospects: Annotated[Path, typer.Option(
        "--prospects", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="The prospect list (.parquet or .csv), with marketing_consent.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", show_default=False,
                                      help="Where the offers go (.parquet or .csv): every "
                                      "prospect, selected or not, with the reason.")],
    budget: Annotated[float | None, typer.Option(
        "--budget", min=0.0, metavar="AMOUNT", show_default=False,
        help="Most total contact cost to spend.")] = None,
    volume: Annotated[int | None, typer.Option(
        "--volume", min=0, metavar="N", show_default=False,
        help="Most prospects to contact.")] = None,
    funding_rate: Annotated[float, typer.Option("--funding-rate", min=0.0, max=1.0,
                                                help="Annual cost of funds.")] = 0.04,
    lgd: Annotated[float, typer.Option("--lgd", min=0.0, max=1.0,
                                       help="Loss given default, share of exposure.")] = 0.65,
    utilisation: Annotated[float, typer.Option(
        "--utilisation", min=0.0, max=1.0,
        help="Expected drawn share of the pre-approved limit.")] = 0.5,
) -> None:
    """Pre-screen prospects with an acquisition strategy and choose whom to contact.

    Prospects without marketing consent for credit offers are never selected. The rest,
    eligible with a positive expected profit, are ranked (by profit per unit of contact cost
    under --budget, by profit under --volume) and cut at the constraint.
    """
    from fengkong.lifecycle import OfferEconomics
    from fengkong.lifecycle import prescreen as run

    if budget is None and volume is None:
        msg = "give --budget or --volume (or both)"
        raise typer.BadParameter(msg, param_hint="--budget")
    for path, option in ((prospects, "--prospects"), (out, "--out")):
        try:
            _io.table_format(path)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from exc
    out_console, err = _render.consoles()
    compiled = _compile(strategy, err)
    progress, update = _progress(err)
    try:
        with progress:
            update("reading the prospects", 0, 1)
            table = _read_any(prospects)
            result = run(compiled, table, budget=budget, volume=volume,
                         economics=OfferEconomics(funding_rate=funding_rate, lgd=lgd,
                                                  utilisation=utilisation), progress=update)
            _io.write_table(result.offers, out)
    except DataError as exc:
        _fail(err, str(exc))
    except OSError as exc:
        _fail(err, f"Cannot write {out}: {exc.strerror or exc}.")
    t = Table(title=f"{compiled.strategy_id} v{compiled.version}: "
              f"{result.offers.height:,} prospects", title_justify="left",
              box=box.SIMPLE_HEAD)
    for col in ("segment", "prospects", "eligible", "blocked", "selected", "cost", "profit"):
        t.add_column(col, justify="left" if col == "segment" else "right")
    for r in [*result.by_segment.to_dicts(), {**result.overall, "segment": "all"}]:
        t.add_row(str(r["segment"]), f"{r['prospects']:,}", f"{r['eligible']:,}",
                  f"{r['consent_blocked']:,}", f"{r['selected']:,}", _money(r["contact_cost"]),
                  _money(r["expected_profit"]))
    t.caption = ("blocked: eligible, but no marketing consent for credit offers; profit: "
                 "expected profit of the selected contacts")
    t.caption_justify = "left"
    out_console.print(t)
    out_console.print(f"Wrote {out}.", markup=False, soft_wrap=True, highlight=False)


def _read_any(path: Path) -> pl.DataFrame:
    """A whole Parquet or CSV table (CSV columns typed by Polars' inference)."""
    try:
        if _io.table_format(path) == "parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        msg = f"Cannot read `{path}`: {type(exc).__name__}."
        raise DataError(msg) from exc


# --------------------------------------------------------------------------------------------
# collections (催收)
# --------------------------------------------------------------------------------------------

collections_app = typer.Typer(
    help="Collections (催收): the daily work list and the roll-rate / vintage / kept-rate report.",
    no_args_is_help=True)

_COLLECTIONS_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "collections" \
    / "strategy.yaml"


def _date_option(value: str, option: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(value)
    except ValueError as exc:
        msg = "use YYYY-MM-DD"
        raise typer.BadParameter(msg, param_hint=option) from exc


def _table_option(path: Path | None, option: str) -> None:
    if path is None:
        return
    try:
        _io.table_format(path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _promise_outcomes(promises: Path | None, payments: Path | None, as_of: _dt.date,
                      grace_days: int) -> pl.DataFrame | None:
    """Promise outcomes: the file as is when it has ``status``, else evaluated on payments."""
    from fengkong.lifecycle._ptp import evaluate_promises

    if promises is None:
        return None
    table = _read_any(promises)
    if "status" in table.columns:
        return table
    if payments is None:
        msg = "--promises without a status column needs --payments to decide kept or broken."
        raise DataError(msg)
    return evaluate_promises(table, _read_any(payments), as_of=as_of, grace_days=grace_days)


_FileOpt = typer.Option  # short alias for the many file options below


@collections_app.command("plan")
def collections_plan(
    accounts: Annotated[Path, _FileOpt("--accounts", exists=True, dir_okay=False,
                                       metavar="FILE", show_default=False,
                                       help="Accounts at the review date (the book's accounts "
                                       "table, .parquet or .csv).")],
    date: Annotated[str, typer.Option("--date", metavar="YYYY-MM-DD", show_default=False,
                                      help="The day planned.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", show_default=False,
                                      help="The work list (.parquet or .csv).")],
    strategy: Annotated[Path | None, _FileOpt(
        "--strategy", exists=True, dir_okay=False, metavar="STRATEGY", show_default=False,
        help="A stage: collections strategy (default: the example).")] = None,
    history: Annotated[Path | None, _FileOpt(
        "--history", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Monthly history: fills payments_on_time_12m, max_dpd_12m... when the "
        "accounts lack them.")] = None,
    contacts: Annotated[Path | None, _FileOpt(
        "--contacts", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Past contact attempts (account_id, channel, attempted_at) for the frequency "
        "cap.")] = None,
    promises: Annotated[Path | None, _FileOpt(
        "--promises", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Promises to pay (promise_id, account_id, promised_on, due_date, amount), or "
        "their outcomes (with status).")] = None,
    payments: Annotated[Path | None, _FileOpt(
        "--payments", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Payments (account_id, paid_at, amount) to decide the promises.")] = None,
    blocked: Annotated[Path | None, typer.Option(
        "--blocked", metavar="FILE", show_default=False,
        help="Also write the blocked contacts with the rule that blocked each.")] = None,
    grace_days: Annotated[int, typer.Option("--grace-days", min=0,
                                            help="Days after a promise's due date.")] = 3,
    start: Annotated[str, typer.Option("--start", metavar="HH:MM",
                                       help="Earliest local contact time.")] = "08:00",
    end: Annotated[str, typer.Option("--end", metavar="HH:MM",
                                     help="Local time contacts must be before.")] = "21:00",
    max_calls: Annotated[int, typer.Option("--max-calls", min=0,
                                           help="Call attempts per debt in --window-days.")
                         ] = 7,
    window_days: Annotated[int, typer.Option("--window-days", min=1)] = 7,
    engine: Engine = "local",
    master: Master = "local[*]",
) -> None:
    """Write the day's collections work list, ranked by expected recovery per unit of cost.

    The strategy scores every delinquent account and picks a treatment per segment and
    bucket; broken promises move an account to the next treatment step; likely self-curers
    get digital reminders only; every contact passes the contact-policy guard (local hours,
    frequency cap, opt-outs, no third parties) and blocked ones say which rule blocked them.
    """
    from fengkong.lifecycle._collections import fill_from_history, plan_worklist
    from fengkong.lifecycle._contact import ContactPolicy

    day = _date_option(date, "--date")
    for p, opt in ((accounts, "--accounts"), (out, "--out"), (history, "--history"),
                   (contacts, "--contacts"), (promises, "--promises"),
                   (payments, "--payments"), (blocked, "--blocked")):
        _table_option(p, opt)
    try:
        policy = ContactPolicy(start=_dt.time.fromisoformat(start),
                               end=_dt.time.fromisoformat(end), max_call_attempts=max_calls,
                               window_days=window_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start/--end") from exc
    spark = _on_spark(engine)
    if spark:
        _local_only(history, "--history")
        _parquet_parts(out, "--out")
        _parquet_parts(blocked, "--blocked")
    out_console, err = _render.consoles()
    compiled = _compile(strategy or _COLLECTIONS_EXAMPLE, err)
    if spark:
        summary, total, rules = _plan_on_spark(
            strategy or _COLLECTIONS_EXAMPLE, accounts, day, out, blocked, contacts=contacts,
            promises=promises, payments=payments, grace_days=grace_days, policy=policy,
            master=master, err=err)
        _print_worklist(out_console, compiled, day, summary, total, rules, out)
        return
    progress, update = _progress(err)
    try:
        with progress:
            update("reading", 0, 1)
            table = _read_any(accounts)
            if history is not None:
                table = fill_from_history(table, _read_any(history))
            past = _read_any(contacts) if contacts is not None else None
            outcomes = _promise_outcomes(promises, payments, day, grace_days)
            result = plan_worklist(compiled, table, date=day, contacts=past, promises=outcomes,
                                   policy=policy, progress=update)
            update("writing", 0, 1)
            _io.write_table(result.worklist, out)
            if blocked is not None:
                _io.write_table(result.blocked, blocked)
    except (DataError, ValueError, pl.exceptions.PolarsError) as exc:
        _fail(err, str(exc) if isinstance(exc, DataError | ValueError)
              else f"{type(exc).__name__} in the input tables.")
    except OSError as exc:
        _fail(err, f"Cannot write {out}: {exc.strerror or exc}.")
    wl = result.worklist
    summary = (wl.group_by("bucket", "treatment")
               .agg(pl.len().alias("accounts"), pl.col("balance").sum().alias("balance"),
                    pl.col("expected_recovery").sum().alias("recovery"),
                    pl.col("cost").sum().alias("cost"),
                    (pl.col("contact_status") == "blocked").sum().alias("blocked"))
               .sort("bucket", "treatment"))
    rules = ([*result.blocked["blocked_rule"].value_counts(sort=True).iter_rows()]
             if result.blocked.height else [])
    _print_worklist(out_console, compiled, day, summary, wl.height, rules, out)


def _print_worklist(out_console: Console, compiled: CompiledStrategy, day: _dt.date,
                    summary: pl.DataFrame, total: int, rules: list[tuple[Any, ...]],
                    out: Path) -> None:
    t = Table(title=f"{compiled.strategy_id} v{compiled.version} · {day}: "
              f"{total:,} delinquent accounts", title_justify="left")
    for col in ("bucket", "treatment", "accounts", "balance", "expected recovery", "cost",
                "blocked"):
        t.add_column(col, justify="left" if col in ("bucket", "treatment") else "right")
    for r in summary.to_dicts():
        t.add_row(str(r["bucket"]), str(r["treatment"]), f"{r['accounts']:,}",
                  _money(r["balance"]), _money(r["recovery"]), _money(r["cost"]),
                  f"{r['blocked']:,}")
    out_console.print(t)
    if rules:
        out_console.print("Blocked contacts: " + ", ".join(
            f"{r} {n:,}" for r, n in rules), markup=False, highlight=False)
    out_console.print(f"Wrote {out}.", markup=False, soft_wrap=True, highlight=False)


def _plan_on_spark(strategy: Path, accounts: Path, day: _dt.date, out: Path,
                   blocked: Path | None, *, contacts: Path | None, promises: Path | None,
                   payments: Path | None, grace_days: int, policy: ContactPolicy, master: str,
                   err: Console) -> tuple[pl.DataFrame, int, list[tuple[Any, ...]]]:
    """The work list on Spark: Parquet parts; the side tables are read here, as locally.

    Returns the summary by bucket and treatment, the number of accounts and the blocked
    contacts by rule (Spark aggregations).
    """
    from fengkong.cli._spark import read_table, session, spark_failures
    from fengkong.spark._lifecycle import collections_plan_spark

    spark = session(master, "fengkong-collections")
    from pyspark.sql import functions as F
    with spark_failures(lambda message: _fail(err, message)):
        try:
            past = _read_any(contacts) if contacts is not None else None
            outcomes = _promise_outcomes(promises, payments, day, grace_days)
            run = collections_plan_spark(strategy, read_table(spark, accounts),  # type: ignore[arg-type]
                                         date=day, contacts=past, promises=outcomes, policy=policy)
            run.worklist.write.mode("overwrite").parquet(str(out))
            if blocked is not None:
                run.blocked.write.mode("overwrite").parquet(str(blocked))
            summary = pl.from_arrow(run.worklist.groupBy("bucket", "treatment").agg(
                F.count(F.lit(1)).cast("long").alias("accounts"), F.sum("balance").alias("balance"),
                F.sum("expected_recovery").alias("recovery"), F.sum("cost").alias("cost"),
                F.sum((F.col("contact_status") == "blocked").cast("long")).alias("blocked"))
                .toArrow())
            rules = [(r[0], r[1]) for r in run.blocked.groupBy("blocked_rule").count()
                     .orderBy(F.col("count").desc(), "blocked_rule").collect()]
            run.unpersist()
        except (DataError, ValueError, pl.exceptions.PolarsError) as exc:
            _fail(err, str(exc) if isinstance(exc, DataError | ValueError)
                  else f"{type(exc).__name__} in the input tables.")
        except OSError as exc:
            _fail(err, f"Cannot write {out}: {exc.strerror or exc}.")
    assert isinstance(summary, pl.DataFrame)
    summary = summary.sort("bucket", "treatment")
    return summary, int(summary["accounts"].sum()), rules


@collections_app.command("report")
def collections_report(
    history: Annotated[Path, _FileOpt("--history", exists=True, dir_okay=False,
                                      metavar="FILE", show_default=False,
                                      help="Monthly history (account_id, month, cohort, "
                                      "months_on_book, balance, dpd, written_off).")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", show_default=False,
                                      help="The HTML report.")],
    promises: Annotated[Path | None, _FileOpt(
        "--promises", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Promises to pay, or their outcomes (with status): adds the kept rate.")] = None,
    payments: Annotated[Path | None, _FileOpt(
        "--payments", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Payments to decide the promises.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="YYYY-MM-DD", show_default=False,
        help="Decide promises as of this day (default: today).")] = None,
    grace_days: Annotated[int, typer.Option("--grace-days", min=0)] = 3,
) -> None:
    """Write the collections report (roll rates, flow to loss, vintages, kept rate).

    Roll-rate matrices by count and by balance, monthly flow rates and flow to loss, ever
    30+ and 90+ DPD vintage curves by cohort, and the promise-to-pay kept rate by month.
    """
    from fengkong.lifecycle._collections_report import collections_report as build

    for p, opt in ((history, "--history"), (promises, "--promises"), (payments, "--payments")):
        _table_option(p, opt)
    day = _date_option(as_of, "--as-of") if as_of else _dt.date.today()
    out_console, err = _render.consoles()
    progress, update = _progress(err)
    try:
        with progress:
            update("reading", 0, 1)
            hist = _read_any(history)
            outcomes = _promise_outcomes(promises, payments, day, grace_days)
            html_text = build(hist, promises=outcomes, progress=update)
            _io.write_text(html_text, out)
    except (DataError, ValueError, pl.exceptions.PolarsError) as exc:
        _fail(err, str(exc) if isinstance(exc, DataError | ValueError)
              else f"{type(exc).__name__} in the input tables.")
    except OSError as exc:
        _fail(err, f"Cannot write {out}: {exc.strerror or exc}.")
    out_console.print(f"Wrote {out}.", markup=False, soft_wrap=True, highlight=False)


# --------------------------------------------------------------------------------------------
# monitor
# --------------------------------------------------------------------------------------------


def _when(value: str | None, option: str) -> _dt.datetime | None:
    """A date or ISO date-time option in UTC (a date is its midnight, UTC)."""
    if value is None:
        return None
    try:
        when = _dt.datetime.fromisoformat(value)
    except ValueError as exc:
        msg = "use YYYY-MM-DD or an ISO 8601 date-time"
        raise typer.BadParameter(msg, param_hint=option) from exc
    return when.replace(tzinfo=_dt.UTC) if when.tzinfo is None else when


def monitor(
    tenant: Annotated[str, typer.Option("--tenant", show_default=False,
                                        help="The institution (tenant) whose log is read.")],
    strategy: Annotated[str, typer.Option("--strategy", metavar="ID", show_default=False,
                                          help="The deployed strategy's id.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", show_default=False,
                                      help="Where the HTML report goes.")],
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="FENGKONG_DATABASE_URL", show_default=False,
        help="sqlite:///PATH or postgresql://HOST/DB (default: SQLite under --data-dir).")
    ] = None,
    data_dir: Annotated[Path, typer.Option(
        "--data-dir", envvar="FENGKONG_DATA_DIR", help="Where the service's SQLite database is.",
        show_default="./fengkong-data")] = Path("fengkong-data"),
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", show_default=False,
        help="First day (or ISO date-time, UTC) of decisions read.")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", show_default=False,
        help="Read decisions before this day (or ISO date-time, UTC).")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="The development sample (.parquet or .csv, e.g. what `fengkong train` used); "
             "scored by the strategy unless it has the score. Default: the log's first "
             "window.")] = None,
    strategy_file: Annotated[Path | None, typer.Option(
        "--strategy-file", exists=True, dir_okay=False, metavar="STRATEGY", show_default=False,
        help="Score --reference with this strategy file (default: the stored version the "
             "newest decision used).")] = None,
    outcomes: Annotated[Path | None, typer.Option(
        "--outcomes", exists=True, dir_okay=False, metavar="FILE", show_default=False,
        help="Outcomes (.parquet or .csv): decision_id, request_id or application_id with "
             "bad (1/0, empty = not known) and optionally observed_at.")] = None,
    freq: Annotated[str, typer.Option("--freq", metavar="day|week|month",
                                      help="The time window.")] = "month",
    score: Annotated[str | None, typer.Option(
        "--score", metavar="SLOT", show_default=False,
        help="The score slot to monitor (default: the first).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="DATE", show_default=False,
        help="Ignore outcomes observed after this day.")] = None,
    tables: Annotated[Path | None, typer.Option(
        "--tables", metavar="DIR", show_default=False,
        help="Also write the report's tables as Parquet files into this folder.")] = None,
) -> None:
    """Monitor a deployed strategy from the decision log: score and characteristic stability
    (PSI / CSI) by window against the development sample, approval and rule-hit rates by
    segment, and early performance (bad rate by score band by month) from outcomes."""
    from fengkong.cli._service import database
    from fengkong.lifecycle import _monitor as mon

    if freq not in ("day", "week", "month"):
        msg = "use day, week or month"
        raise typer.BadParameter(msg, param_hint="--freq")
    start, end = _when(since, "--since"), _when(until, "--until")
    observed = _when(as_of, "--as-of")
    for p, opt in ((reference, "--reference"), (outcomes, "--outcomes")):
        _table_option(p, opt)
    out_console, err = _render.consoles()
    progress, update = _progress(err)
    with database(data_dir, database_url, migrate=False) as db:
        if not db.has_schema():
            _fail(err, "The database has no fengkong decision log; check --data-dir / "
                       "--database-url.")
        try:
            with progress:
                log = mon.load_decisions(db, tenant, strategy, start=start, end=end,
                                         progress=update)
                if not log.height:
                    _fail(err, f"No decisions of strategy {strategy!r} for tenant {tenant!r}"
                               " in the period.")
                ref = None
                if reference is not None:
                    update("scoring the reference", 0, 1)
                    ref = _read_any(reference)
                    wanted = f"score.{score}" if score else None
                    if not any(c.startswith("score.") for c in ref.columns) or (
                            wanted and wanted not in ref.columns):
                        if strategy_file is not None:
                            compiled = _compile(strategy_file, err)
                        else:
                            version = str(log["strategy_version"][-1])
                            with db.snapshot() as conn:
                                compiled = mon.stored_strategy(conn, tenant, strategy, version)
                        ref = mon.score_reference(ref, compiled)
                outs = _read_any(outcomes) if outcomes is not None else None
                report = mon.monitor(
                    log, tenant=tenant, strategy=strategy, reference=ref,
                    reference_name=reference.name if reference is not None else "",
                    outcomes=outs, freq=freq,  # type: ignore[arg-type]
                    score=score, as_of=observed, progress=update)
                update("writing the report", 0, 1)
                mon.write_report(report, out)
                if tables is not None:
                    tables.mkdir(parents=True, exist_ok=True)
                    for name, frame in mon.as_mapping(report).items():
                        frame.write_parquet(tables / f"{name}.parquet")
        except (DataError, KeyError, LookupError, StrategyFileError,
                pl.exceptions.PolarsError) as exc:
            _fail(err, str(exc).strip("'\"") if not isinstance(exc, pl.exceptions.PolarsError)
                  else f"{type(exc).__name__} in the input tables.")
        except OSError as exc:
            _fail(err, f"Cannot write {out}: {exc.strerror or exc}.")
    latest = report.scores.filter(pl.col("segment") == "all").tail(1)
    rates = report.rates.filter(pl.col("segment") == "all").tail(1)
    t = Table(title=f"{strategy} · tenant {tenant}: {log.height:,} decisions by {freq}",
              title_justify="left")
    for col in ("latest window", "decisions", "approval rate", "score PSI"):
        t.add_column(col, justify="left" if col == "latest window" else "right")
    if rates.height:
        psi_text = (f"{latest['psi'][0]:.3f}" if latest.height and latest["psi"][0] is not None
                    else "–")
        t.add_row(str(rates["window"][0]), f"{rates['n'][0]:,}",
                  _pct(rates["approval_rate"][0]), psi_text)
    out_console.print(t)
    shifted = report.features.filter(
        (pl.col("window") == report.features["window"].max()) & (pl.col("csi") >= 0.25)
    )["feature"].to_list() if report.features.height else []
    if shifted:
        out_console.print("Shifted characteristics (CSI ≥ 0.25): " + ", ".join(shifted),
                          markup=False, soft_wrap=True, highlight=False)
    out_console.print(f"Wrote {out}.", markup=False, soft_wrap=True, highlight=False)
