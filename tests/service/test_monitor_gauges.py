"""The monitoring gauges: approval rate and score PSI per strategy and segment, computed from
the decision log on scrape (with a TTL), never on the decision path; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fengkong import compile_strategy
from fengkong.demo import example_strategy_path, generate_applications
from fengkong.lifecycle._monitor import score_reference
from fengkong.service import Settings, create_app
from fengkong.service._monitoring import LiveMonitor
from fengkong.store import create_key
from fengkong.workbench import psi

TENANT, STRATEGY = "bank-a", "consumer_loan"
# Demo-data columns the example strategy does not take (protected attributes, the outcome).
_NOT_INPUTS = {"bad", "applicant.gender", "applicant.marital_status", "applicant.province"}


def _samples(text: str) -> dict[str, dict[tuple[str, str, str], float]]:
    out: dict[str, dict[tuple[str, str, str], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("fengkong_monitor_") and "segment" in s.labels:
                key = (s.labels["tenant"], s.labels["strategy"], s.labels["segment"])
                out.setdefault(s.name, {})[key] = s.value
    return out


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
def applications() -> pl.DataFrame:
    return generate_applications(400, seed=11)


@pytest.fixture
def client(database_url: str, tmp_path: Path, applications: pl.DataFrame,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], list[int]]]:
    refs = tmp_path / "references"
    refs.mkdir()
    applications.head(300).write_parquet(refs / f"{STRATEGY}.parquet")
    refreshes: list[int] = []
    original = LiveMonitor.refresh

    def counted(self: LiveMonitor, now: dt.datetime | None = None) -> None:
        refreshes.append(1)
        original(self, now)

    monkeypatch.setattr(LiveMonitor, "refresh", counted)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, tenant=TENANT,
                        monitor_ttl=3600.0, monitor_reference_dir=refs)
    with TestClient(create_app(settings)) as c:
        svc = c.app.state.service  # type: ignore[attr-defined]
        with svc.db.writer.begin() as conn:
            _, key = create_key(conn, TENANT, ["decide"], "monitor-test")
        yield c, {"Authorization": f"Bearer {key}"}, refreshes


def test_gauges_from_the_log(client: tuple[TestClient, dict[str, str], list[int]],
                             applications: pl.DataFrame) -> None:
    c, headers, refreshes = client
    answers = []
    for row in applications.tail(60).iter_rows(named=True):
        r = c.post(f"/v1/decisions/{STRATEGY}", json=_nested(row), headers=headers)
        assert r.status_code == 200, r.text
        answers.append(r.json()["decision"])
    assert refreshes == []  # deciding never computes the gauges
    samples = _samples(c.get("/metrics").text)
    assert len(refreshes) == 1
    decisions = samples["fengkong_monitor_decisions"]
    rates = samples["fengkong_monitor_approval_rate"]
    psis = samples["fengkong_monitor_score_psi"]
    assert decisions[(TENANT, STRATEGY, "all")] == 60
    approved = sum(a["decision"] == "approve" for a in answers)
    assert rates[(TENANT, STRATEGY, "all")] == pytest.approx(approved / 60)
    for seg in {a["segment"] for a in answers}:
        mine = [a for a in answers if a["segment"] == seg]
        assert decisions[(TENANT, STRATEGY, seg)] == len(mine)
        assert rates[(TENANT, STRATEGY, seg)] == pytest.approx(
            sum(a["decision"] == "approve" for a in mine) / len(mine))
    # the score PSI against the development sample scored by the deployed version
    ref = score_reference(applications.head(300), compile_strategy(example_strategy_path()))
    expected = psi(ref["score.score"].to_numpy(),
                   [a["scores"]["score"] for a in answers])
    assert psis[(TENANT, STRATEGY, "all")] == pytest.approx(expected)
    # within the TTL a scrape serves the same values without reading the log again
    r = c.post(f"/v1/decisions/{STRATEGY}", json=_nested(applications.row(0, named=True)),
               headers=headers)
    assert r.status_code == 200
    again = _samples(c.get("/metrics").text)
    assert len(refreshes) == 1
    assert again["fengkong_monitor_decisions"][(TENANT, STRATEGY, "all")] == 60


def test_window_and_previous_window(client: tuple[TestClient, dict[str, str], list[int]],
                                    applications: pl.DataFrame) -> None:
    c, headers, _ = client
    for row in applications.tail(20).iter_rows(named=True):
        assert c.post(f"/v1/decisions/{STRATEGY}", json=_nested(row),
                      headers=headers).status_code == 200
    monitor: LiveMonitor = c.app.state.service.monitor  # type: ignore[attr-defined]
    monitor.reference_dir = None  # no development sample: compare with the window before
    later = dt.datetime.now(dt.UTC) + monitor.window + dt.timedelta(minutes=1)
    monitor.refresh(now=later)  # today's decisions are now the window before: no gauges
    m = monitor.metrics
    assert m.monitor_decisions.collect()[0].samples == []
    monitor.refresh()
    values = {s.labels["segment"]: s.value for s in m.monitor_decisions.collect()[0].samples}
    assert values["all"] == 20
    assert m.monitor_score_psi.collect()[0].samples == []  # an empty window before: no PSI
