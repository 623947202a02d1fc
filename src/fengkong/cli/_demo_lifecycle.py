"""The credit lifecycle part of ``fengkong demo``: origination to collections, end to end.

On generated data and the embedded default strategy it: trains segment scorecards with the
workbench; deploys the origination strategy through the decision service's release flow
(upload by one key, four-eyes approval by another); decides a stream of applications
through the service's HTTP API, month by month; books the approved ones and ages the book
with simulated repayments; runs the account-management review and applies its actions;
plans the collections work list; back-tests a challenger; and writes one HTML report.

A stage whose module is not installed is skipped and the report says so; nothing is made
up in its place.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.rule import Rule

import fengkong
from fengkong import CompiledStrategy, compile_strategy, demo
from fengkong.lifecycle import Book, age_book, synthetic_book

REPORT_FILE = "lifecycle_report.html"
LIFECYCLE_DIR = "lifecycle"
TENANT = "demo"
START = date(2026, 1, 1)
_PII = ("applicant.id_number", "applicant.phone", "applicant.name")
_SEGMENTS = ("app", "partner", "branch")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big the lifecycle run is."""

    history: int  # past applications with outcomes (training and back-test)
    accounts: int  # accounts on the book at the start
    book_months: int  # months of history the book starts with
    months: int  # months simulated
    per_month: int  # applications decided through the service each month


# About 4.7 % of a generated book opened in its last month; with about 55 % approved, the
# applications per month below keep the book growing at the pace of its history.
FULL = Sizes(history=30_000, accounts=8_000, book_months=12, months=6, per_month=650)
QUICK = Sizes(history=8_000, accounts=1_000, book_months=6, months=3, per_month=80)


@dataclass
class Lifecycle:
    """Everything the lifecycle run produced (the report reads it)."""

    sizes: Sizes
    seed: int
    directory: Path
    timings: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None
    strategy: dict[str, str] = field(default_factory=dict)
    decisions: pl.DataFrame | None = None
    monthly: pl.DataFrame | None = None
    history: pl.DataFrame | None = None
    first_simulated: date = START
    review_summary: pl.DataFrame | None = None
    review_notices: int = 0
    review_strategy: str = ""
    worklist: pl.DataFrame | None = None
    blocked: pl.DataFrame | None = None
    collections_strategy: str = ""
    collections_date: date = START
    roll_matrix: pl.DataFrame | None = None
    simulation: Any = None
    report: Path | None = None
    next_step: int = 0


# --------------------------------------------------------------------------- progress


class Stages:
    """Headings, a progress bar per long stage, and the timings of each stage."""

    def __init__(self, console: Console, run: Lifecycle, first: int) -> None:
        self.console = console
        self.run = run
        self.n = first

    @contextmanager
    def stage(self, title: str) -> Iterator[Callable[[str, int, int], None]]:
        """A numbered stage with a progress bar; yields ``progress(label, done, total)``."""
        self.console.print()
        self.console.print(Rule(f"[bold]{self.n}. {title}", align="left"))
        self.n += 1
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(title, total=None)

            def progress(label: str, done: int, total: int) -> None:
                bar.update(task, description=f"{title}: {label}", completed=done, total=total)

            yield progress
        self.run.timings[title] = time.perf_counter() - started

    def say(self, text: str) -> None:
        """A plain line (no markup: paths may hold brackets)."""
        self.console.print(text, markup=False, soft_wrap=True)

    def skip(self, title: str, why: str) -> None:
        """Record and show a skipped stage."""
        self.run.skipped[title] = why
        self.console.print(f"[yellow]Skipped:[/] {why}", soft_wrap=True, highlight=False)


def example_file(stage: str, name: str = "strategy.yaml") -> Path | None:
    """An example strategy of a lifecycle stage: packaged, else in the source checkout."""
    package = Path(fengkong.__file__).parent
    for base in (package / "examples", package.parents[1] / "examples"):
        path = base / stage / name
        if path.is_file():
            return path
    return None


# --------------------------------------------------------------------------- the run


