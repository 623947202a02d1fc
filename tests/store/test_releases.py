"""Strategy releases: four-eyes approval, activation, rollback, candidates, bootstrap, history."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fengkong.store import Database, Principal, ReleaseError, create_key, releases
from fengkong.store._tables import release_events, strategy_versions

T = "bank_a"
SID = "consumer_loan"


def _key(db: Database, name: str, tenant: str = T, roles: tuple[str, ...] = ("author", "approve")
         ) -> Principal:
    with db.writer.begin() as conn:
        who, _ = create_key(conn, tenant, roles, name)
    return who


def _upload(db: Database, who: Principal, version: str, digest: str | None = None
            ) -> tuple[dict[str, object], bool]:
    with db.writer.begin() as conn:
        return releases.upload(conn, who.tenant_id, SID, version, digest or f"sha256:{version}",
                               f'{{"strategy.yaml": "version: {version}"}}', who.key_id)


def _refused(db: Database, action: object, code: str, status: int) -> ReleaseError:
    with pytest.raises(ReleaseError) as info, db.writer.begin() as conn:
        action(conn)  # type: ignore[operator]
    assert (info.value.error_code, info.value.status) == (code, status)
    return info.value


def _events(db: Database) -> list[tuple[str, str, str]]:
    with db.reader.connect() as conn:
        return [(r.version, r.action, r.actor) for r in conn.execute(
            select(release_events).where(release_events.c.strategy_id == SID)
            .order_by(release_events.c.id))]


def test_upload_is_pending_idempotent_and_immutable(db: Database) -> None:
    alice = _key(db, "alice")
    row, created = _upload(db, alice, "1")
    assert created and row["status"] == "pending" and row["uploaded_by"] == alice.key_id
    again, created_again = _upload(db, alice, "1")
    assert not created_again and again["digest"] == "sha256:1"
    err = _refused(db, lambda c: releases.upload(c, T, SID, "1", "sha256:other", "{}",
                                                 alice.key_id), "version-exists", 409)
    assert "immutable" in str(err)
    assert _events(db) == [("1", "upload", alice.key_id)]  # no event for the no-op
    with db.reader.connect() as conn:
        assert releases.deployment(conn, T, SID) is None  # pending: nothing decides yet


def test_four_eyes_refuses_the_uploader_and_a_key_of_the_same_name(db: Database) -> None:
    alice = _key(db, "alice")
    alice_again = _key(db, "alice")  # a second key under the same name: the same person
    bob = _key(db, "bob")
    _upload(db, alice, "1")
    for who in (alice, alice_again):
        err = _refused(db, lambda c, w=who: releases.approve(c, w, SID, "1"), "four-eyes", 403)
        assert "someone other" in str(err)
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "1")
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
        row = conn.execute(select(strategy_versions)).one()
    assert dep is not None and dep.active_version == "1" and dep.updated_by == bob.key_id
    assert (row.status, row.approved_by) == ("approved", bob.key_id)
    assert row.approved_at is not None
    assert _events(db) == [("1", "upload", alice.key_id), ("1", "approve", bob.key_id),
                           ("1", "activate", bob.key_id)]


def test_approving_twice_is_refused(db: Database) -> None:
    alice, bob, carol = _key(db, "alice"), _key(db, "bob"), _key(db, "carol")
    _upload(db, alice, "1")
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "1")
    _refused(db, lambda c: releases.approve(c, carol, SID, "1"), "already-approved", 409)
    _refused(db, lambda c: releases.approve(c, bob, SID, "9"), "not-found", 404)


def test_approval_is_per_tenant(db: Database) -> None:
    alice = _key(db, "alice")
    mallory = _key(db, "mallory", tenant="bank_b")
    _upload(db, alice, "1")
    _refused(db, lambda c: releases.approve(c, mallory, SID, "1"), "not-found", 404)


def test_approve_without_activation_then_rollback_activates(db: Database) -> None:
    alice, bob = _key(db, "alice"), _key(db, "bob")
    _upload(db, alice, "1")
    _upload(db, alice, "2")
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "1")
        releases.approve(conn, bob, SID, "2", activate=False)
    with db.reader.connect() as conn:
        assert releases.deployment(conn, T, SID).active_version == "1"  # type: ignore[union-attr]
    with db.writer.begin() as conn:
        releases.rollback(conn, bob, SID, "2")
    with db.reader.connect() as conn:
        assert releases.deployment(conn, T, SID).active_version == "2"  # type: ignore[union-attr]
    with db.writer.begin() as conn:
        releases.rollback(conn, bob, SID, "1")
    with db.reader.connect() as conn:
        assert releases.deployment(conn, T, SID).active_version == "1"  # type: ignore[union-attr]
    assert [e[1] for e in _events(db)] == ["upload", "upload", "approve", "activate", "approve",
                                           "rollback", "rollback"]


def test_rollback_only_to_an_approved_version(db: Database) -> None:
    alice, bob = _key(db, "alice"), _key(db, "bob")
    _upload(db, alice, "1")
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "1")
    _upload(db, alice, "2")
    err = _refused(db, lambda c: releases.rollback(c, bob, SID, "2"), "not-approved", 409)
    assert "never approved" in str(err)
    _refused(db, lambda c: releases.rollback(c, bob, SID, "7"), "not-found", 404)
    with db.reader.connect() as conn:
        assert releases.deployment(conn, T, SID).active_version == "1"  # type: ignore[union-attr]


def test_candidate_routing_rules(db: Database) -> None:
    alice, bob = _key(db, "alice"), _key(db, "bob")
    _refused(db, lambda c: releases.route(c, bob, SID, "1", "shadow", 10), "not-found", 404)
    for v in ("1", "2", "3"):
        _upload(db, alice, v)
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "1")
        releases.approve(conn, bob, SID, "2", activate=False)
    _refused(db, lambda c: releases.route(c, bob, SID, "3", "shadow", 10), "not-approved", 409)
    _refused(db, lambda c: releases.route(c, bob, SID, "1", "shadow", 10), "candidate-active", 409)
    _refused(db, lambda c: releases.route(c, bob, SID, "8", "shadow", 10), "not-found", 404)
    with db.writer.begin() as conn:
        releases.route(conn, bob, SID, "2", "split", 25)
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
    assert dep is not None
    assert (dep.active_version, dep.candidate_version, dep.candidate_mode,
            dep.candidate_percent) == ("1", "2", "split", 25)
    # Activating another version keeps the candidate; activating the candidate clears it.
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "3")
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
    assert dep is not None and (dep.active_version, dep.candidate_version) == ("3", "2")
    with db.writer.begin() as conn:
        releases.rollback(conn, bob, SID, "2")
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
    assert dep is not None
    assert (dep.active_version, dep.candidate_version, dep.candidate_mode,
            dep.candidate_percent) == ("2", None, None, 0)
    # Clearing the candidate.
    with db.writer.begin() as conn:
        releases.route(conn, bob, SID, "1", "shadow", 50)
        releases.route(conn, bob, SID, None, "shadow", 50)
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
    assert dep is not None
    assert (dep.candidate_version, dep.candidate_mode, dep.candidate_percent) == (None, None, 0)


def test_bootstrap_deploys_once(db: Database) -> None:
    with db.writer.begin() as conn:
        assert releases.bootstrap(conn, T, SID, "1", "sha256:1", "{}") is True
    with db.writer.begin() as conn:
        assert releases.bootstrap(conn, T, SID, "1", "sha256:1", "{}") is False
        assert releases.bootstrap(conn, T, SID, "2", "sha256:2", "{}") is False
    with db.reader.connect() as conn:
        dep = releases.deployment(conn, T, SID)
        versions = conn.execute(select(func.count()).select_from(strategy_versions)).scalar_one()
        row = conn.execute(select(strategy_versions)).one()
    assert dep is not None and (dep.active_version, dep.updated_by) == ("1", "system")
    assert versions == 1
    assert (row.status, row.uploaded_by, row.approved_by) == ("approved", "system", "system")
    assert _events(db) == [("1", "bootstrap", "system")]
    with db.writer.begin() as conn:  # another tenant gets its own deployment
        assert releases.bootstrap(conn, "bank_b", SID, "1", "sha256:1", "{}") is True
    with db.reader.connect() as conn:
        assert sorted(releases.all_deployments(conn)) == [("bank_a", SID), ("bank_b", SID)]


def test_list_versions_names_people_and_keeps_history_order(db: Database) -> None:
    with db.writer.begin() as conn:
        releases.bootstrap(conn, T, SID, "1", "sha256:1", "{}")
    alice, bob = _key(db, "alice"), _key(db, "bob")
    _upload(db, alice, "2")
    with db.writer.begin() as conn:
        releases.approve(conn, bob, SID, "2", activate=False)
        releases.route(conn, bob, SID, "2", "shadow", 10)
        releases.rollback(conn, bob, SID, "2")
    with db.reader.connect() as conn:
        versions = releases.list_versions(conn, T, SID)
        strategies = releases.list_strategies(conn, T)
        with pytest.raises(ReleaseError) as info:
            releases.list_versions(conn, T, "nope")
        assert info.value.status == 404
        with pytest.raises(ReleaseError):
            releases.list_versions(conn, "bank_b", SID)  # another tenant sees nothing
        assert releases.version_files(conn, T, SID, "2") == (
            "sha256:2", '{"strategy.yaml": "version: 2"}')
        assert releases.version_files(conn, T, SID, "9") is None
    v1, v2 = versions
    assert (v1["version"], v1["status"], v1["active"], v1["candidate"]) == (
        "1", "approved", False, False)
    assert v1["uploaded_by"] == {"key": "system", "name": "system"}
    assert [h["action"] for h in v1["history"]] == ["bootstrap"]
    assert (v2["version"], v2["status"], v2["active"], v2["candidate"]) == (
        "2", "approved", True, False)
    assert v2["uploaded_by"] == {"key": alice.key_id, "name": "alice"}
    assert v2["approved_by"] == {"key": bob.key_id, "name": "bob"}
    assert [(h["action"], h["by"]["name"]) for h in v2["history"]] == [
        ("upload", "alice"), ("approve", "bob"), ("route", "bob"), ("rollback", "bob")]
    assert v2["history"][2]["detail"] == {"candidate": "2", "mode": "shadow", "percent": 10}
    assert v2["history"][3]["detail"] == {"previous": "1"}
    assert [s["strategy"] for s in strategies] == [SID]
    assert strategies[0]["deployment"]["active_version"] == "2"
