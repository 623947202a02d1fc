"""``pseudonym-keys show|rotate``: the keys personal data is pseudonymised with.

The keys live in the key file (``--data-dir``'s ``pseudonym-keys.json`` or
``$FENGKONG_PSEUDONYM_KEY_FILE``) or in ``$FENGKONG_PSEUDONYM_KEYS``, never in the
database. These commands name key ids only; key material is written to the key file
or, when the keys come from the variable, printed once on stdout for the operator to
store in their secret manager. Nothing here logs it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fengkong.cli._service import DataDir
from fengkong.privacy import PseudonymKeys
from fengkong.privacy._pseudonym import KEYS_ENV, PseudonymKeyError
from fengkong.service import Settings
from fengkong.service._settings import default_data_dir

pseudonym_keys_app = typer.Typer(
    help="Pseudonym keys: show the key ids, rotate to a new key (old ones are kept).",
    no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    _err.print(Text.assemble(("error", "bold red"), ": ", message), soft_wrap=True)
    raise typer.Exit(1)


def settings_for(data_dir: Path | None) -> Settings:
    """The key settings a server started with ``--data-dir`` here would use."""
    env = Settings.from_env()
    return Settings(data_dir=data_dir or default_data_dir(),
                    pseudonym_key_file=env.pseudonym_key_file, pseudonym_keys=env.pseudonym_keys)


def where(settings: Settings) -> str:
    """Where the keys in force come from, for messages."""
    return f"${KEYS_ENV}" if settings.pseudonym_keys else str(settings.key_file)


def existing_keys(data_dir: Path | None) -> PseudonymKeys:
    """The service's pseudonym keys; an error (exit 1) if there are none yet.

    Unlike the server, a command that looks records up never creates a key file: new
    keys would make pseudonyms that match nobody's.
    """
    settings = settings_for(data_dir)
    if not settings.pseudonym_keys and not settings.key_file.exists():
        _fail(f"No pseudonym keys: {settings.key_file} does not exist and ${KEYS_ENV} is not "
              "set. Run where the service's key file is (--data-dir, "
              "$FENGKONG_PSEUDONYM_KEY_FILE) or set the variable.")
    try:
        return settings.load_keys()
    except PseudonymKeyError as e:
        _fail(str(e))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<key file>.lock`` for the block."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@pseudonym_keys_app.command("show")
def show(data_dir: DataDir = Path("fengkong-data")) -> None:
    """List the key ids and which one is current (never the keys themselves)."""
    keys = existing_keys(data_dir)
    table = Table("key id", "current")
    for kid in keys.key_ids:
        table.add_row(kid, "yes" if kid == keys.current else "")
    console = Console(width=200)
    console.print(f"Pseudonym keys from {where(settings_for(data_dir))}:", markup=False,
                  highlight=False, soft_wrap=True)
    console.print(table)


@pseudonym_keys_app.command("rotate")
def rotate(data_dir: DataDir = Path("fengkong-data")) -> None:
    """Make a new current key, keeping the old ones so earlier pseudonyms are still found.

    With the key file, the file is rewritten atomically (mode 0600). With
    $FENGKONG_PSEUDONYM_KEYS set, nothing is written: the new key set is printed on stdout
    for you to store in your secret manager as the variable's new value.
    """
    settings = settings_for(data_dir)
    keys = existing_keys(data_dir)  # exits when there are none: nothing to rotate
    if settings.pseudonym_keys:
        new = keys.rotated()
        old = ", ".join(new.key_ids[1:])
        _err.print(
            f"${KEYS_ENV} is set, so no file was written. The new key set is printed below on "
            f"stdout (new current key {new.current}; kept {old}). Store it as the new value of "
            f"${KEYS_ENV} in your secret manager (do not paste it into a ticket, a log or a "
            "shell history), then restart every server that shares the database. Until they "
            "restart they keep making pseudonyms with the old key.",
            soft_wrap=True, markup=False, highlight=False)
        typer.echo(new.to_json())
        return
    path = settings.key_file
    try:
        # Two rotations at once must not both start from the same file: one key would be lost.
        with _locked(path):
            new = existing_keys(data_dir).rotated()
            new.save(path)
    except OSError as e:
        _fail(f"Cannot write {path}: {e.strerror or type(e).__name__}.")
    old = ", ".join(new.key_ids[1:])
    typer.echo(f"Rotated the pseudonym keys in {path}: new current key {new.current}; "
               f"kept {old}. Restart every server that uses this key file (servers read the "
               "keys at start-up), and copy the file to every host that has its own copy.")
