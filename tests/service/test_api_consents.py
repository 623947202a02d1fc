"""The consent registry's API: recording (by identifier or pseudonym), reading, the verdict,
revocation, bulk import, and errors with JSON paths. Roles, 401/403 and tenant isolation
of these routes are in test_api_isolation.py's route table. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from fengkong.privacy import PseudonymKeys
from fengkong.service import Settings, create_app

EVIDENCE = {"hash": "sha256:" + "0f" * 32, "ref": "dms://forms/2026/000123"}
STATUS = "/v1/consents/status"


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"subject": {"kind": "id_card", "value": "11010519491231002X"},
                           "source": "bureau", "purpose": "origination",
                           "consent_type": "written", "version": "v3", "evidence": EVIDENCE}
    out.update(over)
    return {k: v for k, v in out.items() if v is not ...}


def _lines(*docs: Any) -> bytes:
    return b"".join((d if isinstance(d, bytes) else orjson.dumps(d)) + b"\n" for d in docs)


def _import(api: Any, key: Any, content: bytes, media: str = "application/x-ndjson") -> Any:
    return api.client.post("/v1/consents/import", content=content,
                           headers={**key.headers, "Content-Type": media})


def test_record_read_status_and_revoke(api: Any) -> None:
    clerk = api.key("consent")
    auditor = api.key("audit")
    made = api.client.post("/v1/consents", json=body(
        subject={"kind": "id_card", "value": api.id_number},
        granted_at="2026-01-01T00:00:00Z", valid_to="2099-01-01T00:00:00+08:00"),
        headers=clerk.headers)
    assert made.status_code == 201, made.text
    c = made.json()
    subject = c["subject_pseudonym"]
    assert subject.startswith("pn1.")
    assert (c["granted_at"], c["valid_to"], c["revoked_at"]) == \
        ("2026-01-01T00:00:00Z", "2098-12-31T16:00:00Z", None)
    assert (c["evidence"], c["recorded_by"]) == (EVIDENCE, clerk.id)
    assert "subject" not in c

    # The pseudonym is the one a decision of the same person gets.
    decided = api.decide(api.key("decide"))
    assert decided.status_code == 200, decided.text
    record = api.client.get(f"/v1/decisions/{decided.json()['id']}",
                            headers=auditor.headers).json()
    assert record["inputs"]["applicant"]["id_number"] == subject

    # By pseudonym too, and one for another purpose.
    other = api.client.post("/v1/consents", json=body(
        subject=..., subject_pseudonym=subject, purpose="marketing", consent_type="general",
        granted_at="2026-01-01T00:00:00Z"),
        headers=clerk.headers)
    assert other.status_code == 201, other.text
    assert other.json()["subject_pseudonym"] == subject

    assert api.client.get(f"/v1/consents/{c['id']}", headers=auditor.headers).json() == c
    listed = api.client.get("/v1/consents", params={"subject_pseudonym": subject},
                            headers=auditor.headers).json()
    assert [i["id"] for i in listed["items"]] == [other.json()["id"], c["id"]]
    page = api.client.get("/v1/consents", params={"limit": 1}, headers=auditor.headers).json()
    rest = api.client.get("/v1/consents", params={"limit": 1, "before": page["next"]},
                          headers=auditor.headers).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [i["id"] for i in listed["items"]]
    only = api.client.get("/v1/consents", params={"purpose": "marketing", "active": "true"},
                          headers=auditor.headers).json()
    assert [i["id"] for i in only["items"]] == [other.json()["id"]]

    q = {"subject_pseudonym": subject, "source": "bureau", "purpose": "origination"}
    ok = api.client.get(STATUS, params=q, headers=auditor.headers).json()
    assert (ok["verdict"], ok["consent_type"], ok["consent"]["id"]) == \
        ("granted", "written", c["id"])
    q_col = {**q, "purpose": "collections"}
    mismatch = api.client.get(STATUS, params=q_col, headers=auditor.headers).json()
    assert (mismatch["verdict"], mismatch["purposes"]) == \
        ("purpose-mismatch", ["marketing", "origination"])
    assert api.client.get(STATUS, params={**q, "source": "telco"},
                          headers=auditor.headers).json()["verdict"] == "missing"
    old = api.client.get(STATUS, params={**q, "at": "2099-06-01T00:00:00Z"},
                         headers=auditor.headers).json()
    assert old["verdict"] == "expired"

    # Revocation: the very next check sees it; a second revocation keeps the first time.
    gone = api.client.post(f"/v1/consents/{c['id']}/revoke", headers=clerk.headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["revoked_now"] is True
    now = api.client.get(STATUS, params=q, headers=auditor.headers).json()
    assert (now["verdict"], now["consent_type"]) == ("revoked", "written")
    again = api.client.post(f"/v1/consents/{c['id']}/revoke",
                            json={"revoked_at": "2026-02-01T00:00:00Z"}, headers=clerk.headers)
    assert again.json()["revoked_now"] is False
    assert again.json()["revoked_at"] == gone.json()["revoked_at"]
    backdated = api.client.post(f"/v1/consents/{other.json()['id']}/revoke",
                                json={"revoked_at": "2026-02-01T00:00:00Z"},
                                headers=clerk.headers)
    assert backdated.json()["revoked_at"] == "2026-02-01T00:00:00Z"

    # The identifier is nowhere: not in any table, answer or log line.
    for table in ("consents", "decisions"):
        assert api.id_number not in str(api.rows(table))
    assert api.id_number not in made.text + listed.__repr__() + str(api.log_lines())
    assert api.count("consents", api.tenant_a) == 2


@pytest.mark.parametrize(("change", "status", "path"), [
    ({"purpose": "fishing"}, 422, "$.purpose"),
    ({"consent_type": "oral"}, 422, "$.consent_type"),
    ({"source": "Bureau X"}, 422, "$.source"),
    ({"evidence": {"hash": "sha256:abc", "ref": "x"}}, 422, "$.evidence.hash"),
    ({"evidence": {"hash": EVIDENCE["hash"], "ref": "a\x00b"}}, 422, "$.evidence.ref"),
    ({"evidence": {**EVIDENCE, "signed_by": "x"}}, 422, "$.evidence.signed_by"),
    ({"subject": {"kind": "passport_no", "value": "11010519491231002X"}}, 422, "$.subject.kind"),
    ({"subject": ...}, 422, "$"),
    # Identifiers are checked as at decision ingress (wrong check digit, failed Luhn).
    ({"subject": {"kind": "id_card", "value": "110105194912310023"}}, 422, "$.subject"),
    ({"subject": {"kind": "bank_card", "value": "6217001234567894"}}, 422, "$.subject"),
    ({"subject_pseudonym": "pn1.00000000.not-a-pseudonym"}, 422, "$.subject_pseudonym"),
    ({"subject_pseudonym": "pn1.0123abcd." + "A" * 27}, 422, "$"),  # and a subject: both
    ({"id_card": "11010519491231002X"}, 422, "$.id_card"),
    ({"granted_at": "2026-03-01T00:00:00Z", "valid_to": "2026-02-01T00:00:00Z"}, 422,
     "$.valid_to"),
    ({"granted_at": "2999-01-01T00:00:00Z"}, 422, "$.granted_at"),
    ({"granted_at": "0001-01-01T00:00:00+14:00"}, 422, "$.granted_at"),
    ({"valid_to": "9999-12-31T23:59:59-14:00"}, 422, "$.valid_to"),
])
def test_bad_consents_answer_with_the_path_and_no_value(
        api: Any, change: dict[str, Any], status: int, path: str) -> None:
    r = api.client.post("/v1/consents", json=body(**change), headers=api.key("consent").headers)
    assert r.status_code == status, r.text
    assert path in [p["path"] for p in r.json()["error"]["problems"]], r.text
    assert "11010519491231002X" not in r.text
    assert "110105194912310023" not in r.text and "6217001234567894" not in r.text
    assert api.count("consents") == 0


def test_bulk_import_all_or_nothing_with_lines_and_paths(api: Any) -> None:
    clerk = api.key("consent")
    people = [{"kind": "phone", "value": f"1391234{n:04d}"} for n in range(5)]
    good = [body(subject=p, purpose="account_management") for p in people]
    bad = _import(api, clerk, _lines(good[0], body(purpose="fishing"), b"{not json", good[1],
                                     body(evidence={"hash": "md5:1", "ref": "r"})))
    assert bad.status_code == 422, bad.text
    problems = [(p["line"], p["path"], p["code"]) for p in bad.json()["error"]["problems"]]
    assert problems == [(2, "$.purpose", "invalid-literal-error"),
                        (3, "$", "json-invalid"),
                        (5, "$.evidence.hash", "invalid-string-pattern-mismatch")]
    assert "1391234" not in bad.text
    assert api.count("consents") == 0

    done = _import(api, clerk, _lines(*good) + b"\n")  # a trailing blank line is fine
    assert done.status_code == 201, done.text
    assert done.json() == {"recorded": 5}
    rows = api.rows("consents")
    assert len(rows) == 5
    assert {r["recorded_by"] for r in rows} == {clerk.id}
    assert "1391234" not in str(rows)
    first = api.service.pseudonyms.pseudonym("phone", "+86 139-1234-0000", scope=api.tenant_a)
    got = api.client.get(STATUS, params={"subject_pseudonym": first, "source": "bureau",
                                         "purpose": "account_management"},
                         headers=clerk.headers).json()
    assert got["verdict"] == "granted"

    assert _import(api, clerk, _lines(*good), "application/json").status_code == 415
    empty = _import(api, clerk, b"\n\n")
    assert (empty.status_code, empty.json()["error"]["problems"][0]["code"]) == (422, "empty")
    assert api.count("consents") == 5


def test_unknown_consent_and_bad_revocations(api: Any) -> None:
    clerk = api.key("consent")
    missing = api.client.get("/v1/consents/00000000-0000-7000-8000-000000000000",
                             headers=clerk.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not-found")
    c = api.client.post("/v1/consents", json=body(granted_at="2026-01-01T00:00:00Z"),
                        headers=clerk.headers).json()
    future = api.client.post(f"/v1/consents/{c['id']}/revoke",
                             json={"revoked_at": "2999-01-01T00:00:00Z"}, headers=clerk.headers)
    assert future.status_code == 422
    assert future.json()["error"]["problems"][0]["path"] == "$.revoked_at"
    early = api.client.post(f"/v1/consents/{c['id']}/revoke",
                            json={"revoked_at": "2025-01-01T00:00:00Z"}, headers=clerk.headers)
    assert early.status_code == 422
    extra = api.client.post(f"/v1/consents/{c['id']}/revoke", json={"when": "now"},
                            headers=clerk.headers)
    assert extra.status_code == 422
    assert api.client.get(f"/v1/consents/{c['id']}", headers=clerk.headers
                          ).json()["revoked_at"] is None
    bad_query = api.client.get(STATUS, params={"subject_pseudonym": "11010519491231002X",
                                               "source": "bureau", "purpose": "origination"},
                               headers=clerk.headers)
    assert bad_query.status_code == 422
    assert "11010519491231002X" not in bad_query.text


# -- after a pseudonym key rotation ------------------------------------------------------------

def test_after_a_key_rotation_consents_are_found_by_identifier_under_every_key(
        api: Any, database_url: str) -> None:
    clerk = api.key("consent")
    auditor = api.key("audit")
    old = api.client.post("/v1/consents", json=body(granted_at="2026-01-01T00:00:00Z"),
                          headers=clerk.headers)
    assert old.status_code == 201, old.text
    old_token = old.json()["subject_pseudonym"]
    old_kid = api.service.pseudonyms.current
    assert old_token.split(".")[1] == old_kid

    # Rotate the key file and start a server on it (servers read the keys at start-up).
    settings = api.service.settings
    rotated = PseudonymKeys.load_or_create(settings.key_file).rotated()
    rotated.save(settings.key_file)
    app = create_app(Settings(data_dir=settings.data_dir, database_url=database_url,
                              tenant=api.tenant_a, deploy_example=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = app.state.service.pseudonyms
        assert keys.key_ids == (rotated.current, old_kid)
        lookup = {"subject": {"kind": "id_card", "value": "11010519491231002x"},
                  "source": "bureau", "purpose": "origination"}
        found = client.post(STATUS, json=lookup, headers=auditor.headers)
        assert found.status_code == 200, found.text
        assert (found.json()["verdict"], found.json()["consent"]["id"]) == (
            "granted", old.json()["id"])
        # The new key's pseudonym alone does not name the old consent.
        new_token = keys.pseudonym("id_card", "11010519491231002X", scope=api.tenant_a)
        alone = client.get(STATUS, params={"subject_pseudonym": new_token, "source": "bureau",
                                           "purpose": "origination"},
                           headers=auditor.headers).json()
        assert alone["verdict"] == "missing"

        # New consents are recorded under the new key.
        new = client.post("/v1/consents", json=body(purpose="marketing"), headers=clerk.headers)
        assert new.status_code == 201, new.text
        assert new.json()["subject_pseudonym"] == new_token
        assert new_token.split(".")[1] == rotated.current != old_kid
        listed = client.post("/v1/consents/search", json={"subject": lookup["subject"]},
                             headers=auditor.headers).json()
        assert [i["id"] for i in listed["items"]] == [new.json()["id"], old.json()["id"]]
        assert listed["next"] is None
        only_new = client.post("/v1/consents/search", json={"subject_pseudonym": new_token},
                               headers=auditor.headers).json()
        assert [i["id"] for i in only_new["items"]] == [new.json()["id"]]
        page = client.post("/v1/consents/search", json={"subject": lookup["subject"],
                                                        "limit": 1}, headers=auditor.headers)
        assert page.json()["next"] == new.json()["id"]
        filtered = client.post("/v1/consents/search", json={
            "subject": lookup["subject"], "purpose": "origination", "active": True},
            headers=auditor.headers).json()
        assert [i["id"] for i in filtered["items"]] == [old.json()["id"]]
        mismatch = client.post(STATUS, json={**lookup, "purpose": "collections"},
                               headers=auditor.headers).json()
        assert (mismatch["verdict"], mismatch["purposes"]) == (
            "purpose-mismatch", ["marketing", "origination"])
        # A decision now carries the new key's pseudonym.
        decided = client.post(f"/v1/decisions/{api.strategy}", json=api.record(),
                              headers=api.key("decide").headers)
        assert decided.status_code == 200, decided.text
        record = client.get(f"/v1/decisions/{decided.json()['id']}",
                            headers=auditor.headers).json()
        assert record["inputs"]["applicant"]["id_number"] == new_token
        # Lookups by identifier are not a way to record anything, nor to see the value.
        for r in (found, new):
            assert "11010519491231002" not in r.text
    assert api.count("consents", api.tenant_a) == 2


@pytest.mark.parametrize(("route", "lookup", "path"), [
    (STATUS, {"source": "bureau", "purpose": "origination"}, "$"),  # no subject
    (STATUS, {"subject": {"kind": "id_card", "value": "110105194912310023"},
              "source": "bureau", "purpose": "origination"}, "$.subject"),
    (STATUS, {"subject": {"kind": "id_card", "value": "11010519491231002X"},
              "subject_pseudonym": "pn1.0123abcd." + "A" * 27, "source": "bureau",
              "purpose": "origination"}, "$"),
    (STATUS, {"subject_pseudonym": "pn1.0123abcd." + "A" * 27, "source": "bureau",
              "purpose": "fishing"}, "$.purpose"),
    ("/v1/consents/search", {"subject": {"kind": "phone", "value": "12345"}}, "$.subject"),
    ("/v1/consents/search", {"limit": 0}, "$.limit"),
])
def test_bad_lookups_answer_with_the_path_and_no_value(api: Any, route: str,
                                                        lookup: dict[str, Any], path: str) -> None:
    r = api.client.post(route, json=lookup, headers=api.key("audit").headers)
    assert r.status_code == 422, r.text
    assert path in {p["path"] for p in r.json()["error"]["problems"]}
    assert "110105194912310023" not in r.text and "12345" not in r.text
