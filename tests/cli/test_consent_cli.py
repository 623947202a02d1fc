"""``fengkong consent grant|revoke|list|import|show`` on SQLite and PostgreSQL: the same
pseudonyms as the server (same key file, tenant as scope), never the identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.privacy import PseudonymKeys
from fengkong.service import Settings
from fengkong.store import Database, consent_status
from fengkong.store._tables import consents

ID_NUMBER = "11010519491231002X"
HASH = "sha256:" + "c3" * 32


@pytest.fixture
def where(database_url: str, tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]


def _run(where: list[str], *args: str) -> Any:
    result = CliRunner().invoke(app, ["consent", *args, *where])
    return result


def _grant(where: list[str], *subject: str, **over: str) -> Any:
    opts = {"source": "bureau", "purpose": "origination", "type": "written", "version": "v3",
            "evidence-hash": HASH, "evidence-ref": "dms://1", **over}
    args = [a for k, v in opts.items() for a in (f"--{k}", v)]
    return _run(where, "grant", "--tenant", "bank-a", *subject, *args)


def _rows(database_url: str) -> list[dict[str, Any]]:
    db = Database.connect(database_url)
    try:
        db.upgrade()  # a refused import never opened the database
        with db.reader.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(consents))]
    finally:
        db.dispose()


def test_grant_list_show_revoke(where: list[str], database_url: str, tmp_path: Path) -> None:
    made = _grant(where, "--subject-kind", "id_card", "--subject-value", ID_NUMBER.lower(),
                  **{"valid-to": "2099-12-31"})
    assert made.exit_code == 0, made.output
    c = orjson.loads(made.stdout)
    assert ID_NUMBER not in made.output
    assert c["valid_to"] == "2099-12-31T00:00:00Z"
    # The server's key file (Settings.key_file) under --data-dir: the server's pseudonym.
    keys = PseudonymKeys.load_or_create(Settings(data_dir=tmp_path / "data").key_file)
    assert c["subject_pseudonym"] == keys.pseudonym("id_card", ID_NUMBER, scope="bank-a")
    by_pn = _grant(where, "--subject-pseudonym", c["subject_pseudonym"],
                   purpose="marketing", type="general")
    assert by_pn.exit_code == 0, by_pn.output

    listed = _run(where, "list", "--tenant", "bank-a", "--json",
                  "--subject-pseudonym", c["subject_pseudonym"])
    assert listed.exit_code == 0, listed.output
    assert [orjson.loads(line)["purpose"] for line in listed.stdout.splitlines()] == \
        ["marketing", "origination"]
    table = _run(where, "list", "--tenant", "bank-a", "--purpose", "origination")
    assert table.exit_code == 0
    assert c["id"] in table.stdout
    assert _run(where, "list", "--tenant", "bank-b", "--json").stdout == ""
    assert orjson.loads(_run(where, "show", c["id"], "--tenant", "bank-a").stdout) == c
    assert _run(where, "show", c["id"], "--tenant", "bank-b").exit_code == 1

    gone = _run(where, "revoke", c["id"], "--tenant", "bank-a")
    assert gone.exit_code == 0, gone.output
    db = Database.connect(database_url)
    try:
        with db.reader.connect() as conn:
            verdict = consent_status(conn, "bank-a", c["subject_pseudonym"], "bureau",
                                     "origination")
    finally:
        db.dispose()
    assert verdict.verdict == "revoked"
    again = _run(where, "revoke", c["id"], "--tenant", "bank-a")
    assert again.exit_code == 0
    assert "already revoked" in again.stderr
    assert orjson.loads(again.stdout)["revoked_at"] == orjson.loads(gone.stdout)["revoked_at"]
    assert _run(where, "revoke", c["id"], "--tenant", "bank-b").exit_code == 1
    assert ID_NUMBER not in str(_rows(database_url))


def test_grant_refuses_bad_input_naming_the_option(where: list[str], database_url: str) -> None:
    bad = _grant(where, "--subject-kind", "id_card", "--subject-value", ID_NUMBER,
                 purpose="fishing", **{"evidence-hash": "sha256:nope"})
    assert bad.exit_code == 1
    assert "--purpose" in bad.stderr
    assert "--evidence-hash" in bad.stderr
    assert ID_NUMBER not in bad.output
    both = _grant(where)  # no subject at all
    assert both.exit_code == 1
    assert "subject" in both.stderr
    late = _grant(where, "--subject-kind", "phone", "--subject-value", "13912345678",
                  **{"granted-at": "2026-03-01", "valid-to": "2026-02-01"})
    assert late.exit_code == 1
    assert "$.valid_to" in late.stderr
    assert _rows(database_url) == []


def test_import_all_or_nothing(where: list[str], database_url: str, tmp_path: Path) -> None:
    def line(n: int, **over: Any) -> bytes:
        doc = {"subject": {"kind": "phone", "value": f"1391234{n:04d}"}, "source": "bureau",
               "purpose": "collections", "consent_type": "separate", "version": "v1",
               "evidence": {"hash": HASH, "ref": f"dms://{n}"}, **over}
        return orjson.dumps(doc) + b"\n"

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(line(1) + line(2, purpose="fishing") + line(3, extra=1))
    out = _run(where, "import", str(bad), "--tenant", "bank-a")
    assert out.exit_code == 1
    assert "line 2: $.purpose" in out.stderr
    assert "line 3: $.extra" in out.stderr
    assert "1391234" not in out.output
    assert _rows(database_url) == []

    good = tmp_path / "good.jsonl"
    good.write_bytes(b"".join(line(n) for n in range(1200)))
    done = _run(where, "import", str(good), "--tenant", "bank-a")
    assert done.exit_code == 0, done.output
    assert "Recorded 1200 consents" in done.stdout
    rows = _rows(database_url)
    assert len(rows) == 1200
    assert {r["recorded_by"] for r in rows} == {"cli"}
    assert "1391234" not in str(rows)


def test_after_rotate_list_and_status_by_identifier_find_consents_under_every_key(
        where: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEYS", raising=False)
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEY_FILE", raising=False)
    old = _grant(where, "--subject-kind", "id_card", "--subject-value", ID_NUMBER)
    assert old.exit_code == 0, old.output
    old_token = orjson.loads(old.stdout)["subject_pseudonym"]
    rotated = CliRunner().invoke(app, ["pseudonym-keys", "rotate", "--data-dir",
                                       str(tmp_path / "data")])
    assert rotated.exit_code == 0, rotated.output
    keys = PseudonymKeys.load_or_create(Settings(data_dir=tmp_path / "data").key_file)
    assert keys.key_ids[1] == old_token.split(".")[1]
    new = _grant(where, "--subject-kind", "id_card", "--subject-value", ID_NUMBER,
                 purpose="marketing", type="general")
    assert new.exit_code == 0, new.output
    new_token = orjson.loads(new.stdout)["subject_pseudonym"]
    assert new_token == keys.pseudonym("id_card", ID_NUMBER, scope="bank-a") != old_token
    assert new_token.split(".")[1] == keys.current

    subject = ["--subject-kind", "id_card", "--subject-value", ID_NUMBER.lower()]
    listed = _run(where, "list", "--tenant", "bank-a", "--json", *subject)
    assert listed.exit_code == 0, listed.output
    assert [orjson.loads(line)["subject_pseudonym"] for line in listed.stdout.splitlines()] == \
        [new_token, old_token]
    status = _run(where, "status", "--tenant", "bank-a", "--source", "bureau",
                  "--purpose", "origination", *subject)
    assert status.exit_code == 0, status.output
    verdict = orjson.loads(status.stdout)
    assert (verdict["verdict"], verdict["consent"]["subject_pseudonym"]) == ("granted", old_token)
    by_new = _run(where, "status", "--tenant", "bank-a", "--source", "bureau",
                  "--purpose", "origination", "--subject-pseudonym", new_token)
    # One key's token finds that key's consents only (here: the new marketing one).
    assert orjson.loads(by_new.stdout)["verdict"] == "purpose-mismatch"
    for r in (listed, status):
        assert ID_NUMBER not in r.output and ID_NUMBER.lower() not in r.output


@pytest.mark.parametrize("args", [
    ["--subject-kind", "id_card", "--subject-value", "110105194912310023"],  # bad check character
    ["--subject-kind", "id_card", "--subject-value", ID_NUMBER,
     "--subject-pseudonym", "pn1.0123abcd." + "A" * 27],
    [],
])
def test_bad_status_subjects_exit_1_without_the_value(where: list[str], tmp_path: Path,
                                                      args: list[str]) -> None:
    assert _grant(where, "--subject-kind", "id_card", "--subject-value", ID_NUMBER).exit_code == 0
    r = _run(where, "status", "--tenant", "bank-a", "--source", "bureau",
             "--purpose", "origination", *args)
    assert r.exit_code == 1, r.output
    assert "110105194912310023" not in r.output and ID_NUMBER not in r.output


def test_lookups_never_create_a_key_file(where: list[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEYS", raising=False)
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEY_FILE", raising=False)
    r = _run(where, "status", "--tenant", "bank-a", "--source", "bureau", "--purpose",
             "origination", "--subject-kind", "id_card", "--subject-value", ID_NUMBER)
    assert r.exit_code == 1
    assert "No pseudonym keys" in r.output
    assert not Settings(data_dir=tmp_path / "data").key_file.exists()
