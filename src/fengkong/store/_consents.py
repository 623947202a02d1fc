"""The consent registry: who (a pseudonym) allowed which data source to be used for what.

A consent is recorded per data subject, data source and purpose, with its type
(``general`` < ``separate`` < ``written``), the version of the wording agreed to, when
it was granted, until when it is valid, when it was revoked, and evidence of the
signed authorisation (a SHA-256 of the document and where it is kept). Subjects are
pseudonyms: the registry never holds an identifier in clear.

:func:`consent_status` is the verdict a decision uses. It reads the committed rows
every time (nothing is cached), so a revocation takes effect for the very next check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from fengkong.errors import FengkongError
from fengkong.store._db import as_utc, utcnow
from fengkong.store._ids import new_id
from fengkong.store._tables import consents

PURPOSES = ("acquisition", "origination", "account_management", "collections", "marketing",
            "modelling")
CONSENT_TYPES = ("general", "separate", "written")  # weakest first
VERDICTS = ("granted", "missing", "expired", "revoked", "purpose-mismatch")
SOURCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
EVIDENCE_HASH_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
SUBJECT_PATTERN = re.compile(r"pn1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{27}")
MAX_PROBLEMS = 100  # a bad import file reports this many problems, not millions

Verdict = Literal["granted", "missing", "expired", "revoked", "purpose-mismatch"]


class ConsentError(FengkongError):
    """A consent that the rules do not allow; ``status`` is the HTTP status it maps to.

    ``problems`` name each bad field: ``{"path": "$.purpose", "code": ..., "message": ...}``,
    with ``"line"`` (1-based) for a bulk import. Messages never repeat a submitted value.
    """

    code: ClassVar[str] = "consent-invalid"

    def __init__(self, message: str, code: str = "consent-invalid", status: int = 422,
                 problems: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.error_code = code
        self.status = status
        self.problems = list(problems)


@dataclass(frozen=True)
class NewConsent:
    """A consent to record; ``subject`` is a pseudonym (``pn1....``)."""

    subject: str
    source: str
    purpose: str
    consent_type: str
    version: str
    evidence_hash: str
    evidence_ref: str
    granted_at: dt.datetime | None = None  # None: now
    valid_to: dt.datetime | None = None  # None: until revoked


@dataclass(frozen=True)
class ConsentStatus:
    """The verdict for one subject, source and purpose at one instant.

    ``consent_type`` is the type of the consent the verdict is about (the strongest
    valid one when granted), ``consent`` that consent's row (None when missing or a
    purpose mismatch).
    """

    verdict: Verdict
    at: dt.datetime
    consent_type: str | None = None
    consent: dict[str, Any] | None = None
    purposes: tuple[str, ...] = field(default=())  # on a mismatch: the purposes there are

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it."""
        out: dict[str, Any] = {"verdict": self.verdict, "at": self.at,
                               "consent_type": self.consent_type, "consent": self.consent}
        if self.verdict == "purpose-mismatch":
            out["purposes"] = list(self.purposes)
        return out


def _problem(path: str, code: str, message: str) -> dict[str, Any]:
    return {"path": path, "code": code, "message": message}


