"""API keys: one tenant and a set of roles each; only a hash of the key is stored.

A key is ``fk_<id>_<secret>``: the id finds the row, the secret (256 random bits)
is checked against its SHA-256 in constant time. A slow password hash would add
milliseconds to every request and buys nothing for a random 256-bit secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fengkong.errors import FengkongError
from fengkong.store._db import utcnow
from fengkong.store._tables import api_keys, tenants

ROLES = ("decide", "author", "approve", "audit", "admin", "consent", "review")
TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_KEY = re.compile(r"fk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class KeyRequestError(FengkongError):
    """A key request names an unknown role or a malformed tenant."""

    code = "key-invalid"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id, tenant, name and roles."""

    key_id: str
    tenant_id: str
    name: str
    roles: frozenset[str]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def ensure_tenant(conn: Connection, tenant: str) -> None:
    """Create the tenant if it does not exist yet."""
    if not TENANT_PATTERN.fullmatch(tenant):
        msg = (f"Tenant {tenant!r} is not a valid id: lower-case letters, digits, '-' and '_', "
               "at most 64 characters.")
        raise KeyRequestError(msg)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(tenants).values(id=tenant, created_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["id"]))


def create_key(conn: Connection, tenant: str, roles: list[str] | tuple[str, ...],
               name: str) -> tuple[Principal, str]:
    """Make a key; returns who it is and the key text (shown once, never stored)."""
    bad = sorted(set(roles) - set(ROLES))
    if bad or not roles:
        msg = (f"Unknown role(s) {', '.join(map(repr, bad))}; " if bad else "No role given; ") + \
              f"choose from {', '.join(ROLES)}."
        raise KeyRequestError(msg)
    if not name or len(name) > 128:
        msg = "A key needs a name of 1 to 128 characters (who or what uses it)."
        raise KeyRequestError(msg)
    ensure_tenant(conn, tenant)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    ordered = tuple(r for r in ROLES if r in roles)
    conn.execute(api_keys.insert().values(
        id=key_id, tenant_id=tenant, name=name, roles=",".join(ordered), key_hash=_hash(secret),
        created_at=utcnow(), revoked_at=None))
    return Principal(key_id, tenant, name, frozenset(ordered)), f"fk_{key_id}_{secret}"


def authenticate(conn: Connection, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else."""
    m = _KEY.fullmatch(key)
    if m is None:
        return None
    row = conn.execute(select(api_keys).where(api_keys.c.id == m.group(1))).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _hash(m.group(2))):
        return None
    return Principal(row.id, row.tenant_id, row.name, frozenset(row.roles.split(",")))


def list_keys(conn: Connection, tenant: str) -> list[dict[str, object]]:
    """A tenant's keys (never their secrets)."""
    rows = conn.execute(select(api_keys).where(api_keys.c.tenant_id == tenant)
                        .order_by(api_keys.c.created_at)).all()
    return [{"id": r.id, "name": r.name, "roles": r.roles.split(","),
             "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows]


def revoke_key(conn: Connection, tenant: str, key_id: str) -> bool:
    """Revoke one of ``tenant``'s keys; False if it has no such key."""
    res = conn.execute(update(api_keys).where(
        api_keys.c.tenant_id == tenant, api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    return res.rowcount == 1
