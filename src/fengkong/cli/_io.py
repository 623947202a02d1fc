"""Files the CLI reads and writes: tables by extension, JSON records, atomic writes."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl

from fengkong.compile.ir import FieldIR
from fengkong.errors import DataError

TableFormat = Literal["parquet", "csv"]

#: File extensions (lower case) the table readers and writers understand.
TABLE_SUFFIXES: dict[str, TableFormat] = {".parquet": "parquet", ".csv": "csv"}

_FORMAT_NAMES: dict[TableFormat, str] = {"parquet": "Parquet", "csv": "CSV"}

#: Separator used for list columns (``reasons``, ``rule_hits``) in CSV output.
LIST_SEPARATOR = "|"

_JSON_KINDS: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_TRUE_FALSE = {"true": True, "false": False, "1": True, "0": False}
_EXPECTED = {"int": "integers", "float": "numbers", "bool": "true/false values"}
# Polars quotes offending cell values in backticks; they may be personal data.
_QUOTED = re.compile(r"`[^`]*`", re.DOTALL)


def table_format(path: Path) -> TableFormat:
    """Return the table format implied by ``path``'s extension.

    Parameters
    ----------
    path
        A file path ending in ``.parquet`` or ``.csv`` (any case).

    Returns
    -------
    TableFormat
        ``"parquet"`` or ``"csv"``.

    Raises
    ------
    ValueError
        If the extension is neither; the message names the extension.
    """
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        ext = f"extension `{path.suffix}`" if path.suffix else "no extension"
        msg = f"`{path}` has {ext}; use .parquet or .csv."
        raise ValueError(msg)
    return fmt


def read_table(path: Path, fields: Sequence[FieldIR], *, keep: Sequence[str] = ()) -> pl.DataFrame:
    """Read the strategy's input columns (and ``keep``) from a Parquet or CSV file.

    Only columns the strategy declares, plus ``keep``, are read. CSV cells are
    read as text and converted by the declared field type here, so that ID
    numbers that look numeric stay strings and a bad cell is reported by column
    and row without its value; date columns stay text for the engine to parse.

    Parameters
    ----------
    path
        The input file; the format follows its extension.
    fields
        The strategy's input fields (``CompiledStrategy.plan.fields``).
    keep
        Further columns to read and carry through unchanged (e.g. an application id).

    Returns
    -------
    polars.DataFrame
        ``keep`` columns first, then the strategy's fields present in the file.

    Raises
    ------
    DataError
        If the file cannot be read, lacks a ``keep`` column, or (CSV) a cell does
        not convert to its field's type.
    """
    fmt = table_format(path)
    try:
        lf = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_csv(path, infer_schema=False)
        present = lf.collect_schema().names()
        missing = [k for k in keep if k not in present]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            msg = f"Input `{path}` has no column {names} (asked for with --keep)."
            raise DataError(msg)
        wanted = [*keep, *(f.name for f in fields if f.name in present and f.name not in keep)]
        frame = lf.select(wanted).collect()
    except (OSError, pl.exceptions.PolarsError) as exc:
        msg = f"Cannot read `{path}` as {_FORMAT_NAMES[fmt]}: {_redact(exc)}"
        raise DataError(msg) from exc
    return _convert_csv(frame, fields, path) if fmt == "csv" else frame


def _redact(exc: BaseException) -> str:
    """The first paragraph of a reader's error, with quoted cell values removed."""
    text = str(exc).split("\n\n", 1)[0].strip()
    return _QUOTED.sub("`…`", text) or type(exc).__name__