def check(c: NewConsent, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every problem with ``c`` (empty when it may be recorded)."""
    now = as_utc(now or utcnow())
    out = []
    if not isinstance(c.subject, str) or not SUBJECT_PATTERN.fullmatch(c.subject):
        out.append(_problem("$.subject_pseudonym", "subject-invalid",
                            "The subject must be a pseudonym (pn1.<key id>.<27 characters>)."))
    if not isinstance(c.source, str) or not SOURCE_PATTERN.fullmatch(c.source):
        out.append(_problem("$.source", "source-invalid", "A source id is 1-64 of lower-case "
                            "letters, digits, '_', '.' and '-', starting with a letter or digit."))
    if c.purpose not in PURPOSES:
        out.append(_problem("$.purpose", "purpose-invalid",
                            f"The purpose must be one of {', '.join(PURPOSES)}."))
    if c.consent_type not in CONSENT_TYPES:
        out.append(_problem("$.consent_type", "consent-type-invalid",
                            f"The consent type must be one of {', '.join(CONSENT_TYPES)}."))
    if not isinstance(c.version, str) or not 1 <= len(c.version) <= 64 or "\x00" in c.version:
        out.append(_problem("$.version", "version-invalid",
                            "The version must be 1-64 characters."))
    if not isinstance(c.evidence_hash, str) or not EVIDENCE_HASH_PATTERN.fullmatch(c.evidence_hash):
        out.append(_problem("$.evidence.hash", "evidence-hash-invalid",
                            "The evidence hash must be sha256:<64 lower-case hex digits>."))
    if (not isinstance(c.evidence_ref, str) or not 1 <= len(c.evidence_ref) <= 256
            or "\x00" in c.evidence_ref):
        out.append(_problem("$.evidence.ref", "evidence-ref-invalid",
                            "The evidence reference must be 1-256 characters."))
    try:
        granted = as_utc(c.granted_at) if c.granted_at is not None else now
        valid_to = as_utc(c.valid_to) if c.valid_to is not None else None
    except OverflowError:
        out.append(_problem("$.granted_at", "time-invalid", "A time is out of range."))
        return out
    if granted > now + dt.timedelta(minutes=5):
        out.append(_problem("$.granted_at", "granted-in-future",
                            "A consent cannot be recorded before it is granted."))
    if valid_to is not None and valid_to <= granted:
        out.append(_problem("$.valid_to", "time-order",
                            "valid_to must be after granted_at."))
    return out


def _row(c: NewConsent, tenant: str, recorded_by: str, now: dt.datetime) -> dict[str, Any]:
    return {"id": new_id(), "tenant_id": tenant, "subject": c.subject,
            "source": c.source, "purpose": c.purpose, "consent_type": c.consent_type,
            "version": c.version,
            "granted_at": as_utc(c.granted_at) if c.granted_at is not None else now,
            "valid_to": as_utc(c.valid_to) if c.valid_to is not None else None,
            "revoked_at": None, "evidence_hash": c.evidence_hash,
            "evidence_ref": c.evidence_ref, "recorded_by": recorded_by, "recorded_at": now}


def view(row: Any) -> dict[str, Any]:
    """A consent row as the API and CLI show it (times in UTC, no tenant)."""
    m = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    for k in ("granted_at", "valid_to", "revoked_at", "recorded_at"):
        if m[k] is not None:
            m[k] = as_utc(m[k])
    return {"id": m["id"], "subject_pseudonym": m["subject"], "source": m["source"],
            "purpose": m["purpose"], "consent_type": m["consent_type"], "version": m["version"],
            "granted_at": m["granted_at"], "valid_to": m["valid_to"],
            "revoked_at": m["revoked_at"],
            "evidence": {"hash": m["evidence_hash"], "ref": m["evidence_ref"]},
            "recorded_by": m["recorded_by"], "recorded_at": m["recorded_at"]}


def grant_consent(conn: Connection, tenant: str, consent: NewConsent, recorded_by: str) -> dict[str, Any]:
    """Record one consent; returns it as :func:`view` shows it."""
    now = utcnow()
    problems = check(consent, now)
    if problems:
        msg = "The consent is not valid."
        raise ConsentError(msg, problems=problems)
    row = _row(consent, tenant, recorded_by, now)
    conn.execute(consents.insert().values(**row))
    return view(row)


def import_consents(conn: Connection, tenant: str, items: Sequence[tuple[int, NewConsent]],
               recorded_by: str, progress: Callable[[int], object] | None = None,
               chunk: int = 500) -> int:
    """Record many consents in the caller's transaction: all of them or, on any problem, none.

    ``items`` are ``(line, consent)``; problems name the line and the field. Returns how
    many were recorded. ``progress(n)`` is called after each chunk of ``n`` rows.
    """
    now = utcnow()
    problems: list[dict[str, Any]] = []
    for line, c in items:
        problems.extend({"line": line, **p} for p in check(c, now))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        msg = "The import has invalid consents; nothing was recorded."
        raise ConsentError(msg, problems=problems[:MAX_PROBLEMS])
    for start in range(0, len(items), chunk):
        batch = [_row(c, tenant, recorded_by, now) for _, c in items[start:start + chunk]]
        conn.execute(consents.insert(), batch)
        if progress is not None:
            progress(len(batch))
    return len(items)


def _one(conn: Connection, tenant: str, consent_id: str) -> Any:
    return conn.execute(select(consents).where(and_(
        consents.c.tenant_id == tenant, consents.c.id == consent_id))).one_or_none()


def not_found() -> ConsentError:
    """Another tenant's consent answers exactly like one that does not exist."""
    return ConsentError("No such consent.", "not-found", 404)


def get_consent(conn: Connection, tenant: str, consent_id: str) -> dict[str, Any]:
    """One of ``tenant``'s consents."""
    row = _one(conn, tenant, consent_id)
    if row is None:
        raise not_found()
    return view(row)


def revoke_consent(conn: Connection, tenant: str, consent_id: str,
           revoked_at: dt.datetime | None = None) -> tuple[dict[str, Any], bool]:
    """Revoke one of ``tenant``'s consents; returns it and whether it was revoked now.

    Revoking again keeps the first revocation time. ``revoked_at`` (default now) may be
    in the past (a revocation received by letter) but not before the grant nor in the
    future: a revocation takes effect at once.
    """
    now = utcnow()
    row = _one(conn, tenant, consent_id)
    if row is None:
        raise not_found()
    if row.revoked_at is not None:
        return view(row), False
    when = as_utc(revoked_at) if revoked_at is not None else now
    if when > now + dt.timedelta(seconds=1):
        msg = "A revocation takes effect at once; revoked_at cannot be in the future."
        raise ConsentError(msg, problems=[_problem("$.revoked_at", "revoked-in-future",
                                                   "Must not be in the future.")])
    if when < as_utc(row.granted_at):
        msg = "A consent cannot be revoked before it was granted."
        raise ConsentError(msg, problems=[_problem("$.revoked_at", "time-order",
                                                   "revoked_at must not be before granted_at.")])
    conn.execute(update(consents).where(and_(
        consents.c.tenant_id == tenant, consents.c.id == consent_id,
        consents.c.revoked_at.is_(None))).values(revoked_at=when))
    return view(_one(conn, tenant, consent_id)), True


Subject = str | Sequence[str]
"""One pseudonym, or the pseudonyms of one person under several keys (one per key)."""


def _subjects(subject: Subject) -> tuple[str, ...]:
    """The pseudonyms that name one subject (a rotation leaves a person one per key)."""
    subjects = (subject,) if isinstance(subject, str) else tuple(dict.fromkeys(subject))
    if not subjects or not all(isinstance(s, str) for s in subjects):
        msg = "A subject is a pseudonym or a non-empty sequence of pseudonyms."
        raise ValueError(msg)
    return subjects


def _of_subject(subject: Subject) -> ColumnElement[bool]:
    subjects = _subjects(subject)
    if len(subjects) == 1:
        return consents.c.subject == subjects[0]
    return consents.c.subject.in_(subjects)


def list_consents(conn: Connection, tenant: str, *, subject: Subject | None = None,
                  source: str | None = None, purpose: str | None = None,
                  active: bool | None = None, at: dt.datetime | None = None,
                  before: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """``tenant``'s consents, newest first; ``before`` (an id) gives the next page.

    ``active``: True for the consents in force at ``at`` (default now), False for the others.
    ``subject`` is a pseudonym or the pseudonyms of one person under several keys (as
    :meth:`~fengkong.privacy.PseudonymKeys.pseudonyms` gives them): consents recorded under
    any of them are listed.
    """
    q = select(consents).where(consents.c.tenant_id == tenant)
    if subject is not None:
        q = q.where(_of_subject(subject))
    if source is not None:
        q = q.where(consents.c.source == source)
    if purpose is not None:
        q = q.where(consents.c.purpose == purpose)
    if active is not None:
        when = as_utc(at or utcnow())
        in_force = and_(consents.c.granted_at <= when,
                        or_(consents.c.valid_to.is_(None), consents.c.valid_to > when),
                        or_(consents.c.revoked_at.is_(None), consents.c.revoked_at > when))
        q = q.where(in_force if active else ~in_force)
    if before is not None:
        q = q.where(consents.c.id < before)
    rows = conn.execute(q.order_by(consents.c.id.desc()).limit(limit)).all()
    return [view(r) for r in rows]


def consent_status(conn: Connection, tenant: str, subject: Subject, source: str, purpose: str,
                   at: dt.datetime | None = None) -> ConsentStatus:
    """The verdict a decision at ``at`` (default now) uses for ``subject``, ``source``, ``purpose``.

    ``subject`` is one pseudonym, or a sequence of pseudonyms of one person, one per key
    (:meth:`~fengkong.privacy.PseudonymKeys.pseudonyms`): after a key rotation a person's
    consents carry the token of the key current when each was recorded, and the verdict
    weighs all of them as one subject's.

    - ``granted``: a consent is in force (granted at or before ``at``; ``valid_to`` and
      ``revoked_at``, if set, after ``at``). The strongest type wins (written > separate >
      general), then the latest grant.
    - ``revoked`` / ``expired``: the subject consented to this source and purpose, but the
      latest such consent was revoked / has passed its ``valid_to`` (a consent valid to
      ``T`` is expired at ``T``).
    - ``purpose-mismatch``: consents exist for this subject and source, for other purposes only.
    - ``missing``: no consent for this subject and source (or only ones granted after ``at``).
    """
    when = as_utc(at or utcnow())
    rows = [view(r) for r in conn.execute(select(consents).where(and_(
        consents.c.tenant_id == tenant, _of_subject(subject),
        consents.c.source == source)))]
    rows = [r for r in rows if r["granted_at"] <= when]
    if not rows:
        return ConsentStatus("missing", when)
    mine = [r for r in rows if r["purpose"] == purpose]
    if not mine:
        return ConsentStatus("purpose-mismatch", when,
                             purposes=tuple(sorted({r["purpose"] for r in rows})))

    def revoked(r: dict[str, Any]) -> bool:
        return r["revoked_at"] is not None and r["revoked_at"] <= when

    def expired(r: dict[str, Any]) -> bool:
        return r["valid_to"] is not None and r["valid_to"] <= when

    valid = [r for r in mine if not revoked(r) and not expired(r)]
    if valid:
        best = max(valid, key=lambda r: (CONSENT_TYPES.index(r["consent_type"]),
                                         r["granted_at"], r["id"]))
        return ConsentStatus("granted", when, best["consent_type"], best)
    latest = max(mine, key=lambda r: (r["granted_at"], r["id"]))
    # Revoked while still valid, or expired first (a later revocation changes nothing).
    first_revoked = revoked(latest) and (not expired(latest)
                                         or latest["revoked_at"] < latest["valid_to"])
    return ConsentStatus("revoked" if first_revoked else "expired", when,
                         latest["consent_type"], latest)