def run_lifecycle(
    directory: Path, *, quick: bool, seed: int, console: Console, first_step: int
) -> Lifecycle:
    """Run the lifecycle stages into ``directory / "lifecycle"`` and write the report.

    Parameters
    ----------
    directory
        The demo directory.
    quick
        Small sizes (for tests and a first look).
    seed
        Seed of all generated data.
    console
        Where to print.
    first_step
        Number of the first stage heading.

    Returns
    -------
    Lifecycle
        What ran, with timings and skipped stages; ``report`` is the HTML file.
    """
    sizes = QUICK if quick else FULL
    out = directory / LIFECYCLE_DIR
    out.mkdir(parents=True, exist_ok=True)
    run = Lifecycle(sizes=sizes, seed=seed, directory=out)
    st = Stages(console, run, first_step)
    started = time.perf_counter()

    history = demo.generate_applications(sizes.history, seed=seed + 101)
    _train(st, history, out)
    champion = compile_strategy(demo.example_strategy_path())
    with _service(out) as api:
        _deploy(st, api, champion)
        book = synthetic_book(sizes.accounts, months=sizes.book_months, seed=seed, as_of=START)
        run.first_simulated = book.as_of
        actions = _review(st, book)
        book = _originate_and_age(st, api, champion, book, actions)
    _collections(st, book)
    _backtest(st, champion, history, out)
    run.timings["total"] = time.perf_counter() - started
    with st.stage("Lifecycle report") as progress:
        from fengkong.cli._demo_report import write_report

        progress("drawing", 0, 1)
        run.report = write_report(run, out / REPORT_FILE)
        progress("drawing", 1, 1)
    st.say(f"Wrote the lifecycle report to {run.report}.")
    run.next_step = st.n
    return run


def _train(st: Stages, history: pl.DataFrame, out: Path) -> None:
    title = "Train segment scorecards (workbench)"
    with st.stage(title) as progress:
        try:
            from fengkong.workbench import TrainingInputError, train
        except ImportError as exc:  # pragma: no cover - the workbench ships with fengkong
            st.skip(title, f"the model workbench is not available ({exc})")
            return
        options: dict[str, Any] = {
            "target": "bad",
            "time_column": "applied_at",
            "exclude": ["application_id", *_PII],
            "protected": ["applicant.gender"],
            "progress": progress,
        }
        try:
            result = train(history, segment_by="channel", **options)
        except TrainingInputError as exc:
            st.say(f"One card per channel is not possible here ({exc}); fitting one card.")
            result = train(history, **options)
        model_dir = out / "model"
        result.write(model_dir)
    segments = [
        {
            "segment": seg.name,
            **{f"{k}_{sample}": v for sample, m in seg.metrics.items() for k, v in m.items()},
        }
        for seg in result.report.segments
    ]
    st.run.model = {
        "dir": model_dir,
        "overall": result.report.overall_metrics,
        "segments": segments,
        "report": model_dir / "report.html",
    }
    test = result.report.overall_metrics.get("test", {})
    st.say(
        f"{len(result.report.segments)} scorecards ({', '.join(s.name for s in result.report.segments)}); "
        f"test AUC {test.get('auc', float('nan')):.3f}, KS {test.get('ks', float('nan')):.3f}. "
        f"Model report: {model_dir / 'report.html'}"
    )


# --------------------------------------------------------------------------- service


