"""No identifier is ever held in clear: a real ``fengkong serve`` (SQLite and PostgreSQL) is
sent known identifiers in every kind of request, valid and invalid, and then its data
directory, its JSON logs, every response (body and headers) and, on PostgreSQL, a dump of
the database are scanned for each identifier in every spelling: none appears.

So that the scan cannot pass by looking in the wrong place, it must find control values
planted on purpose in non-personal fields (an application id, a request id).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import make_url

from fengkong.demo import example_record
from fengkong.privacy._identifiers import id_check_character, luhn_ok, valid_resident_id

pytestmark = pytest.mark.slow

TENANT = "default"

# -- what is planted ----------------------------------------------------------------------
ID_CARD = "11010519491231002X"  # GB 11643 check character X
BAD_ID_CARD = "110105194912310023"  # wrong check character: refused with 422
PHONE = "13912345678"
NAME = "王小明"
BANK_CARD = "6217001234567893"  # Luhn-valid
BAD_BANK_CARD = "6217001234567894"  # Luhn-invalid: refused with 422
EMAIL = "wang.xiaoming.7731@example.cn"
IDENTIFIERS = (ID_CARD, BAD_ID_CARD, PHONE, NAME, BANK_CARD, BAD_BANK_CARD, EMAIL)

# Non-personal values that must be found where they are stored: proof the scan sees data.
CONTROL_APP_ID = "CTRLAPP7f3a91c2"
CONTROL_REQUEST_ID = "ctrl-req-5b8e0d47a1"


def _groups(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(digits[i:i + n])
        i += n
    if i < len(digits):
        out.append(digits[i:])
    return sep.join(p for p in out if p)


def spellings(value: str) -> set[str]:
    """The value as a person or a program might write it: cases, separators."""
    texts = {value, value.lower(), value.upper()}
    if value[:-1].isdigit():
        sizes: list[tuple[int, ...]] = [(4,) * 5, (3, 4, 4), (6, 8, 4), (6, 4, 4, 4)]
        for sep in (" ", "-"):
            for s in sizes:
                texts |= {_groups(t, s, sep) for t in (value.lower(), value.upper())}
    return texts


def forms(value: str) -> set[bytes]:
    """Every byte sequence that would show ``value`` in clear."""
    out: set[bytes] = set()
    for text in spellings(value):
        out.add(text.encode("utf-8"))
        out.add(text.encode("utf-16-le"))
        escaped = json.dumps(text)[1:-1]  # \\uXXXX for non-ASCII, lower-case hex
        out.add(escaped.encode())
        out.add(escaped.replace("\\u", "\\U").upper().replace("\\U", "\\u").encode())
        quoted = urllib.parse.quote(text, safe="")
        out |= {quoted.encode(), quoted.lower().encode()}
        out.add(base64.b64encode(text.encode()).rstrip(b"="))
        if not text.isascii():
            out.add(text.encode("gb18030"))
    return out


FORMS = {value: forms(value) for value in IDENTIFIERS}


def test_the_planted_values_are_valid_and_spelled_every_way() -> None:
    assert valid_resident_id(ID_CARD) and not valid_resident_id(BAD_ID_CARD)
    assert id_check_character(ID_CARD[:17]) == "X"
    assert luhn_ok(BANK_CARD) and not luhn_ok(BAD_BANK_CARD)
    assert b"\\u738b\\u5c0f\\u660e" in FORMS[NAME] and b"\\u738B\\u5C0F\\u660E" in FORMS[NAME]
    assert b"11010519491231002x" in FORMS[ID_CARD] and b"110105 19491231 002X" in FORMS[ID_CARD]
    assert b"139-1234-5678" in FORMS[PHONE] and b"%E7%8E%8B%E5%B0%8F%E6%98%8E" in FORMS[NAME]


@dataclass
class Client:
    """Calls the server and keeps every response, body and headers, to be scanned."""

    http: httpx.Client
    seen: list[tuple[str, bytes]] = field(default_factory=list)

    def __call__(self, method: str, path: str, key: str | None = None, *,
                 expect: int | tuple[int, ...], **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        r = self.http.request(method, path, headers=headers, **kwargs)
        where = f"{method} {path} -> {r.status_code}"
        self.seen.append((f"{where} body", r.content))
        self.seen.append((f"{where} headers", b"\n".join(
            k + b": " + v for k, v in r.headers.raw)))
        assert r.status_code in ((expect,) if isinstance(expect, int) else expect), \
            (where, r.text)
        return r


def _record(**applicant: Any) -> dict[str, Any]:
    rec = example_record()
    rec["applicant"].update(id_number=ID_CARD, phone=PHONE, name=NAME)
    rec["applicant"].update(applicant)
    return rec


EVIDENCE = {"hash": "sha256:" + "0f" * 32, "ref": "dms://forms/2026/000123"}


def _consent(kind: str, value: str, **over: Any) -> dict[str, Any]:
    return {"subject": {"kind": kind, "value": value}, "source": "bureau",
            "purpose": "origination", "consent_type": "written", "version": "v3",
            "evidence": EVIDENCE, **over}


def _exercise(call: Client, key: str, wrong_key: str) -> list[str]:
    """Every kind of request, with identifiers planted; the decision ids made."""
    decide = "/v1/decisions/consumer_loan"
    made: list[str] = []

    # -- decisions: valid, with the control values, then an idempotent retry ---------------
    control = _record()
    control["application_id"] = CONTROL_APP_ID
    first = call("POST", decide, key, json=control, expect=200,
                 headers={"X-Request-ID": CONTROL_REQUEST_ID})
    made.append(first.json()["id"])
    again = call("POST", decide, key, json=control, expect=200,
                 headers={"X-Request-ID": CONTROL_REQUEST_ID})
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == made[0]
    # other spellings of the same person, and no request id
    spelled = _record(id_number=ID_CARD.lower(), phone="+86 139-1234-5678",
                      name=f" {NAME} ")
    made.append(call("POST", decide, key, json=spelled, expect=200).json()["id"])
    made.append(call("POST", decide, key, content=orjson.dumps(_record()), expect=200,
                     headers={"Content-Type": "application/json"}).json()["id"])

    # -- decisions: invalid ------------------------------------------------------------
    call("POST", decide, key, json=_record(id_number=BAD_ID_CARD), expect=422)
    call("POST", decide, key, json=_record(phone="1391234567"), expect=422)  # too short
    unknown = _record()
    unknown["applicant"]["spouse_id_number"] = ID_CARD
    unknown["applicant"]["spouse_bank_card"] = BANK_CARD
    unknown["applicant"]["contact_email"] = EMAIL
    call("POST", decide, key, json=unknown, expect=(200, 422))
    call("POST", decide, key, json=_record(age=ID_CARD), expect=422)  # wrong type
    call("POST", decide, key, json=_record(name=NAME * 40), expect=422)  # too long
    call("POST", decide, key, content=b'{"applicant": {"id_number": "' + ID_CARD.encode()
         + b'", "phone": ' + PHONE.encode() + b",", expect=(400, 422),
         headers={"Content-Type": "application/json"})  # not JSON
    call("POST", decide, key, json=[ID_CARD, PHONE, NAME], expect=(400, 422))
    call("POST", "/v1/decisions/no_such_strategy", key, json=_record(), expect=404)
    call("POST", decide, wrong_key, json=_record(), expect=401)
    call("POST", decide, None, json=_record(), expect=401)

    # -- reading decisions ---------------------------------------------------------------
    for did in made:
        call("GET", f"/v1/decisions/{did}", key, expect=200)
        call("POST", f"/v1/decisions/{did}/replay", key, expect=200)
    call("GET", "/v1/decisions", key, params={"strategy": "consumer_loan", "limit": 50},
         expect=200)
    call("GET", "/v1/decisions", key, expect=200)
    missing = str(uuid.uuid4())
    call("GET", f"/v1/decisions/{missing}", key, expect=404)
    call("POST", f"/v1/decisions/{missing}/replay", key, expect=404)
    call("GET", f"/v1/decisions/{made[0]}", wrong_key, expect=401)
    call("GET", "/v1/audit/verify", key, expect=200)

    # -- consents, recorded by raw identifiers ----------------------------------------------
    ids = []
    for kind, value in (("id_card", ID_CARD), ("phone", PHONE), ("name", NAME),
                        ("bank_card", BANK_CARD), ("email", EMAIL)):
        c = call("POST", "/v1/consents", key, json=_consent(kind, value), expect=201).json()
        assert c["subject_pseudonym"].startswith("pn1.")
        ids.append(c["id"])
    # (the registry takes a subject's value without checking the identifier's own rules)
    call("POST", "/v1/consents", key, json=_consent("id_card", BAD_ID_CARD), expect=(201, 422))
    call("POST", "/v1/consents", key, json=_consent("bank_card", BAD_BANK_CARD),
         expect=(201, 422))
    call("POST", "/v1/consents", key, json={**_consent("phone", PHONE), "note": NAME},
         expect=422)  # unknown field
    call("POST", "/v1/consents", key, json={
        **_consent("id_card", ID_CARD), "subject_pseudonym": ID_CARD}, expect=422)
    call("POST", "/v1/consents", wrong_key, json=_consent("id_card", ID_CARD), expect=401)
    lines = b"".join(orjson.dumps(doc) + b"\n" for doc in (
        _consent("phone", PHONE, purpose="marketing", consent_type="general"),
        _consent("id_card", BAD_ID_CARD)))
    call("POST", "/v1/consents/import", key, content=lines, expect=(201, 422),
         headers={"Content-Type": "application/x-ndjson"})
    call("POST", "/v1/consents/import", key,
         content=orjson.dumps(_consent("bank_card", BANK_CARD, purpose="collections")) + b"\n",
         expect=201, headers={"Content-Type": "application/x-ndjson"})
    subject = call("GET", f"/v1/consents/{ids[0]}", key, expect=200).json()["subject_pseudonym"]
    call("GET", "/v1/consents", key, params={"subject_pseudonym": subject}, expect=200)
    call("GET", "/v1/consents", key, expect=200)
    call("GET", "/v1/consents/status", key, expect=200,
         params={"subject_pseudonym": subject, "source": "bureau", "purpose": "origination"})
    call("GET", "/v1/consents/status", key, expect=(400, 422),  # an identifier, not a pseudonym
         params={"subject_pseudonym": ID_CARD, "source": "bureau", "purpose": "origination"})
    call("GET", "/v1/consents", key, params={"subject_pseudonym": PHONE}, expect=(400, 422))
    call("POST", f"/v1/consents/{ids[1]}/revoke", key, expect=200)
    call("GET", f"/v1/consents/{uuid.uuid4()}", key, expect=404)
    call("POST", f"/v1/consents/{uuid.uuid4()}/revoke", key, expect=404)
    # A decision of the person with consents on record, and an unknown route.
    made.append(call("POST", decide, key, json=_record(), expect=200).json()["id"])
    call("GET", "/v1/no-such-route", key, params={"q": ID_CARD}, expect=404)
    return made


def _pg_dump(database_url: str) -> bytes:
    url = make_url(database_url)
    exe = "/usr/lib/postgresql/15/bin/pg_dump"
    exe = exe if Path(exe).exists() else "pg_dump"
    done = subprocess.run(
        [exe, "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", str(url.database)],
        capture_output=True, timeout=120, check=False,
        env={**os.environ, **({"PGPASSWORD": url.password} if url.password else {})})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _found(blobs: list[tuple[str, bytes]]) -> list[str]:
    """Where any form of any identifier occurs: ``where: value as form``."""
    out = []
    for where, blob in blobs:
        for value, patterns in FORMS.items():
            for p in sorted(patterns):
                if p in blob:
                    out.append(f"{where}: {value!r} as {p!r} (offset {blob.index(p)})")
    return out


def test_no_identifier_is_held_in_clear(database_url: str, tmp_path: Path,
                                        fengkong_server: Any, fengkong_cli: Any) -> None:
    data = tmp_path / "data"
    options = ["--data-dir", str(data)]
    pg = database_url.startswith("postgresql")
    if pg:
        options += ["--database-url", database_url]
    log_path = tmp_path / "server.log"
    server = fengkong_server(options, log_path, log_level="debug")
    server.start(tmp_path)
    made = fengkong_cli("keys", "create", "--tenant", TENANT, "--role", "decide", "--role", "audit",
                "--role", "consent", "--name", "privacy-scan", *options, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    server.wait_ready()

    with httpx.Client(base_url=server.base, timeout=httpx.Timeout(10.0)) as http:
        call = Client(http)
        decided = _exercise(call, key, wrong_key="fk_" + "0" * 40)
    assert len(decided) == 4
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal
    assert server.stop() in (0, -signal.SIGTERM), server.log()
    assert b'"msg":"service stopped"' in log_path.read_bytes(), server.log()

    # -- what was written --------------------------------------------------------------
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stored = [(str(p.relative_to(tmp_path)), p.read_bytes()) for p in files]
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    assert "server.log" in names and "data/pseudonym-keys.json" in names
    if not pg:
        assert "data/fengkong.db" in names
    assert any(n.startswith("data/") and n.count("/") > 1 for n in names), names  # packs
    dump = _pg_dump(database_url) if pg else b""
    blobs = [*stored, *call.seen] + ([("pg_dump", dump)] if pg else [])

    # -- the scan sees what is there ------------------------------------------------------
    log = log_path.read_bytes()
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith(b"{")]
    assert any(line.get("request_id") == CONTROL_REQUEST_ID for line in lines), log[-2000:]
    assert CONTROL_REQUEST_ID.encode() in log
    database = dump if pg else b"".join(
        blob for name, blob in stored if name.startswith("data/fengkong.db"))
    assert CONTROL_APP_ID.encode() in database
    assert CONTROL_REQUEST_ID.encode() in database
    assert decided[0].encode() in database
    assert any(CONTROL_APP_ID.encode() in blob for _, blob in call.seen)  # GET decision
    assert any(b"pn1." in blob for _, blob in call.seen)  # pseudonyms came back instead

    # -- and no identifier is there in any form ------------------------------------------
    found = _found(blobs)
    assert not found, "identifiers in clear:\n" + "\n".join(found)
