"""``fengkong monitor``: the report from a service's decision log, a development sample and
outcomes, from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.demo import generate_applications
from fengkong.service import Settings, create_app
from fengkong.store import create_key

TENANT, STRATEGY = "bank-a", "consumer_loan"
_NOT_INPUTS = {"bad", "applicant.gender", "applicant.marital_status", "applicant.province"}


def _nested(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if value is None or name in _NOT_INPUTS:
            continue
        *parents, leaf = name.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value.isoformat() if isinstance(value, dt.date) else value
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """A service's SQLite log with 120 decisions, the development sample and outcomes."""
    root = tmp_path_factory.mktemp("monitor")
    apps = generate_applications(620, seed=21)
    dev, live = apps.head(500), apps.tail(120)
    dev.write_parquet(root / "dev.parquet")
    url = f"sqlite:///{root / 'fengkong.db'}"
    with TestClient(create_app(Settings(data_dir=root / "data", database_url=url,
                                        tenant=TENANT))) as c:
        svc = c.app.state.service  # type: ignore[attr-defined]
        with svc.db.writer.begin() as conn:
            _, key = create_key(conn, TENANT, ["decide"], "cli-test")
        for row in live.iter_rows(named=True):
            r = c.post(f"/v1/decisions/{STRATEGY}", json=_nested(row),
                       headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
    live.select("application_id", "bad").write_csv(root / "outcomes.csv")
    return {"root": root, "url": url}


def test_monitor_writes_the_report(runner: CliRunner, logged: dict[str, Any],
                                   tmp_path: Path) -> None:
    root: Path = logged["root"]
    out = tmp_path / "monitor.html"
    result = runner.invoke(app, [
        "monitor", "--database-url", logged["url"], "--tenant", TENANT, "--strategy", STRATEGY,
        "--reference", str(root / "dev.parquet"), "--outcomes", str(root / "outcomes.csv"),
        "--freq", "week", "--out", str(out), "--tables", str(tmp_path / "tables")])
    assert result.exit_code == 0, result.output
    assert "120" in result.output and "Wrote" in result.output
    page = out.read_text("utf-8")
    for key in ("overview", "approval", "score-stability", "feature-stability", "rules",
                "performance"):
        assert f'<section id="{key}">' in page
    assert "dev.parquet (500 records)" in page
    assert page.count("<svg") >= 5
    assert "110105" not in page  # no identifier of the development sample or the log
    rates = pl.read_parquet(tmp_path / "tables" / "decision_rates.parquet")
    assert rates.filter(pl.col("segment") == "all")["n"].sum() == 120
    perf = pl.read_parquet(tmp_path / "tables" / "early_performance.parquet")
    assert perf["decisions"].sum() == rates.filter(pl.col("segment") == "all")["approved"].sum()
    scores = pl.read_parquet(tmp_path / "tables" / "score_stability.parquet")
    assert scores.filter(pl.col("segment") == "all")["psi"].is_not_null().all()


def test_monitor_without_reference_uses_the_first_window(
        runner: CliRunner, logged: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "m.html"
    result = runner.invoke(app, [
        "monitor", "--database-url", logged["url"], "--tenant", TENANT, "--strategy", STRATEGY,
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the first month of the log" in out.read_text("utf-8")


def test_monitor_refuses_what_it_cannot_read(runner: CliRunner, logged: dict[str, Any],
                                            tmp_path: Path) -> None:
    base = ["monitor", "--database-url", logged["url"], "--tenant", TENANT,
            "--out", str(tmp_path / "x.html")]
    result = runner.invoke(app, [*base, "--strategy", "nope"])
    assert result.exit_code == 1
    assert "No decisions of strategy 'nope'" in result.output
    result = runner.invoke(app, [*base, "--strategy", STRATEGY, "--freq", "year"])
    assert result.exit_code == 2
    result = runner.invoke(app, [*base, "--strategy", STRATEGY, "--since", "yesterday"])
    assert result.exit_code == 2
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, [*base[:2], empty, *base[3:], "--strategy", STRATEGY])
    assert result.exit_code == 1
    assert "no fengkong decision log" in result.output
    assert not (tmp_path / "x.html").exists()