@dataclass
class _Api:
    client: Any
    author: str
    approver: str
    decider: str

    def headers(self, key: str, request_id: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {key}"}
        if request_id:
            out["X-Request-ID"] = request_id
        return out


@contextmanager
def _service(out: Path) -> Iterator[_Api]:
    """The decision service in process, on SQLite under the demo folder, with three keys."""
    with warnings.catch_warnings():  # starlette's note about httpx, not the user's business
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from fengkong.service import Settings, create_app
    from fengkong.store import create_key

    data = out / "service"
    if data.exists():  # a fresh log each run: the demo's own scratch database
        shutil.rmtree(data)
    app = create_app(Settings(data_dir=data, tenant=TENANT, deploy_example=False))
    with TestClient(app) as client:
        svc = app.state.service
        with svc.db.writer.begin() as conn:
            _, author = create_key(conn, TENANT, ["author"], "demo-author")
            _, approver = create_key(conn, TENANT, ["approve", "audit"], "demo-approver")
            _, decider = create_key(conn, TENANT, ["decide"], "demo-origination")
        yield _Api(client, author, approver, decider)


def _deploy(st: Stages, api: _Api, champion: CompiledStrategy) -> None:
    title = "Deploy the origination strategy (decision service, four eyes)"
    with st.stage(title) as progress:
        root = demo.example_pack_dir()
        files = {
            p.relative_to(root).as_posix(): p.read_text("utf-8")
            for p in sorted(root.rglob("*.yaml"))
        }
        progress("upload", 0, 2)
        up = api.client.post(
            "/v1/strategies",
            json={"entry": "strategy.yaml", "files": files},
            headers=api.headers(api.author),
        )
        _ok(up, "upload the strategy")
        body = up.json()
        progress("approve", 1, 2)
        ok = api.client.post(
            f"/v1/strategies/{body['strategy']}/versions/{body['version']}/approve",
            headers=api.headers(api.approver),
        )
        _ok(ok, "approve the strategy")
        progress("approve", 2, 2)
    st.run.strategy = {
        "id": str(body["strategy"]),
        "version": str(body["version"]),
        "digest": str(body["digest"]),
    }
    st.say(
        f"Uploaded {body['strategy']} v{body['version']} with the author key, approved and "
        f"activated with the approver key ({body['digest'][:19]}…)."
    )


def _ok(response: Any, what: str) -> None:
    if response.status_code >= 300:
        msg = (
            f"The decision service refused to {what}: {response.status_code} {response.text[:300]}"
        )
        raise RuntimeError(msg)


def _nested(row: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            continue
        if isinstance(value, date):
            value = value.isoformat()
        *parents, leaf = name.split(".")
        node = record
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return record


def _decide_month(
    api: _Api,
    champion: CompiledStrategy,
    apps: pl.DataFrame,
    month: date,
    progress: Callable[[str, int, int], None],
    done: int,
    total: int,
) -> pl.DataFrame:
    names = [f.name for f in champion.plan.fields if f.name in apps.columns]
    rows = []
    for i, row in enumerate(apps.select(names).iter_rows(named=True)):
        rid = f"{month:%Y%m}-{i}"
        resp = api.client.post(
            f"/v1/decisions/{champion.strategy_id}",
            json=_nested(row),
            headers=api.headers(api.decider, rid),
        )
        if resp.status_code == 200:
            d = resp.json()["decision"]
            rows.append(
                {
                    "decision": d.get("decision"),
                    "limit": d.get("limit"),
                    "apr": d.get("apr"),
                    "score": (d.get("scores") or {}).get("score"),
                    "status": 200,
                }
            )
        else:
            rows.append(
                {
                    "decision": "error",
                    "limit": None,
                    "apr": None,
                    "score": None,
                    "status": resp.status_code,
                }
            )
        if i % 10 == 0:
            progress(f"{month:%Y-%m} deciding", done + i, total)
    got = pl.DataFrame(
        rows,
        schema={
            "decision": pl.String,
            "limit": pl.Float64,
            "apr": pl.Float64,
            "score": pl.Float64,
            "status": pl.Int64,
        },
    )
    return pl.concat(
        [
            apps.select(
                "application_id", "channel", "bad", "loan.amount", "applicant.income_monthly"
            ),
            got,
        ],
        how="horizontal",
    ).with_columns(month=pl.lit(month))


def _new_accounts(approved: pl.DataFrame, month: date, seed: int) -> pl.DataFrame:
    """Approved applications as accounts: the hidden risk follows the known outcome."""
    rng = np.random.default_rng([seed, month.toordinal()])
    n = approved.height
    noise = np.exp(rng.normal(0.0, 0.3, n))
    bad = approved["bad"].fill_null(0).to_numpy()
    days = rng.integers(0, 28, n)
    return pl.DataFrame(
        {
            "account_id": [f"NB{month:%Y%m}{i + 1:06d}" for i in range(n)],
            "segment": approved["channel"],
            "product": ["credit_line"] * n,
            "opened_at": [month + timedelta(days=int(d)) for d in days],
            "credit_limit": approved["limit"],
            "apr": approved["apr"],
            "income_monthly": approved["applicant.income_monthly"],
            "sim_risk": np.where(bad == 1, 5.0, 0.6) * noise,
        }
    )


def _originate_and_age(
    st: Stages, api: _Api, champion: CompiledStrategy, book: Book, actions: pl.DataFrame | None
) -> Book:
    sizes = st.run.sizes
    title = f"Decide applications through the service and age the book ({sizes.months} months)"
    frames: list[pl.DataFrame] = []
    monthly: list[dict[str, Any]] = []
    with st.stage(title) as progress:
        total = sizes.months * sizes.per_month
        for m in range(sizes.months):
            month = book.as_of
            apps = demo.generate_applications(sizes.per_month, seed=st.run.seed * 1000 + 7 + m)
            days = np.random.default_rng([st.run.seed, m]).integers(0, 28, apps.height)
            apps = apps.with_columns(
                applied_at=pl.Series([month + timedelta(days=int(d)) for d in days])
            )
            decided = _decide_month(
                api, champion, apps, month, progress, m * sizes.per_month, total
            )
            frames.append(decided)
            approved = decided.filter(
                (pl.col("decision") == "approve") & pl.col("limit").is_not_null()
            )
            new = _new_accounts(approved, month, st.run.seed) if approved.height else None
            progress(f"{month:%Y-%m} ageing", (m + 1) * sizes.per_month, total)
            book = age_book(
                book,
                1,
                actions=actions if m == 0 else None,
                new_accounts=new,
                seed=st.run.seed,
            )
            monthly.append({"month": month, "decided": decided.height, "approved": approved.height})
    st.run.decisions = pl.concat(frames)
    st.run.monthly = pl.DataFrame(monthly)
    st.run.history = book.history
    dec = st.run.decisions
    rate_value = (dec["decision"] == "approve").cast(pl.Float64).mean()
    rate = float(rate_value) if isinstance(rate_value, (int, float)) else 0.0
    errors = int((dec["decision"] == "error").sum())
    st.say(
        f"Decided {dec.height:,} applications through POST /v1/decisions "
        f"({rate:.1%} approved{f', {errors} refused as invalid' if errors else ''}); "
        f"the book now has {book.accounts.height:,} accounts at {book.as_of}."
    )
    if errors:
        st.run.notes.append(f"{errors} applications were refused by the service as invalid input.")
    return book


# --------------------------------------------------------------------------- other stages


def _review(st: Stages, book: Book) -> pl.DataFrame | None:
    title = "Account management review (存量经营)"
    with st.stage(title) as progress:
        try:
            from fengkong.lifecycle import review
        except ImportError as exc:
            st.skip(title, f"the account-management job is not available ({exc})")
            return None
        path = example_file("account_management")
        if path is None:
            st.skip(title, "no account-management example strategy was found")
            return None
        strategy = compile_strategy(path)
        result = review(strategy, book.accounts, as_of=book.as_of, progress=progress)
    st.run.review_summary = result.summary
    st.run.review_notices = result.notices.height
    st.run.review_strategy = f"{strategy.strategy_id} v{strategy.version}"
    counts = result.actions.group_by("action").len().sort("len", descending=True)
    text = ", ".join(f"{a} {n:,}" for a, n in counts.iter_rows())
    st.say(
        f"Reviewed {result.actions.height:,} accounts with {st.run.review_strategy}: {text}; "
        f"{result.notices.height:,} adverse-action notices. The new limits and APRs take "
        "effect in the first simulated month."
    )
    return result.actions


def _collections(st: Stages, book: Book) -> None:
    title = "Collections work list (催收)"
    with st.stage(title) as progress:
        try:
            from fengkong.lifecycle._collections import plan_worklist, roll_rate_matrix
        except ImportError as exc:
            st.skip(title, f"the collections job is not available ({exc})")
            return
        path = example_file("collections")
        if path is None:
            st.skip(title, "no collections example strategy was found")
            return
        strategy = compile_strategy(path)
        plan = plan_worklist(strategy, book.accounts, date=book.as_of, progress=progress)
        st.run.roll_matrix = roll_rate_matrix(book.history, weight="count")
    st.run.worklist = plan.worklist
    st.run.blocked = plan.blocked
    st.run.collections_strategy = f"{strategy.strategy_id} v{strategy.version}"
    st.run.collections_date = book.as_of
    st.say(
        f"Planned {plan.worklist.height:,} delinquent accounts for {book.as_of} with "
        f"{st.run.collections_strategy}; {plan.blocked.height:,} contacts blocked by the "
        "contact-policy guard."
    )


def _backtest(st: Stages, champion: CompiledStrategy, history: pl.DataFrame, out: Path) -> None:
    title = "Back-test a challenger (策略仿真)"
    with st.stage(title) as progress:
        try:
            from fengkong.lifecycle import simulate, write_simulation
        except ImportError as exc:
            st.skip(title, f"the simulation job is not available ({exc})")
            return
        path = example_file("simulation", "challenger.yaml")
        if path is None:
            st.skip(title, "no challenger example strategy was found")
            return
        challenger = compile_strategy(path)
        sim = simulate(champion, challenger, history, segment_by="channel", progress=progress)
        write_simulation(sim, out / "simulation")
    st.run.simulation = sim
    o = sim.overall
    st.say(
        f"{champion.strategy_id} against {challenger.strategy_id} on {history.height:,} past "
        f"applications: approval {o['champion_approval_rate']:.1%} → "
        f"{o['challenger_approval_rate']:.1%}, bad rate of the approved "
        f"{o['champion_bad_rate']:.2%} → {o['challenger_bad_rate']:.2%}. "
        f"Details: {out / 'simulation'}"
    )
