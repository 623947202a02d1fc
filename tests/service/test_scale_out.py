"""Several ``fengkong serve`` processes on one PostgreSQL database behave as one service.

Two real servers (separate processes, separate data directories, as on two machines)
start at the same moment on one fresh database, with the pseudonym keys shared through
``$FENGKONG_PSEUDONYM_KEYS`` and short routing and key-cache TTLs. Requests for one
tenant land on either: a request id is decided once, the hash chain stays whole and
gap-free, a release (or rollback) made through one is served by the other within the
routing TTL, a key made or revoked through one is honoured or refused by the other
within the key-cache TTL, and velocity counters kept in one Redis are exact whichever
server takes each application.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.conftest import drop_pg_database, fresh_pg_database
from tests.service.conftest import FENGKONG, TENANT_A, Api, Server, example_pack
from tests.service.test_api_velocity import STRATEGY as VELOCITY_STRATEGY

from fengkong.privacy._pseudonym import KEYS_ENV

pytestmark = pytest.mark.slow

ROUTING_TTL = 1.0
KEY_CACHE_TTL = 1.0
SLACK = 0.4  # seconds past a TTL before the other server must have seen the change


def _pseudonym_keys() -> str:
    """A fresh key set in ``$FENGKONG_PSEUDONYM_KEYS`` form (as docs/service.md makes one)."""
    k = secrets.token_bytes(32)
    kid = hashlib.sha256(b"fengkong-pseudonym-key\0" + k).hexdigest()[:8]
    return json.dumps({"current": kid, "keys": {kid: base64.b64encode(k).decode()}})


@dataclass
class Cluster:
    """Two servers on one database, an HTTP client, and an all-roles key of tenant A."""

    url: str
    servers: list[Server]
    client: httpx.Client
    admin: dict[str, str]
    cwd: Path

    def at(self, i: int, path: str) -> str:
        return f"{self.servers[i].base}{path}"

    def decide(self, i: int, headers: dict[str, str], request_id: str | None = None,
               record: dict[str, Any] | None = None) -> httpx.Response:
        h = dict(headers)
        if request_id is not None:
            h["X-Request-ID"] = request_id
        return self.client.post(self.at(i, "/v1/decisions/consumer_loan"),
                                json=Api.record() if record is None else record, headers=h)

    def key(self, i: int, *roles: str, name: str) -> tuple[str, dict[str, str]]:
        """A key made through server ``i``'s API: its id and its headers."""
        r = self.client.post(self.at(i, "/v1/keys"), json={"name": name, "roles": list(roles)},
                             headers=self.admin)
        assert r.status_code == 201, r.text
        return r.json()["id"], {"Authorization": f"Bearer {r.json()['key']}"}

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(query.encode(), args).fetchall()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*FENGKONG, *args, "--database-url", self.url], cwd=self.cwd,
                              capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def cluster(pg_server: str, redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scale-out")
    name, url = fresh_pg_database(pg_server)
    keys = _pseudonym_keys()
    servers = [Server(["--database-url", url, "--data-dir", str(root / f"data-{i}"),
                       "--tenant", TENANT_A, "--routing-ttl", str(ROUTING_TTL),
                       "--key-cache-ttl", str(KEY_CACHE_TTL)],
                      root / f"server-{i}.log",
                      env={KEYS_ENV: keys, "FENGKONG_VELOCITY_URL": redis_url})
               for i in range(2)]
    try:
        for s in servers:  # at the same moment: migrations and the example's deployment race
            s.start(root)
        for s in servers:
            s.wait_ready()
        made = subprocess.run([*FENGKONG, "keys", "create", "--tenant", TENANT_A, "--name", "ops",
                               "--database-url", url,
                               *(x for role in ("decide", "author", "approve", "audit", "admin",
                                                "review") for x in ("--role", role))],
                              cwd=root, capture_output=True, text=True, timeout=60, check=False)
        assert made.returncode == 0, made.stderr
        with httpx.Client(timeout=30) as client:
            yield Cluster(url, servers, client,
                          {"Authorization": f"Bearer {made.stdout.strip()}"}, root)
    finally:
        for s in servers:
            s.kill()
        drop_pg_database(pg_server, name)


def _parallel(calls: list[Callable[[], httpx.Response]], threads: int = 16
              ) -> list[httpx.Response]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_one_request_id_sent_to_both_servers_at_once_is_decided_once(cluster: Cluster) -> None:
    ids = [f"dup-{i}-{secrets.token_hex(4)}" for i in range(20)]
    answers = _parallel([functools.partial(cluster.decide, i, cluster.admin, rid)
                         for rid in ids for i in (0, 1)])
    for rid, (a, b) in zip(ids, zip(answers[::2], answers[1::2], strict=True), strict=True):
        assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
        assert a.json() == b.json()
        assert a.json()["request_id"] == rid
        replayed = [r.headers.get("Idempotent-Replayed") for r in (a, b)]
        assert sorted(replayed, key=str) == sorted(["true", None], key=str), replayed
    counts = dict(cluster.sql("SELECT request_id, count(*) FROM decisions WHERE tenant_id = %s "
                              "AND request_id = ANY(%s) GROUP BY request_id", TENANT_A, ids))
    assert counts == dict.fromkeys(ids, 1)
    # The same person gets the same pseudonym from either server (the shared keys).
    p = [cluster.client.get(cluster.at(i, f"/v1/decisions/{answers[0].json()['id']}"),
                            headers=cluster.admin).json()["inputs"]["applicant"]["id_number"]
         for i in (0, 1)]
    other = cluster.decide(1, cluster.admin, f"other-{secrets.token_hex(4)}").json()
    assert p[0] == p[1] == cluster.client.get(
        cluster.at(0, f"/v1/decisions/{other['id']}"), headers=cluster.admin
    ).json()["inputs"]["applicant"]["id_number"]
    assert p[0].startswith("pn1.")


def test_the_audit_chain_stays_whole_when_both_servers_append(cluster: Cluster) -> None:
    def burst(n: int) -> list[httpx.Response]:
        return _parallel([functools.partial(cluster.decide, i % 2, cluster.admin,
                                            f"chain-{secrets.token_hex(8)}")
                          for i in range(n)])

    first = burst(150)
    # A human review appends to the chain outside either server's log writer: opened
    # through one server, decided through the other, then both append again.
    made = cluster.decide(0, cluster.admin, record=Api.record(**{"applicant.age": 17})).json()
    case = cluster.client.post(cluster.at(0, f"/v1/decisions/{made['id']}/review"), json={},
                               headers=cluster.admin)
    assert case.status_code == 201, case.text
    _, reviewer = cluster.key(1, "review", name="Chen Jing")
    reviewed = cluster.client.post(cluster.at(1, f"/v1/reviews/{case.json()['id']}/decision"),
                                   json={"decision": "approve", "limit": 3000},
                                   headers=reviewer)
    assert reviewed.status_code == 200, reviewed.text
    second = burst(150)
    for r in first + second:
        assert r.status_code == 200, r.text
    seqs = [r.json()["seq"] for r in first + second]
    assert len(set(seqs)) == len(seqs)

    total = cluster.sql("SELECT count(*) FROM decisions WHERE tenant_id = %s", TENANT_A)[0][0]
    chain = [s for (s,) in cluster.sql("SELECT seq FROM decisions WHERE tenant_id = %s "
                                       "ORDER BY seq", TENANT_A)]
    assert chain == list(range(1, total + 1))  # contiguous, no gap, no duplicate
    head = cluster.sql("SELECT seq FROM chain_heads WHERE tenant_id = %s", TENANT_A)[0][0]
    assert head == total
    for i in (0, 1):
        v = cluster.client.get(cluster.at(i, "/v1/audit/verify"), headers=cluster.admin).json()
        assert (v["ok"], v["records"], v["head_seq"], v["problem"]) == (True, total, total, None)
    out = cluster.cli("audit", "verify", "--tenant", TENANT_A)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok" in (out.stdout + out.stderr).lower()
    assert f"{total:,}" in out.stdout or str(total) in out.stdout, out.stdout


def _version_seen(cluster: Cluster, i: int) -> str:
    r = cluster.decide(i, cluster.admin, f"ver-{secrets.token_hex(8)}")
    assert r.status_code == 200, r.text
    return str(r.json()["strategy"]["version"])


def test_a_release_through_one_server_is_served_by_the_other(cluster: Cluster) -> None:
    assert _version_seen(cluster, 0) == _version_seen(cluster, 1) == "1"  # both have it cached
    _, author = cluster.key(0, "author", name="Li Wei")
    up = cluster.client.post(cluster.at(0, "/v1/strategies"),
                             json={"entry": "strategy.yaml", "files": example_pack("2")},
                             headers=author)
    assert up.status_code in (200, 201), up.text
    approved = cluster.client.post(cluster.at(0, "/v1/strategies/consumer_loan/versions/2/approve"),
                                   headers=cluster.admin)
    assert approved.status_code == 200, approved.text
    assert _version_seen(cluster, 0) == "2"  # at once on the server that made the release
    time.sleep(ROUTING_TTL + SLACK)
    assert _version_seen(cluster, 1) == "2"  # the first request after the TTL, not a later one

    back = cluster.client.post(cluster.at(1, "/v1/strategies/consumer_loan/rollback"),
                               json={"version": "1"}, headers=cluster.admin)
    assert back.status_code == 200, back.text
    assert _version_seen(cluster, 1) == "1"
    time.sleep(ROUTING_TTL + SLACK)
    assert _version_seen(cluster, 0) == "1"


def test_keys_made_or_revoked_through_one_server_hold_on_the_other(cluster: Cluster) -> None:
    key_id, key = cluster.key(0, "decide", name="loan-app")
    listing = "/v1/decisions?limit=1"
    assert cluster.client.get(cluster.at(1, listing), headers=key).status_code == 200
    assert cluster.client.get(cluster.at(0, listing), headers=key).status_code == 200  # cached

    gone = cluster.client.delete(cluster.at(1, f"/v1/keys/{key_id}"), headers=cluster.admin)
    assert gone.status_code == 200, gone.text
    assert cluster.client.get(cluster.at(1, listing), headers=key).status_code == 401  # at once
    time.sleep(KEY_CACHE_TTL + SLACK)
    for i in (0, 1):  # the first request after the TTL is refused, on both
        r = cluster.client.get(cluster.at(i, listing), headers=key)
        assert r.status_code == 401, (i, r.text)
    assert cluster.decide(0, key).status_code == 401


def test_velocity_counters_in_one_redis_are_exact_across_servers(cluster: Cluster) -> None:
    up = cluster.client.post(cluster.at(0, "/v1/strategies"), content=VELOCITY_STRATEGY.encode(),
                             headers={**cluster.admin, "Content-Type": "application/yaml"})
    assert up.status_code == 201, up.text
    _, approver = cluster.key(1, "approve", name="velocity-approver")
    ok = cluster.client.post(cluster.at(1, "/v1/strategies/velocity_loan/versions/1/approve"),
                             headers=approver)
    assert ok.status_code == 200, ok.text
    time.sleep(ROUTING_TTL + SLACK)
    phone = f"139{secrets.randbelow(10**8):08d}"
    total = 40

    def one(i: int) -> Callable[[], httpx.Response]:
        record = {"applicant": {"phone": phone, "age": 30}, "loan": {"amount": 1000 + i},
                  "device": {"id": f"dev-{i % 5}"}}
        return lambda: cluster.client.post(
            cluster.at(i % 2, "/v1/decisions/velocity_loan"), json=record,
            headers={**cluster.admin, "X-Request-ID": f"vel-{phone}-{i}"})

    answers = _parallel([one(i) for i in range(total)])
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers][:2]
    stored = [cluster.client.get(cluster.at(0, f"/v1/decisions/{r.json()['id']}"),
                                 headers=cluster.admin).json() for r in answers]
    counts = sorted(s["inputs"]["velocity.apps_phone_7d"] for s in stored)
    assert counts == list(range(1, total + 1))  # each saw all before it, on either server
    sums = sorted(s["inputs"]["velocity.amount_phone_30d"] for s in stored)
    assert sums[-1] == float(sum(1000 + i for i in range(total)))
    assert max(s["inputs"]["velocity.devices_phone_24h"] for s in stored) == 5
