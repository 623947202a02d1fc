"""Strategy releases: upload, four-eyes approval, activation, rollback, candidate routing.

Every change is one transaction and leaves a row in ``release_events`` saying who
did what and when, so the history of what decided is never lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from sqlalchemy import Connection, and_, select, update

from fengkong.errors import FengkongError
from fengkong.store._db import utcnow
from fengkong.store._keys import Principal
from fengkong.store._tables import api_keys, deployments, release_events, strategy_versions

SYSTEM = "system"  # the actor of the start-up deployment of the example pack
MODES = ("shadow", "split")


class ReleaseError(FengkongError):
    """A release action that the rules do not allow; ``status`` is the HTTP status it maps to."""

    code: ClassVar[str] = "release-invalid"

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.error_code = code
        self.status = status


@dataclass(frozen=True)
class Deployment:
    """What decides for a strategy: the active version and an optional candidate."""

    strategy_id: str
    active_version: str
    candidate_version: str | None
    candidate_mode: str | None
    candidate_percent: int
    updated_by: str
    updated_at: dt.datetime


def _event(conn: Connection, tenant: str, sid: str, version: str, action: str, actor: str,
           **detail: Any) -> None:
    conn.execute(release_events.insert().values(
        tenant_id=tenant, strategy_id=sid, version=version, action=action, actor=actor,
        at=utcnow(), detail=orjson.dumps(detail).decode()))


def _version(conn: Connection, tenant: str, sid: str, version: str) -> Any:
    return conn.execute(select(strategy_versions).where(and_(
        strategy_versions.c.tenant_id == tenant, strategy_versions.c.strategy_id == sid,
        strategy_versions.c.version == version))).one_or_none()


def not_found(sid: str, version: str | None = None) -> ReleaseError:
    # Names come from the caller: the message does not repeat them.
    what = "No such strategy version." if version is not None else "No such strategy."
    return ReleaseError(what, "not-found", 404)


def upload(conn: Connection, tenant: str, sid: str, version: str, digest: str, files: str,
           actor: str) -> tuple[dict[str, Any], bool]:
    """Store a new version awaiting approval; returns it and whether it was created now.

    Uploading the same content again is a no-op; another content under a version
    that exists is refused (versions are immutable).
    """
    row = _version(conn, tenant, sid, version)
    if row is not None:
        if row.digest != digest:
            msg = ("This strategy version exists with other content; versions are immutable: "
                   "raise `version` in the file.")
            raise ReleaseError(msg, "version-exists", 409)
        return dict(row._mapping), False
    values = {"tenant_id": tenant, "strategy_id": sid, "version": version, "digest": digest,
              "files": files, "status": "pending", "uploaded_by": actor, "uploaded_at": utcnow(),
              "approved_by": None, "approved_at": None}
    conn.execute(strategy_versions.insert().values(**values))
    _event(conn, tenant, sid, version, "upload", actor, digest=digest)
    return values, True


def approve(conn: Connection, who: Principal, sid: str, version: str, *,
            activate: bool = True) -> None:
    """Approve a version uploaded by someone else (four eyes) and, by default, activate it."""
    tenant = who.tenant_id
    row = _version(conn, tenant, sid, version)
    if row is None:
        raise not_found(sid, version)
    if row.status == "approved":
        msg = "The version is already approved; activate it with a rollback or a candidate route."
        raise ReleaseError(msg, "already-approved", 409)
    uploader = conn.execute(select(api_keys.c.name).where(api_keys.c.id == row.uploaded_by)
                            ).scalar_one_or_none()
    if row.uploaded_by == who.key_id or (uploader is not None and uploader == who.name):
        msg = "Four eyes: a version must be approved by someone other than who uploaded it."
        raise ReleaseError(msg, "four-eyes", 403)
    now = utcnow()
    conn.execute(update(strategy_versions).where(and_(
        strategy_versions.c.tenant_id == tenant, strategy_versions.c.strategy_id == sid,
        strategy_versions.c.version == version))
        .values(status="approved", approved_by=who.key_id, approved_at=now))
    _event(conn, tenant, sid, version, "approve", who.key_id)
    if activate:
        _activate(conn, tenant, sid, version, who.key_id, "activate")


def _activate(conn: Connection, tenant: str, sid: str, version: str, actor: str,
              action: str) -> None:
    current = deployment(conn, tenant, sid)
    now = utcnow()
    if current is None:
        conn.execute(deployments.insert().values(
            tenant_id=tenant, strategy_id=sid, active_version=version, candidate_version=None,
            candidate_mode=None, candidate_percent=0, updated_by=actor, updated_at=now))
    else:
        keep = current.candidate_version not in (None, version)
        conn.execute(update(deployments).where(and_(
            deployments.c.tenant_id == tenant, deployments.c.strategy_id == sid)).values(
            active_version=version, updated_by=actor, updated_at=now,
            candidate_version=current.candidate_version if keep else None,
            candidate_mode=current.candidate_mode if keep else None,
            candidate_percent=current.candidate_percent if keep else 0))
    _event(conn, tenant, sid, version, action, actor,
           previous=current.active_version if current else None)


def rollback(conn: Connection, who: Principal, sid: str, version: str) -> None:
    """Make an earlier approved version active again."""
    row = _version(conn, who.tenant_id, sid, version)
    if row is None:
        raise not_found(sid, version)
    if row.status != "approved":
        msg = "The version was never approved; only approved versions can be activated."
        raise ReleaseError(msg, "not-approved", 409)
    _activate(conn, who.tenant_id, sid, version, who.key_id, "rollback")


def route(conn: Connection, who: Principal, sid: str, candidate: str | None, mode: str,
          percent: int) -> None:
    """Send ``percent`` of traffic to an approved candidate too (shadow) or instead (split)."""
    current = deployment(conn, who.tenant_id, sid)
    if current is None:
        raise not_found(sid)
    if candidate is not None:
        row = _version(conn, who.tenant_id, sid, candidate)
        if row is None:
            raise not_found(sid, candidate)
        if row.status != "approved":
            msg = "The candidate version is not approved; approve it (four eyes) first."
            raise ReleaseError(msg, "not-approved", 409)
        if candidate == current.active_version:
            msg = "The candidate version is already the active version."
            raise ReleaseError(msg, "candidate-active", 409)
    conn.execute(update(deployments).where(and_(
        deployments.c.tenant_id == who.tenant_id, deployments.c.strategy_id == sid)).values(
        candidate_version=candidate, candidate_mode=mode if candidate else None,
        candidate_percent=percent if candidate else 0, updated_by=who.key_id,
        updated_at=utcnow()))
    _event(conn, who.tenant_id, sid, candidate or current.active_version, "route", who.key_id,
           candidate=candidate, mode=mode if candidate else None,
           percent=percent if candidate else 0)


def bootstrap(conn: Connection, tenant: str, sid: str, version: str, digest: str,
              files: str) -> bool:
    """Deploy a built-in pack for a tenant that has no deployment of it; False if it has one."""
    if deployment(conn, tenant, sid) is not None:
        return False
    if _version(conn, tenant, sid, version) is None:
        now = utcnow()
        conn.execute(strategy_versions.insert().values(
            tenant_id=tenant, strategy_id=sid, version=version, digest=digest, files=files,
            status="approved", uploaded_by=SYSTEM, uploaded_at=now, approved_by=SYSTEM,
            approved_at=now))
    _activate(conn, tenant, sid, version, SYSTEM, "bootstrap")
    return True


def deployment(conn: Connection, tenant: str, sid: str) -> Deployment | None:
    """The current deployment of a strategy, if any."""
    row = conn.execute(select(deployments).where(and_(
        deployments.c.tenant_id == tenant, deployments.c.strategy_id == sid))).one_or_none()
    if row is None:
        return None
    m = row._mapping
    return Deployment(sid, m["active_version"], m["candidate_version"], m["candidate_mode"],
                      m["candidate_percent"], m["updated_by"], m["updated_at"])


def all_deployments(conn: Connection) -> list[tuple[str, str]]:
    """Every (tenant, strategy) that has a deployment."""
    return [(r.tenant_id, r.strategy_id) for r in conn.execute(
        select(deployments.c.tenant_id, deployments.c.strategy_id))]


def version_files(conn: Connection, tenant: str, sid: str, version: str) -> tuple[str, str] | None:
    """A version's digest and files (JSON), or None."""
    row = _version(conn, tenant, sid, version)
    return None if row is None else (row.digest, row.files)


