"""``consent grant|revoke|list|import``: the consent registry, straight on the database.

Identifiers are pseudonymised with the server's key file (``--data-dir``'s
``pseudonym-keys.json`` or ``$FENGKONG_PSEUDONYM_KEY_FILE``) and the tenant as scope,
so a consent recorded here matches the pseudonym a decision of that person gets.
Consents are recorded under the current key; ``list`` and ``status`` by identifier look
under every key, so consents recorded before a key rotation are found too.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fengkong.cli._pseudonym import existing_keys
from fengkong.cli._service import DatabaseUrl, DataDir, Tenant, database
from fengkong.privacy import PseudonymKeys
from fengkong.privacy._pseudonym import PseudonymKeyError
from fengkong.service import Settings
from fengkong.service._consents import (
    PII_KINDS,
    ConsentBody,
    SubjectBody,
    parse_lines,
    to_new_consent,
)
from fengkong.service._settings import default_data_dir
from fengkong.store import (
    CONSENT_TYPES,
    PURPOSES,
    ConsentError,
    KeyRequestError,
    consent_status,
    ensure_tenant,
    get_consent,
    grant_consent,
    import_consents,
    list_consents,
    revoke_consent,
)

consent_app = typer.Typer(help="The consent registry (per data subject, source and purpose).",
                          no_args_is_help=True)
_err = Console(stderr=True)
_CLI = "cli"  # recorded_by of consents recorded here (an API key id otherwise)
_JSON = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def _fail(message: str, problems: list[dict[str, Any]] | None = None) -> NoReturn:
    _err.print(f"[bold red]error[/]: {message}", soft_wrap=True, markup=True, highlight=False)
    for p in problems or []:
        where = (f"line {p['line']}: " if "line" in p else "") + p["path"]
        _err.print(f"  {where}: {p['code']}: {p['message']}", markup=False, highlight=False)
    raise typer.Exit(1)


def _keys(data_dir: Path | None) -> PseudonymKeys:
    settings = Settings(data_dir=data_dir or default_data_dir(),
                        pseudonym_key_file=Settings.from_env().pseudonym_key_file)
    try:
        return settings.load_keys()
    except PseudonymKeyError as e:
        _fail(str(e))


def _tenant(conn: Any, tenant: str) -> None:
    try:
        ensure_tenant(conn, tenant)
    except KeyRequestError as e:
        raise typer.BadParameter(str(e)) from None


SubjectKind = Annotated[str | None, typer.Option(
    help=f"The identifier's kind: {', '.join(PII_KINDS)}.")]
SubjectValue = Annotated[str | None, typer.Option(
    help="The identifier (pseudonymised at once, never stored).")]


def _lookup_subjects(data_dir: Path | None, tenant: str, kind: str | None, value: str | None,
                     pseudonym: str | None) -> tuple[str, ...] | None:
    """The pseudonyms to look a subject up by: an identifier's under every key, or the one given."""
    if kind is None and value is None:
        return None if pseudonym is None else (pseudonym,)
    if pseudonym is not None:
        _fail("Give an identifier (--subject-kind, --subject-value) or --subject-pseudonym, "
              "not both.")
    try:
        subject = SubjectBody.model_validate({"kind": kind, "value": value})
    except ValidationError as e:
        problems = [{"path": "--subject-" + str(err["loc"][0]) if err["loc"] else "--subject-*",
                     "code": err["type"], "message": err["msg"]}
                    for err in e.errors(include_input=False)]
        _fail("The subject is not valid.", problems)
    return existing_keys(data_dir).pseudonyms(subject.kind, subject.value, scope=tenant)


def _print(consent: dict[str, Any]) -> None:
    typer.echo(orjson.dumps(consent, option=_JSON).decode())


