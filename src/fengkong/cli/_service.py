"""``serve``, ``db``, ``keys`` and ``audit``: running the decision service and its store."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from fengkong.service import Settings, configure_logging
from fengkong.service._settings import default_data_dir
from fengkong.store import (
    ROLES,
    Database,
    KeyRequestError,
    StoreError,
    count_records,
    create_key,
    list_keys,
    revoke_key,
    tenants_with_chains,
    verify_chain,
)

DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="FENGKONG_DATA_DIR", help="Where the SQLite database and keys live.",
    show_default="./fengkong-data")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="FENGKONG_DATABASE_URL",
    help="sqlite:///PATH or postgresql://HOST/DB (default: SQLite under --data-dir).")]
Tenant = Annotated[str, typer.Option("--tenant", help="The institution (tenant) id.")]

db_app = typer.Typer(help="The service's database.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of institutions (tenants).", no_args_is_help=True)
audit_app = typer.Typer(help="The decision log's audit chain.", no_args_is_help=True)

_err = Console(stderr=True)


def _open(data_dir: Path | None, database_url: str | None, *, migrate: bool = True) -> Database:
    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url)
    try:
        db = Database.connect(settings.url)
        if migrate:
            db.upgrade()
    except StoreError as e:
        _err.print(f"[bold red]error[/]: {e}")
        raise typer.Exit(1) from None
    except Exception as e:  # the driver's message names host and database, never data
        _err.print(f"[bold red]error[/]: cannot open the database: {type(e).__name__}: "
                   f"{str(e).splitlines()[0] if str(e) else ''}")
        raise typer.Exit(1) from None
    return db


@contextmanager
def database(data_dir: Path | None, database_url: str | None, *,
             migrate: bool = True) -> Iterator[Database]:
    """The store for a command (migrated unless told not to), closed afterwards."""
    db = _open(data_dir, database_url, migrate=migrate)
    try:
        yield db
    finally:
        db.dispose()


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
    tenant: Annotated[str, typer.Option(
        "--tenant", help="The tenant the example strategy pack is deployed for.")] = "default",
    example: Annotated[bool, typer.Option(
        "--example/--no-example", help="Deploy the example pack at start-up.")] = True,
    max_body_bytes: Annotated[int, typer.Option(
        help="Larger request bodies get 413.")] = 1 << 20,
    workers: Annotated[int, typer.Option(help="Server processes (share one database).")] = 1,
    routing_ttl: Annotated[float, typer.Option(
        envvar="FENGKONG_ROUTING_TTL",
        help="Seconds before a release made through another server is seen.")] = 2.0,
    key_cache_ttl: Annotated[float, typer.Option(
        envvar="FENGKONG_KEY_CACHE_TTL",
        help="Seconds a verified API key is remembered (a revoked key works that long).")] = 5.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the decision service (HTTP API, durable decision log) until stopped."""
    import uvicorn

    # Settings without a flag ($FENGKONG_MONITOR_*, ...) come from the environment: the
    # workers get them back from it below, so they must not be reset to their defaults.
    settings = dataclasses.replace(
        Settings.from_env(), data_dir=data_dir, database_url=database_url, tenant=tenant,
        deploy_example=example, max_body_bytes=max_body_bytes, routing_ttl=routing_ttl,
        key_cache_ttl=key_cache_ttl)
    # Fail here, clearly, not in a worker.
    with database(settings.data_dir, settings.database_url) as db, db.reader.connect() as conn:
        has_keys = bool(list_keys(conn, tenant))
        dialect = db.dialect
    if workers > 1 and dialect == "sqlite":
        _err.print("[yellow]warning[/]: several workers on SQLite take turns on its one write "
                   "lock and answer slower than one; use PostgreSQL for more than one worker.")
    os.environ.update(settings.to_env())
    os.environ["FENGKONG_LOG_LEVEL"] = log_level  # for the worker processes
    configure_logging(log_level)
    if not has_keys:
        _err.print(f"Tenant [bold]{tenant}[/] has no API keys yet; create one with\n"
                   f"  fengkong keys create --tenant {tenant} --role decide --name my-app"
                   + (f" --data-dir {data_dir}" if database_url is None else
                      " --database-url ..."))
    uvicorn.run("fengkong.service:app_from_env", factory=True, host=host, port=port,
                workers=workers, loop="uvloop", http="httptools", log_config=None,
                log_level=log_level, access_log=False, timeout_graceful_shutdown=10)