def _convert_csv(frame: pl.DataFrame, fields: Sequence[FieldIR], path: Path) -> pl.DataFrame:
    """Convert text columns of a CSV file to the types the strategy declares."""
    casts: dict[str, pl.Expr] = {}
    for f in fields:
        if f.name not in frame.columns:
            continue
        text = pl.col(f.name).str.strip_chars()
        if f.type == "int":
            casts[f.name] = text.cast(pl.Int64, strict=False)
        elif f.type == "float":
            casts[f.name] = text.cast(pl.Float64, strict=False)
        elif f.type == "bool":
            casts[f.name] = text.str.to_lowercase().replace_strict(
                _TRUE_FALSE, default=None, return_dtype=pl.Boolean
            )
    if not casts:
        return frame
    converted = frame.with_columns(expr.alias(name) for name, expr in casts.items())
    problems: list[str] = []
    kinds = {f.name: f.type for f in fields}
    for name in casts:
        # A cell is bad when it had text but did not convert; blank cells are nulls.
        bad = (frame[name].str.strip_chars().str.len_chars() > 0) & converted[name].is_null()
        n_bad = int(bad.sum())
        if n_bad:
            first = int(bad.arg_true()[0]) + 1
            problems.append(
                f"column `{name}` has {n_bad} value(s) that are not "
                f"{_EXPECTED[kinds[name]]} (first in data row {first})"
            )
    if problems:
        msg = f"Cannot read `{path}`: " + "; ".join(problems) + "."
        raise DataError(msg)
    return converted


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place if the block succeeds.

    A failure inside the block leaves neither the temporary file nor a
    half-written ``path`` behind (an existing ``path`` is kept as it was).

    Parameters
    ----------
    path
        The final destination; its directory is created if needed.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` atomically as Parquet or CSV, by ``path``'s extension.

    In CSV, list columns are joined with ``|`` and datetimes are ISO 8601.

    Parameters
    ----------
    frame
        The table to write.
    path
        Destination ending in ``.parquet`` or ``.csv``.

    Raises
    ------
    ValueError
        If the extension is not supported.
    OSError
        If the file cannot be written (nothing is left behind).
    """
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.write_parquet(tmp)
        else:
            flat = frame.with_columns(
                pl.col(name).list.join(LIST_SEPARATOR)
                for name, dtype in frame.schema.items()
                if isinstance(dtype, pl.List)
            )
            flat.write_csv(tmp, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z")


def write_text(text: str, path: Path) -> None:
    """Write ``text`` (UTF-8) atomically to ``path``.

    Parameters
    ----------
    text
        The content.
    path
        The destination.

    Raises
    ------
    OSError
        If the file cannot be written (nothing is left behind).
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    msg = f"Type {type(value).__name__} is not JSON serialisable."
    raise TypeError(msg)


def dumps_json(value: object) -> str:
    """Render ``value`` as pretty JSON (2-space indent); dates and datetimes as ISO 8601.

    Parameters
    ----------
    value
        Any JSON-ready value; ``Decimal`` becomes a string, so money stays exact.

    Returns
    -------
    str
        The JSON text, without a trailing newline.
    """
    return orjson.dumps(
        value, default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    ).decode()


def parse_records(data: bytes, source: str) -> tuple[list[Mapping[str, Any]], bool]:
    """Parse a JSON object, or an array of objects, into records.

    Parameters
    ----------
    data
        The JSON text.
    source
        Where it came from, for messages (a path or ``<stdin>``).

    Returns
    -------
    records, is_array
        The records, and whether the input was an array.

    Raises
    ------
    DataError
        If the text is not JSON, or not an object or array of objects. The message
        gives the position, never the text.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        raise DataError(msg) from exc
    if isinstance(doc, dict):
        return [doc], False
    if isinstance(doc, list):
        bad = [i for i, item in enumerate(doc) if not isinstance(item, dict)]
        if bad:
            msg = f"{source}: record [{bad[0]}] is not a JSON object (a record maps field names to values)."
            raise DataError(msg)
        return doc, True
    kind = _JSON_KINDS.get(type(doc), type(doc).__name__)
    msg = f"{source} must hold a JSON object or an array of objects; got a JSON {kind}."
    raise DataError(msg)