@consent_app.command("grant")
def grant(
    tenant: Tenant,
    source: Annotated[str, typer.Option(help="The data source id (e.g. bureau).")],
    purpose: Annotated[str, typer.Option(help=f"One of {', '.join(PURPOSES)}.")],
    consent_type: Annotated[str, typer.Option(
        "--type", help=f"One of {', '.join(CONSENT_TYPES)}.")],
    version: Annotated[str, typer.Option(help="The version of the consent wording.")],
    evidence_hash: Annotated[str, typer.Option(help="sha256:<64 hex> of the signed document.")],
    evidence_ref: Annotated[str, typer.Option(help="Where the signed document is kept.")],
    subject_kind: Annotated[str | None, typer.Option(
        help=f"The identifier's kind: {', '.join(PII_KINDS)}.")] = None,
    subject_value: Annotated[str | None, typer.Option(
        help="The identifier (pseudonymised at once, never stored).")] = None,
    subject_pseudonym: Annotated[str | None, typer.Option(help="Or the pseudonym.")] = None,
    granted_at: Annotated[dt.datetime | None, typer.Option(
        help="When it was granted (default now; UTC unless an offset is given).")] = None,
    valid_to: Annotated[dt.datetime | None, typer.Option(
        help="Valid until (default: until revoked).")] = None,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Record one consent and print it (the subject only as its pseudonym)."""
    doc: dict[str, Any] = {
        "source": source, "purpose": purpose, "consent_type": consent_type, "version": version,
        "granted_at": granted_at, "valid_to": valid_to,
        "evidence": {"hash": evidence_hash, "ref": evidence_ref}}
    if subject_pseudonym is not None:
        doc["subject_pseudonym"] = subject_pseudonym
    if subject_kind is not None or subject_value is not None:
        doc["subject"] = {"kind": subject_kind, "value": subject_value}
    try:
        body = ConsentBody.model_validate(doc)
    except ValidationError as e:
        problems = [{"path": "--" + "-".join(str(p) for p in err["loc"]).replace("_", "-")
                     if err["loc"] else "--subject-*", "code": err["type"],
                     "message": err["msg"]} for err in e.errors(include_input=False)]
        _fail("The consent is not valid.", problems)
    consent = to_new_consent(body, _keys(data_dir), tenant)
    try:
        with database(data_dir, database_url) as db, db.writer.begin() as conn:
            _tenant(conn, tenant)
            out = grant_consent(conn, tenant, consent, _CLI)
    except ConsentError as e:
        _fail(str(e), e.problems)
    _print(out)


@consent_app.command("revoke")
def revoke(
    consent_id: Annotated[str, typer.Argument(help="The consent's id.")],
    tenant: Tenant,
    revoked_at: Annotated[dt.datetime | None, typer.Option(
        help="When it was revoked (default now; not in the future).")] = None,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a consent: the next decision already sees it revoked."""
    try:
        with database(data_dir, database_url) as db, db.writer.begin() as conn:
            out, now = revoke_consent(conn, tenant, consent_id, revoked_at)
    except ConsentError as e:
        _fail(str(e), e.problems)
    if not now:
        _err.print(f"Consent {consent_id} was already revoked; the first time is kept.")
    _print(out)


@consent_app.command("list")
def list_(
    tenant: Tenant,
    subject_kind: SubjectKind = None,
    subject_value: SubjectValue = None,
    subject_pseudonym: Annotated[str | None, typer.Option(
        help="Or one pseudonym (that key's consents only).")] = None,
    source: Annotated[str | None, typer.Option(help="One source only.")] = None,
    purpose: Annotated[str | None, typer.Option(help="One purpose only.")] = None,
    active: Annotated[bool | None, typer.Option(
        "--active/--inactive", help="Only consents in force now (or not).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """List a tenant's consents, newest first (one subject's: by identifier, under every key)."""
    subjects = _lookup_subjects(data_dir, tenant, subject_kind, subject_value, subject_pseudonym)
    with database(data_dir, database_url) as db, db.reader.connect() as conn:
        rows = list_consents(conn, tenant, subject=subjects, source=source,
                             purpose=purpose, active=active, limit=limit)
    if as_json:
        for r in rows:
            _print(r)
        return
    table = Table("id", "subject", "source", "purpose", "type", "version", "granted",
                  "valid to", "revoked")
    for r in rows:
        table.add_row(r["id"], r["subject_pseudonym"], r["source"], r["purpose"],
                      r["consent_type"], r["version"], str(r["granted_at"]),
                      str(r["valid_to"] or ""), str(r["revoked_at"] or ""))
    Console(width=200).print(table)


@consent_app.command("status")
def status(
    tenant: Tenant,
    source: Annotated[str, typer.Option(help="The data source id (e.g. bureau).")],
    purpose: Annotated[str, typer.Option(help=f"One of {', '.join(PURPOSES)}.")],
    subject_kind: SubjectKind = None,
    subject_value: SubjectValue = None,
    subject_pseudonym: Annotated[str | None, typer.Option(
        help="Or one pseudonym (that key's consents only).")] = None,
    at: Annotated[dt.datetime | None, typer.Option(
        help="The instant (default now; UTC unless an offset is given).")] = None,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Print the verdict a decision would use (granted, missing, expired, revoked,
    purpose-mismatch) as JSON; by identifier it weighs the consents under every key."""
    if purpose not in PURPOSES:
        msg = f"must be one of {', '.join(PURPOSES)}"
        raise typer.BadParameter(msg, param_hint="--purpose")
    subjects = _lookup_subjects(data_dir, tenant, subject_kind, subject_value, subject_pseudonym)
    if subjects is None:
        _fail("Give the subject: --subject-kind and --subject-value, or --subject-pseudonym.")
    with database(data_dir, database_url) as db, db.reader.connect() as conn:
        verdict = consent_status(conn, tenant, subjects, source, purpose, at)
    _print(verdict.to_dict())


@consent_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSON lines: one consent a line.",
                                         exists=True, dir_okay=False, readable=True)],
    tenant: Tenant,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Record every consent of a JSON lines file in one transaction: all of them or none."""
    keys = _keys(data_dir)
    size = file.stat().st_size
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_err, transient=True) as progress:
        reading = progress.add_task("reading", total=size)

        def lines() -> Any:
            with file.open("rb") as fh:
                for line in fh:
                    progress.advance(reading, len(line))
                    yield line

        try:
            items = parse_lines(lines(), keys, tenant)
        except ConsentError as e:
            progress.stop()
            _fail(f"{file}: {e}", e.problems)
        writing = progress.add_task("recording", total=len(items))
        try:
            with database(data_dir, database_url) as db, db.writer.begin() as conn:
                _tenant(conn, tenant)
                n = import_consents(conn, tenant, items, _CLI,
                                    functools.partial(progress.advance, writing))
        except ConsentError as e:
            progress.stop()
            _fail(f"{file}: {e}", e.problems)
    typer.echo(f"Recorded {n} consents for tenant {tenant}.")


@consent_app.command("show")
def show(
    consent_id: Annotated[str, typer.Argument(help="The consent's id.")],
    tenant: Tenant,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Print one consent."""
    try:
        with database(data_dir, database_url) as db, db.reader.connect() as conn:
            out = get_consent(conn, tenant, consent_id)
    except ConsentError as e:
        _fail(str(e))
    _print(out)
