"""Velocity features through the API: many concurrent applications on one key get exact
counts (embedded store and Redis), the values are stored with the inputs so replay needs
no store, sending them is refused, and the point-in-time backfill of the logged
applications equals what the service computed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from fengkong.core import field_value
from fengkong.service import Settings, create_app
from fengkong.velocity import RedisStore, backfill

STRATEGY = """\
strategy: velocity_loan
version: 1
stage: origination
inputs:
  applicant.phone: {type: str, pii: phone}
  applicant.age: {type: int, min: 18, max: 100}
  loan.amount: {type: float, min: 0}
  device.id: {type: str, required: false}
velocity:
  apps_phone_7d: {key: applicant.phone, agg: count, window: 7d}
  amount_phone_30d: {key: applicant.phone, agg: sum, value: loan.amount, window: 30d}
  devices_phone_24h: {key: applicant.phone, agg: distinct_count, value: device.id, window: 24h}
rules:
  - {id: many, when: "velocity.apps_phone_7d > 1000", action: refer, reason: VELOCITY_APPS}
  - {id: much, when: "velocity.amount_phone_30d > 1e12", action: refer, reason: VELOCITY_AMOUNT}
  - {id: devices, when: "velocity.devices_phone_24h > 100", action: refer, reason: VELOCITY_DEVICES}
"""
PHONE = "13912345678"


def deploy(api: Any) -> None:
    author, approver = api.key("author"), api.key("approve")
    up = api.client.post("/v1/strategies", content=STRATEGY.encode(),
                         headers={**author.headers, "Content-Type": "application/yaml"})
    assert up.status_code == 201, up.text
    ok = api.client.post("/v1/strategies/velocity_loan/versions/1/approve",
                         headers=approver.headers)
    assert ok.status_code == 200, ok.text


def application(i: int, phone: str = PHONE) -> dict[str, Any]:
    return {"applicant": {"phone": phone, "age": 30}, "loan": {"amount": 1000 + i},
            "device": {"id": f"dev-{i % 5}"}}


def concurrent_decisions(api: Any, total: int) -> list[dict[str, Any]]:
    caller = api.key("decide")

    def one(i: int) -> dict[str, Any]:
        r = api.decide(caller, application(i), strategy="velocity_loan", request_id=f"app-{i}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(total)))


def check_exact(api: Any, answers: list[dict[str, Any]]) -> None:
    total = len(answers)
    auditor = api.key("audit")
    stored = [api.client.get(f"/v1/decisions/{a['id']}", headers=auditor.headers).json()
              for a in answers]
    counts = sorted(s["inputs"]["velocity.apps_phone_7d"] for s in stored)
    assert counts == list(range(1, total + 1))  # each saw all before it, none twice
    sums = sorted(s["inputs"]["velocity.amount_phone_30d"] for s in stored)
    assert sums[-1] == float(sum(1000 + i for i in range(total)))
    assert max(s["inputs"]["velocity.devices_phone_24h"] for s in stored) == 5
    # Stored with the inputs: replay needs no store.
    r = api.client.post(f"/v1/decisions/{answers[0]['id']}/replay", headers=auditor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["identical"] is True
    # A retry (same request id) is answered from the log and counts nothing.
    again = api.decide(api.key("decide"), application(0), strategy="velocity_loan",
                       request_id="app-0")
    assert again.status_code == 200 and again.json()["id"] == answers[0]["id"]
    nxt = api.decide(api.key("decide"), application(total), strategy="velocity_loan")
    got = api.client.get(f"/v1/decisions/{nxt.json()['id']}", headers=auditor.headers).json()
    assert got["inputs"]["velocity.apps_phone_7d"] == total + 1


def check_backfill(api: Any, total: int) -> None:
    """One after another (time order is store order): the logged applications,
    backfilled point in time, give what the service computed."""
    caller, auditor = api.key("decide"), api.key("audit")
    rows = []
    for i in range(total):
        r = api.decide(caller, application(i, phone="13800000000" if i % 3 else "13700000001"),
                       strategy="velocity_loan")
        assert r.status_code == 200, r.text
        rows.append(api.client.get(f"/v1/decisions/{r.json()['id']}",
                                   headers=auditor.headers).json())
    frame = pl.DataFrame({
        "applicant.phone": [field_value(s["inputs"], "applicant.phone") for s in rows],
        "loan.amount": [float(field_value(s["inputs"], "loan.amount")) for s in rows],
        "device.id": [field_value(s["inputs"], "device.id") for s in rows],
        "evaluated_at": [dt.datetime.fromisoformat(s["decision"]["evaluated_at"]) for s in rows],
        "online": [s["inputs"]["velocity.apps_phone_7d"] for s in rows],
        "online_sum": [s["inputs"]["velocity.amount_phone_30d"] for s in rows],
        "online_devices": [s["inputs"]["velocity.devices_phone_24h"] for s in rows],
    })
    strategy = api.service.registry.compiled(api.tenant_a, "velocity_loan", "1")
    filled = backfill(strategy, frame)
    assert filled["velocity.apps_phone_7d"].to_list() == filled["online"].to_list()
    assert filled["velocity.amount_phone_30d"].to_list() == filled["online_sum"].to_list()
    assert filled["velocity.devices_phone_24h"].to_list() == filled["online_devices"].to_list()


def test_concurrent_applications_on_one_key_embedded(api: Any) -> None:
    deploy(api)
    check_exact(api, concurrent_decisions(api, 40))
    check_backfill(api, 12)
    assert (api.data_dir / "velocity.db").is_file()


def test_velocity_values_are_not_sent(api: Any) -> None:
    deploy(api)
    record = application(0)
    record["velocity.apps_phone_7d"] = 0
    r = api.decide(api.key("decide"), record, strategy="velocity_loan")
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["code"] == "velocity-data"
    # An invalid application counts nowhere.
    bad = api.decide(api.key("decide"), {**application(1), "applicant": {"phone": PHONE,
                                                                          "age": 12}},
                     strategy="velocity_loan")
    assert bad.status_code == 422
    ok = api.decide(api.key("decide"), application(2), strategy="velocity_loan")
    auditor = api.key("audit")
    stored = api.client.get(f"/v1/decisions/{ok.json()['id']}", headers=auditor.headers).json()
    assert stored["inputs"]["velocity.apps_phone_7d"] == 1
    assert "13912345678" not in str(stored)  # the key is held as its pseudonym


@pytest.fixture
def redis_api(api: Any, redis_url: str) -> Iterator[Any]:
    """``api``, but a second app on the same database keeping velocity in Redis."""
    old = api.service.settings
    settings = Settings(data_dir=old.data_dir, database_url=old.database_url, tenant=old.tenant,
                        deploy_example=False, velocity_url=redis_url)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        api.app, api.client = app, client
        yield api


def test_concurrent_applications_on_one_key_redis(redis_api: Any) -> None:
    deploy(redis_api)
    check_exact(redis_api, concurrent_decisions(redis_api, 40))
    check_backfill(redis_api, 12)
    assert isinstance(redis_api.service.velocity, RedisStore)
