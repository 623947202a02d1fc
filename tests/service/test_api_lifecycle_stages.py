"""Every lifecycle stage's example strategy deploys and decides through the service like
origination does: upload, four-eyes approval, POST /v1/decisions, logged and chained.
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate
from fengkong.demo import example_pack_dir
from fengkong.lifecycle import synthetic_book
from fengkong.lifecycle._collections import _strategy_inputs as collections_inputs
from fengkong.lifecycle._review import _inputs as review_inputs

EXAMPLES = example_pack_dir().parent


def _record(stage: str, strategy: Any, accounts: pl.DataFrame) -> dict[str, Any]:
    """The first account as its stage's job hands it to the strategy."""
    if stage == "account_management":
        frame = review_inputs(strategy, accounts)
    else:
        frame = collections_inputs(strategy, accounts)
    row = frame.with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String)).row(0, named=True)
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}


@pytest.mark.parametrize("stage", ["account_management", "collections"])
def test_a_stage_strategy_decides_through_the_api(api: Any, stage: str) -> None:
    path = EXAMPLES / stage / "strategy.yaml"
    text = path.read_text("utf-8")
    author, approver, caller = api.key("author"), api.key("approve"), api.key("decide")
    up = api.client.post("/v1/strategies", content=text.encode(),
                         headers={**author.headers, "Content-Type": "application/yaml"})
    assert up.status_code == 201, up.text
    sid, version = up.json()["strategy"], up.json()["version"]
    ok = api.client.post(f"/v1/strategies/{sid}/versions/{version}/approve",
                         headers=approver.headers)
    assert ok.status_code == 200, ok.text
    accounts = synthetic_book(400, months=6, seed=3).accounts
    if stage == "collections":
        accounts = accounts.filter(pl.col("dpd") > 0)
    record = _record(stage, compile_strategy(path), accounts)
    r = api.decide(caller, record, strategy=sid)
    assert r.status_code == 200, r.text
    got = r.json()["decision"]
    assert r.json()["strategy"]["id"] == sid
    expected = evaluate(compile_strategy(path), record).to_dict()
    for key in ("decision", "segment", "limit", "apr", "reasons", "rule_hits"):
        assert got[key] == expected[key], key
    assert api.client.get("/v1/audit/verify", headers=api.key("audit").headers).json()["ok"]
