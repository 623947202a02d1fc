"""The consent registry: recording, revoking, listing, bulk import and the verdict a
decision uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from fengkong.privacy import PseudonymKeys
from fengkong.store import (
    ConsentError,
    Database,
    NewConsent,
    consent_status,
    get_consent,
    grant_consent,
    import_consents,
    list_consents,
    revoke_consent,
    utcnow,
)
from fengkong.store._tables import consents

KEYS = PseudonymKeys.generate()
ALICE = KEYS.pseudonym("id_card", "11010519491231002X", scope="bank_a")
BOB = KEYS.pseudonym("id_card", "110105194912310021", scope="bank_a")
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
EVIDENCE = "sha256:" + hashlib.sha256(b"signed form").hexdigest()


def consent(**over: Any) -> NewConsent:
    values: dict[str, Any] = {
        "subject": ALICE, "source": "bureau", "purpose": "origination",
        "consent_type": "general", "version": "v3", "evidence_hash": EVIDENCE,
        "evidence_ref": "dms://forms/1", "granted_at": T0, "valid_to": None}
    values.update(over)
    return NewConsent(**values)


def _grant(db: Database, c: NewConsent, tenant: str = "bank_a") -> dict[str, Any]:
    with db.writer.begin() as conn:
        return grant_consent(conn, tenant, c, "key1")


def _status(db: Database, at: dt.datetime | None = None, *, tenant: str = "bank_a",
            subject: str | tuple[str, ...] = ALICE, source: str = "bureau",
            purpose: str = "origination") -> Any:
    with db.reader.connect() as conn:
        return consent_status(conn, tenant, subject, source, purpose, at)


def test_grant_stores_the_pseudonym_and_answers_the_consent(db: Database) -> None:
    out = _grant(db, consent(valid_to=T0 + dt.timedelta(days=365)))
    assert out["subject_pseudonym"] == ALICE
    assert out["evidence"] == {"hash": EVIDENCE, "ref": "dms://forms/1"}
    assert (out["granted_at"], out["revoked_at"], out["recorded_by"]) == (T0, None, "key1")
    with db.reader.connect() as conn:
        assert get_consent(conn, "bank_a", out["id"]) == out
        with pytest.raises(ConsentError) as e:
            get_consent(conn, "bank_b", out["id"])  # another tenant's: not found
        assert e.value.status == 404


@pytest.mark.parametrize(("change", "path"), [
    ({"purpose": "fishing"}, "$.purpose"),
    ({"consent_type": "oral"}, "$.consent_type"),
    ({"source": "Bureau X"}, "$.source"),
    ({"subject": "11010519491231002X"}, "$.subject_pseudonym"),
    ({"evidence_hash": "sha256:" + "AB" * 32}, "$.evidence.hash"),
    ({"evidence_hash": "md5:abc"}, "$.evidence.hash"),
    ({"evidence_ref": ""}, "$.evidence.ref"),
    ({"version": ""}, "$.version"),
    ({"valid_to": T0}, "$.valid_to"),
    ({"valid_to": T0 - dt.timedelta(days=1)}, "$.valid_to"),
    ({"granted_at": utcnow() + dt.timedelta(days=1)}, "$.granted_at"),
])
def test_grant_refuses_an_invalid_consent_by_field(db: Database, change: dict[str, Any],
                                                   path: str) -> None:
    with pytest.raises(ConsentError) as e:
        _grant(db, consent(**change))
    assert [p["path"] for p in e.value.problems] == [path]
    assert "11010519491231002X" not in str(e.value.problems)
    with db.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == 0


def test_verdicts_missing_mismatch_granted(db: Database) -> None:
    assert _status(db).verdict == "missing"
    _grant(db, consent(purpose="marketing"))
    mismatch = _status(db)
    assert (mismatch.verdict, mismatch.purposes, mismatch.consent) == \
        ("purpose-mismatch", ("marketing",), None)
    assert _status(db, source="telco").verdict == "missing"  # another source: nothing
    assert _status(db, subject=BOB).verdict == "missing"
    c = _grant(db, consent())
    granted = _status(db)
    assert (granted.verdict, granted.consent_type, granted.consent) == ("granted", "general", c)
    assert _status(db, T0 - dt.timedelta(microseconds=1)).verdict == "missing"  # before grant
    assert _status(db, T0).verdict == "granted"
    assert _status(db, tenant="bank_b").verdict == "missing"


def test_expiry_at_the_boundary(db: Database) -> None:
    end = T0 + dt.timedelta(days=30)
    _grant(db, consent(valid_to=end))
    assert _status(db, end - dt.timedelta(microseconds=1)).verdict == "granted"
    expired = _status(db, end)
    assert (expired.verdict, expired.consent_type) == ("expired", "general")
    assert _status(db, end + dt.timedelta(days=1)).verdict == "expired"
    _grant(db, consent(granted_at=end + dt.timedelta(days=2), version="v4"))  # renewed
    assert _status(db, end + dt.timedelta(days=1)).verdict == "expired"
    assert _status(db, end + dt.timedelta(days=2)).consent["version"] == "v4"  # type: ignore[index]


def test_revocation_takes_effect_for_the_very_next_check(db: Database) -> None:
    c = _grant(db, consent(consent_type="written"))
    assert _status(db).verdict == "granted"
    with db.writer.begin() as conn:
        out, now = revoke_consent(conn, "bank_a", c["id"])
    assert now is True
    after = _status(db)  # no cache: the next check sees the revocation
    assert (after.verdict, after.consent_type) == ("revoked", "written")
    assert after.consent["revoked_at"] == out["revoked_at"]  # type: ignore[index]
    assert _status(db, out["revoked_at"] - dt.timedelta(microseconds=1)).verdict == "granted"
    # Revoking twice keeps the first time.
    with db.writer.begin() as conn:
        again, now = revoke_consent(conn, "bank_a", c["id"])
    assert (now, again["revoked_at"]) == (False, out["revoked_at"])


def test_revoke_rules(db: Database) -> None:
    c = _grant(db, consent())
    with db.writer.begin() as conn:
        with pytest.raises(ConsentError) as e:
            revoke_consent(conn, "bank_b", c["id"])
        assert e.value.status == 404
        with pytest.raises(ConsentError) as e:
            revoke_consent(conn, "bank_a", c["id"], utcnow() + dt.timedelta(hours=1))
        assert e.value.problems[0]["path"] == "$.revoked_at"
        with pytest.raises(ConsentError):
            revoke_consent(conn, "bank_a", c["id"], T0 - dt.timedelta(days=1))
        back, _ = revoke_consent(conn, "bank_a", c["id"], T0 + dt.timedelta(days=3))
    assert back["revoked_at"] == T0 + dt.timedelta(days=3)
    assert _status(db, T0 + dt.timedelta(days=2)).verdict == "granted"
    assert _status(db, T0 + dt.timedelta(days=3)).verdict == "revoked"


def test_the_strongest_valid_consent_wins_and_names_its_type(db: Database) -> None:
    _grant(db, consent(consent_type="general", granted_at=T0 + dt.timedelta(days=2)))
    written = _grant(db, consent(consent_type="written", valid_to=T0 + dt.timedelta(days=10)))
    _grant(db, consent(consent_type="separate", granted_at=T0 + dt.timedelta(days=1)))
    best = _status(db, T0 + dt.timedelta(days=5))
    assert (best.verdict, best.consent_type, best.consent["id"]) == \
        ("granted", "written", written["id"])  # type: ignore[index]
    assert _status(db, T0 + dt.timedelta(days=10)).consent_type == "separate"  # written expired
    assert _status(db, T0 + dt.timedelta(hours=1)).consent_type == "written"


def test_list_filters_and_pages(db: Database) -> None:
    made = [_grant(db, consent(purpose=p)) for p in ("origination", "marketing", "collections")]
    bob = _grant(db, consent(subject=BOB, source="telco"))
    _grant(db, consent(), tenant="bank_b")
    with db.writer.begin() as conn:
        revoke_consent(conn, "bank_a", made[1]["id"])
    with db.reader.connect() as conn:
        every = list_consents(conn, "bank_a")
        assert [c["id"] for c in every] == [bob["id"]] + [c["id"] for c in reversed(made)]
        assert [c["id"] for c in list_consents(conn, "bank_a", subject=BOB)] == [bob["id"]]
        assert len(list_consents(conn, "bank_a", source="bureau")) == 3
        assert [c["purpose"] for c in list_consents(conn, "bank_a", purpose="marketing")] == \
            ["marketing"]
        assert len(list_consents(conn, "bank_a", active=True)) == 3
        assert [c["id"] for c in list_consents(conn, "bank_a", active=False)] == [made[1]["id"]]
        page1 = list_consents(conn, "bank_a", limit=3)
        page2 = list_consents(conn, "bank_a", limit=3, before=page1[-1]["id"])
        assert [c["id"] for c in page1 + page2] == [c["id"] for c in every]


def test_bulk_import_is_all_or_nothing_and_names_line_and_field(db: Database) -> None:
    good = [(n, consent(version=f"v{n}")) for n in range(1, 8)]
    bad = [*good[:3], (4, replace(consent(), purpose="fishing")), *good[3:],
           (9, consent(evidence_hash="sha256:x"))]
    with pytest.raises(ConsentError) as e, db.writer.begin() as conn:
        import_consents(conn, "bank_a", bad, "key1", chunk=2)
    assert [(p["line"], p["path"]) for p in e.value.problems] == \
        [(4, "$.purpose"), (9, "$.evidence.hash")]
    with db.reader.connect() as conn:
        assert list_consents(conn, "bank_a") == []
    seen: list[int] = []
    with db.writer.begin() as conn:
        assert import_consents(conn, "bank_a", good, "key1", seen.append, chunk=3) == 7
    assert seen == [3, 3, 1]
    with db.reader.connect() as conn:
        assert len(list_consents(conn, "bank_a")) == 7


def test_bulk_import_is_rolled_back_with_the_callers_transaction(db: Database) -> None:
    items = [(1, consent()), (2, consent(purpose="marketing"))]
    with pytest.raises(RuntimeError), db.writer.begin() as conn:
        assert import_consents(conn, "bank_a", items, "key1", chunk=1) == 2
        raise RuntimeError  # something after the rows went in fails: none of them stay
    with db.reader.connect() as conn:
        assert list_consents(conn, "bank_a") == []


# -- one person under several pseudonym keys (after a rotation) -------------------------------

ROTATED = KEYS.rotated()
ALICE_ALL = ROTATED.pseudonyms("id_card", "11010519491231002X", scope="bank_a")
BOB_ALL = ROTATED.pseudonyms("id_card", "110105194912310021", scope="bank_a")


def test_a_consent_recorded_under_an_old_key_is_found_by_the_persons_pseudonyms(
        db: Database) -> None:
    assert ALICE_ALL[1] == ALICE and ALICE_ALL[0].split(".")[1] == ROTATED.current
    old = _grant(db, consent())
    _grant(db, consent(subject=BOB_ALL[0]))
    # By the new key's pseudonym alone: the old consent is not that token's ...
    assert _status(db, T0 + dt.timedelta(hours=1), subject=ALICE_ALL[0]).verdict == "missing"
    # ... by all of the person's pseudonyms (a tuple or a list), it is.
    for subject in (ALICE_ALL, list(ALICE_ALL)):
        with db.reader.connect() as conn:
            status = consent_status(conn, "bank_a", subject, "bureau", "origination",
                                    T0 + dt.timedelta(hours=1))
            assert status.verdict == "granted" and status.consent == old
            rows = list_consents(conn, "bank_a", subject=subject)
        assert [r["id"] for r in rows] == [old["id"]]
    with db.reader.connect() as conn:  # another tenant sees nothing of it
        assert consent_status(conn, "bank_b", ALICE_ALL, "bureau", "origination").verdict == \
            "missing"
        assert list_consents(conn, "bank_b", subject=ALICE_ALL) == []


def test_consents_under_several_keys_are_weighed_as_one_subjects(db: Database) -> None:
    # Granted under the old key, then a stronger one under the new key, then revoked there.
    _grant(db, consent(consent_type="general"))
    new = _grant(db, consent(subject=ALICE_ALL[0], consent_type="written",
                             granted_at=T0 + dt.timedelta(days=1)))
    at = T0 + dt.timedelta(days=2)
    status = _status(db, at, subject=ALICE_ALL)
    assert (status.verdict, status.consent_type, status.consent["id"]) == (
        "granted", "written", new["id"])
    with db.writer.begin() as conn:
        revoke_consent(conn, "bank_a", new["id"], T0 + dt.timedelta(days=1, hours=1))
    status = _status(db, at, subject=ALICE_ALL)
    assert (status.verdict, status.consent_type) == ("granted", "general")  # the old one holds
    with db.reader.connect() as conn:
        rows = list_consents(conn, "bank_a", subject=ALICE_ALL, active=True, at=at)
        assert [r["subject_pseudonym"] for r in rows] == [ALICE]
        assert len(list_consents(conn, "bank_a", subject=ALICE_ALL)) == 2
        assert consent_status(conn, "bank_a", ALICE_ALL, "bureau", "marketing",
                              at).purposes == ("origination",)


def test_an_empty_subject_sequence_is_refused(db: Database) -> None:
    with db.reader.connect() as conn, pytest.raises(ValueError, match="subject"):
        consent_status(conn, "bank_a", (), "bureau", "origination")
