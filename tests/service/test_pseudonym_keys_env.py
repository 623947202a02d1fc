"""A server given ``$FENGKONG_PSEUDONYM_KEYS`` makes pseudonyms under that key, and writes
no key file (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fengkong.demo import example_record
from fengkong.privacy import PseudonymKeys, is_pseudonym
from fengkong.privacy._pseudonym import KEYS_ENV
from fengkong.service import Settings, create_app
from fengkong.store import create_key

ID_NUMBER = "11010519491231002X"


def _key_text() -> tuple[str, str]:
    secret = secrets.token_bytes(32)  # as docs/service.md shows
    kid = hashlib.sha256(b"fengkong-pseudonym-key\x00" + secret).hexdigest()[:8]
    return kid, json.dumps({"current": kid, "keys": {kid: base64.b64encode(secret).decode()}})


def test_a_server_started_with_the_variable_pseudonymises_under_its_key(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kid, text = _key_text()
    monkeypatch.setenv(KEYS_ENV, text)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, tenant="default")
    assert settings.pseudonym_keys == text  # read from the environment
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        svc = client.app.state.service  # type: ignore[attr-defined]
        with svc.db.writer.begin() as conn:
            _, key = create_key(conn, "default", ["decide", "audit", "consent"], "env-keys")
        headers = {"Authorization": f"Bearer {key}"}
        record = example_record()
        record["applicant"]["id_number"] = ID_NUMBER
        decided = client.post("/v1/decisions/consumer_loan", json=record, headers=headers)
        assert decided.status_code == 200, decided.text
        stored = client.get(f"/v1/decisions/{decided.json()['id']}", headers=headers).json()
        token = stored["inputs"]["applicant"]["id_number"]
        assert is_pseudonym(token) and token.startswith(f"pn1.{kid}.")
        assert token == PseudonymKeys.load(tmp_path / "x", text).pseudonym(
            "id_card", ID_NUMBER, scope="default")
        consent = client.post("/v1/consents", headers=headers, json={
            "subject": {"kind": "id_card", "value": ID_NUMBER}, "source": "bureau",
            "purpose": "origination", "consent_type": "written", "version": "v1",
            "evidence": {"hash": "sha256:" + "0f" * 32, "ref": "dms://a/1"}})
        assert consent.status_code == 201, consent.text
        assert consent.json()["subject_pseudonym"] == token
    assert not settings.key_file.exists()  # the key file is neither read nor written