def openapi(output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.")] = None) -> None:
    """Print the decision service's OpenAPI document."""
    import orjson

    from fengkong.service import create_app

    text = orjson.dumps(create_app().openapi(),
                        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, "utf-8")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = Path("fengkong-data"),
               database_url: DatabaseUrl = None) -> None:
    """Create the schema or migrate it to the newest version."""
    with database(data_dir, database_url) as db:
        typer.echo(f"{db.dialect} database is at the newest schema.")


@keys_app.command("create")
def keys_create(
    tenant: Tenant,
    role: Annotated[list[str], typer.Option(
        "--role", help=f"One of {', '.join(ROLES)}; repeat for several.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "cli",
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    try:
        with database(data_dir, database_url) as db, db.writer.begin() as conn:
            who, key = create_key(conn, tenant, role, name)
    except KeyRequestError as e:
        raise typer.BadParameter(str(e)) from None
    _err.print(f"Key {who.key_id} for tenant {tenant} with role(s) {', '.join(sorted(who.roles))}."
               " It is shown once; store it now.")
    typer.echo(key)


@keys_app.command("list")
def keys_list(tenant: Tenant, data_dir: DataDir = Path("fengkong-data"),
              database_url: DatabaseUrl = None) -> None:
    """List a tenant's keys (never their secrets)."""
    with database(data_dir, database_url) as db, db.reader.connect() as conn:
        rows = list_keys(conn, tenant)
    table = Table("id", "name", "roles", "created", "revoked")
    for r in rows:
        table.add_row(str(r["id"]), str(r["name"]), ",".join(r["roles"]),  # type: ignore[arg-type]
                      str(r["created_at"]), str(r["revoked_at"] or ""))
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")], tenant: Tenant,
                data_dir: DataDir = Path("fengkong-data"),
                database_url: DatabaseUrl = None) -> None:
    """Revoke a key (servers stop accepting it within seconds)."""
    with database(data_dir, database_url) as db, db.writer.begin() as conn:
        done = revoke_key(conn, tenant, key_id)
    if not done:
        _err.print(f"[bold red]error[/]: tenant {tenant} has no active key {key_id}.")
        raise typer.Exit(1)
    typer.echo(f"Revoked {key_id}.")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[str | None, typer.Option(help="One tenant (default: every tenant).")] = None,
    data_dir: DataDir = Path("fengkong-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Check every record of the decision log against its hash chain.

    Names the first record that was edited, deleted, inserted or reordered; exits 1 if any.
    """
    db = _open(data_dir, database_url, migrate=False)
    bad = 0
    try:
        if not db.has_schema():
            _err.print("[bold red]error[/]: the database has no fengkong decision log; "
                       "check --data-dir / --database-url (or run `fengkong db upgrade`).")
            raise typer.Exit(1)
        with db.snapshot() as conn:
            tenants = [tenant] if tenant else tenants_with_chains(conn)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=_err, transient=True) as progress:
                for t in tenants:
                    task = progress.add_task(f"verifying {t}", total=count_records(conn, t))
                    report = verify_chain(conn, t, functools.partial(progress.advance, task))
                    if report.ok:
                        typer.echo(f"{t}: ok, {report.records} records, head {report.head_hash}")
                    else:
                        bad += 1
                        where = f" (record id {report.bad_id})" if report.bad_id else ""
                        typer.echo(f"{t}: BROKEN at seq {report.bad_seq}{where}: {report.problem}")
    except SQLAlchemyError as e:
        _err.print(f"[bold red]error[/]: cannot read the decision log: {type(e).__name__}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if bad:
        raise typer.Exit(1)