def list_strategies(conn: Connection, tenant: str) -> list[dict[str, Any]]:
    """A tenant's strategies with their deployment."""
    ids = sorted({r for (r,) in conn.execute(select(strategy_versions.c.strategy_id).where(
        strategy_versions.c.tenant_id == tenant))})
    out = []
    for sid in ids:
        dep = deployment(conn, tenant, sid)
        out.append({"strategy": sid, "deployment": None if dep is None else dep.__dict__})
    return out


def list_versions(conn: Connection, tenant: str, sid: str) -> list[dict[str, Any]]:
    """Every version of a strategy with who uploaded and approved it, and its history."""
    names = {r.id: r.name for r in conn.execute(
        select(api_keys.c.id, api_keys.c.name).where(api_keys.c.tenant_id == tenant))}
    names[SYSTEM] = SYSTEM
    rows = conn.execute(select(
        strategy_versions.c.version, strategy_versions.c.digest, strategy_versions.c.status,
        strategy_versions.c.uploaded_by, strategy_versions.c.uploaded_at,
        strategy_versions.c.approved_by, strategy_versions.c.approved_at).where(and_(
            strategy_versions.c.tenant_id == tenant, strategy_versions.c.strategy_id == sid))
        .order_by(strategy_versions.c.uploaded_at)).all()
    if not rows:
        raise not_found(sid)
    events: dict[str, list[dict[str, Any]]] = {}
    for e in conn.execute(select(release_events).where(and_(
            release_events.c.tenant_id == tenant, release_events.c.strategy_id == sid))
            .order_by(release_events.c.id)):
        events.setdefault(e.version, []).append({
            "action": e.action, "by": {"key": e.actor, "name": names.get(e.actor)},
            "at": e.at, "detail": orjson.loads(e.detail)})
    dep = deployment(conn, tenant, sid)

    def who(key: str | None) -> dict[str, Any] | None:
        return None if key is None else {"key": key, "name": names.get(key)}

    return [{
        "version": r.version, "digest": r.digest, "status": r.status,
        "active": dep is not None and dep.active_version == r.version,
        "candidate": dep is not None and dep.candidate_version == r.version,
        "uploaded_by": who(r.uploaded_by), "uploaded_at": r.uploaded_at,
        "approved_by": who(r.approved_by), "approved_at": r.approved_at,
        "history": events.get(r.version, []),
    } for r in rows]
