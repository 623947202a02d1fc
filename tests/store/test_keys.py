"""API keys: creation, authentication, revocation, validation; only a hash is stored."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from fengkong.store import (
    ROLES,
    Database,
    KeyRequestError,
    authenticate,
    create_key,
    ensure_tenant,
    list_keys,
    revoke_key,
)
from fengkong.store._tables import api_keys, tenants


def _create(db: Database, tenant: str = "bank_a", roles: tuple[str, ...] = ("decide",),
            name: str = "app") -> tuple[object, str]:
    with db.writer.begin() as conn:
        return create_key(conn, tenant, roles, name)


def _auth(db: Database, key: str) -> object:
    with db.reader.connect() as conn:
        return authenticate(conn, key)


def test_a_created_key_authenticates_as_its_principal(db: Database) -> None:
    who, key = _create(db, roles=("audit", "decide", "decide"), name="scoring-app")
    assert key.startswith(f"fk_{who.key_id}_")  # type: ignore[attr-defined]
    back = _auth(db, key)
    assert back == who
    assert back.roles == frozenset({"decide", "audit"})  # type: ignore[attr-defined]
    assert (back.tenant_id, back.name) == ("bank_a", "scoring-app")  # type: ignore[attr-defined]
    with db.reader.connect() as conn:
        assert conn.execute(select(tenants.c.id)).scalars().all() == ["bank_a"]
        row = conn.execute(select(api_keys)).one()
    assert row.roles == "decide,audit"  # stored in the canonical order of ROLES


def test_two_keys_differ(db: Database) -> None:
    (a, key_a), (b, key_b) = _create(db), _create(db)
    assert key_a != key_b and a.key_id != b.key_id  # type: ignore[attr-defined]
    assert _auth(db, key_a) == a and _auth(db, key_b) == b


MANGLES = {
    "wrong secret": lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),
    "malformed prefix": lambda k: k.replace("fk_", "fk-", 1),
    "secret too short": lambda k: k[:-1],
    "secret too long": lambda k: k + "x",
    "upper-case id": lambda k: k.upper(),
    "unknown id": lambda k: "fk_0123456789abcdef_" + k.split("_", 2)[2],
    "empty": lambda _k: "",
    "scheme only": lambda _k: "Bearer",
    "leading space": lambda k: " " + k,
}


def test_anything_but_the_exact_key_is_refused(db: Database) -> None:
    _, key = _create(db)
    accepted = [what for what, mangle in MANGLES.items() if _auth(db, mangle(key)) is not None]
    assert accepted == []
    assert _auth(db, key) is not None


def test_a_key_with_a_trailing_newline_is_refused(db: Database) -> None:
    # ``$`` in a Python pattern also matches before a final newline.
    _, key = _create(db)
    assert _auth(db, key + "\n") is None


def test_a_key_of_another_key_id_with_a_valid_secret_is_refused(db: Database) -> None:
    _a, key_a = _create(db)
    b, _key_b = _create(db)
    crossed = f"fk_{b.key_id}_{key_a.split('_', 2)[2]}"  # type: ignore[attr-defined]
    assert _auth(db, crossed) is None


def test_a_revoked_key_is_refused_and_revoking_is_per_tenant(db: Database) -> None:
    who, key = _create(db)
    other, other_key = _create(db, tenant="bank_b")
    with db.writer.begin() as conn:
        assert revoke_key(conn, "bank_b", who.key_id) is False  # type: ignore[attr-defined]
    assert _auth(db, key) == who
    with db.writer.begin() as conn:
        assert revoke_key(conn, "bank_a", who.key_id) is True  # type: ignore[attr-defined]
        assert revoke_key(conn, "bank_a", who.key_id) is False  # already revoked
        assert revoke_key(conn, "bank_a", "0123456789abcdef") is False
    assert _auth(db, key) is None
    assert _auth(db, other_key) == other
    with db.reader.connect() as conn:
        listed = list_keys(conn, "bank_a")
    assert [(k["id"], k["name"], k["roles"]) for k in listed] == [
        (who.key_id, "app", ["decide"])]  # type: ignore[attr-defined]
    assert listed[0]["revoked_at"] is not None


def test_list_keys_shows_a_tenants_keys_in_creation_order_without_secrets(db: Database) -> None:
    _first, key1 = _create(db, name="one", roles=("admin",))
    _second, key2 = _create(db, name="two", roles=ROLES)
    _create(db, tenant="bank_b", name="elsewhere")
    with db.reader.connect() as conn:
        listed = list_keys(conn, "bank_a")
        assert list_keys(conn, "nobody") == []
    assert [k["name"] for k in listed] == ["one", "two"]
    assert listed[1]["roles"] == list(ROLES)
    assert all(set(k) == {"id", "name", "roles", "created_at", "revoked_at"} for k in listed)
    text = repr(listed)
    for key in (key1, key2):
        assert key.split("_", 2)[2] not in text


def test_unknown_or_missing_roles_are_refused(db: Database) -> None:
    for roles, needle in [(("decide", "superuser"), "'superuser'"), (("Decide",), "'Decide'"),
                          ((), "No role")]:
        with pytest.raises(KeyRequestError) as info, db.writer.begin() as conn:
            create_key(conn, "bank_a", roles, "app")
        assert needle in str(info.value)
        assert "decide, author, approve, audit, admin" in str(info.value)
        assert info.value.code == "key-invalid"
    with db.reader.connect() as conn:
        assert conn.execute(select(api_keys)).all() == []
        assert conn.execute(select(tenants)).all() == []


def test_a_key_needs_a_name(db: Database) -> None:
    for name in ("", "x" * 129):
        with pytest.raises(KeyRequestError, match="name"), db.writer.begin() as conn:
            create_key(conn, "bank_a", ("decide",), name)
    _create(db, name="x" * 128)


def _tenant_accepted(db: Database, tenant: str) -> bool:
    try:
        with db.writer.begin() as conn:
            create_key(conn, tenant, ("decide",), "app")
    except KeyRequestError as e:
        assert "not a valid id" in str(e)
        return False
    return True


def test_malformed_tenant_ids_are_refused(db: Database) -> None:
    bad = ["", "Bank", "bank a", "-bank", "_bank", "x" * 65, "bank/a", "bänk", "bank\ta"]
    assert [t for t in bad if _tenant_accepted(db, t)] == []
    with db.reader.connect() as conn:
        assert conn.execute(select(tenants)).all() == []
        assert conn.execute(select(api_keys)).all() == []


def test_a_tenant_id_with_a_trailing_newline_is_refused(db: Database) -> None:
    assert not _tenant_accepted(db, "bank\n")
    with db.reader.connect() as conn:
        assert conn.execute(select(tenants)).all() == []


def test_valid_tenant_ids_are_accepted_once(db: Database) -> None:
    good = ["a", "bank-a_1", "0bank", "x" * 64]
    with db.writer.begin() as conn:
        for tenant in good:
            ensure_tenant(conn, tenant)
            ensure_tenant(conn, tenant)  # idempotent
    assert all(_tenant_accepted(db, t) for t in good)
    with db.reader.connect() as conn:
        assert sorted(conn.execute(select(tenants.c.id)).scalars().all()) == sorted(good)


def test_only_the_sha256_of_the_secret_is_stored(db: Database) -> None:
    who, key = _create(db, roles=("decide", "admin"), name="ops")
    secret = key.split("_", 2)[2]
    with db.reader.connect() as conn:
        rows = conn.execute(select(api_keys)).all()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert key not in stored and secret not in stored
    assert secret[:16] not in stored and secret[-16:] not in stored
    assert rows[0].key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert rows[0].id == who.key_id  # type: ignore[attr-defined]
