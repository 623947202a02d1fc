"""Read an anonymisation config (YAML or JSON), with file, line and column on every error.

The YAML is read with the strategy loader's reader, which records the position of
every value by key path, so a schema error points at the key that holds it.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fengkong.anonymize._errors import AnonymizationConfigError
from fengkong.anonymize._spec import (
    HIERARCHY_TYPES,
    AnonymizationSpec,
    BandsSpec,
    CategoricalSpec,
    DateSpec,
)
from fengkong.errors import Diagnostic, DiagnosticSink
from fengkong.expr import suggest
from fengkong.strategy._load import Path_, SourceMap, read_document

_QI = "quasi_identifiers"


def load_anonymization_spec(path: str | Path) -> AnonymizationSpec:
    """Read and validate an anonymisation config file.

    A categorical hierarchy may name a CSV file (``file: regions.csv``, relative
    to the config) instead of giving ``levels`` inline; it is read here.

    Parameters
    ----------
    path
        A ``.yaml``, ``.yml`` or ``.json`` file.

    Returns
    -------
    AnonymizationSpec

    Raises
    ------
    AnonymizationConfigError
        With every problem found, each naming the file, line, column and key path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "anon.yaml").write_text(
    ...     "target: bad\\nquasi_identifiers:\\n  age: {type: bands, widths: [10]}\\n")
    >>> load_anonymization_spec(d / "anon.yaml").quasi_identifiers["age"].level_count
    3
    """
    path = Path(path)
    sink = DiagnosticSink(file=str(path))
    source = SourceMap(str(path))
    doc = read_document(path, (), source, sink)
    if not sink.has_errors and not isinstance(doc, dict):
        sink.add(Diagnostic("spec-not-mapping",
                            "An anonymisation config must be a mapping of keys to values.",
                            file=str(path), line=1, column=1))
    if sink.has_errors:
        raise AnonymizationConfigError(sink.items)
    assert isinstance(doc, dict)
    _inline_hierarchy_files(doc, path.parent, source, sink)
    if sink.has_errors:
        raise AnonymizationConfigError(sink.items)
    try:
        return AnonymizationSpec.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            sink.add(_diagnostic(doc, _strip_tag(tuple(err["loc"])), err["type"], err["msg"],
                                 source))
        raise AnonymizationConfigError(sink.items) from None


def _strip_tag(loc: Path_) -> Path_:
    """Drop the union tag pydantic puts after a quasi-identifier's name."""
    if len(loc) > 2 and loc[0] == _QI and loc[2] in HIERARCHY_TYPES:
        return (*loc[:2], *loc[3:])
    return loc


def _allowed_keys(doc: dict[str, Any], loc: Path_) -> list[str]:
    """The keys allowed in the mapping at ``loc``, for the unknown-key hint."""
    if not loc:
        return list(AnonymizationSpec.model_fields)
    if len(loc) == 2 and loc[0] == _QI:
        kind = doc.get(_QI, {}).get(loc[1], {}).get("type")
        models: dict[str, type[BaseModel]] = {
            "bands": BandsSpec, "categorical": CategoricalSpec, "date": DateSpec}
        model = models.get(kind) if isinstance(kind, str) else None
        if model is not None:
            return list(model.model_fields)
    return []


def _diagnostic(doc: dict[str, Any], loc: Path_, kind: str, msg: str,
                source: SourceMap) -> Diagnostic:
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(doc, loc[:-1])
        hint = suggest(key, allowed) if allowed else ""
        listing = f" Allowed keys: {', '.join(allowed)}." if allowed and not hint else ""
        return source.diagnostic(loc, "unknown-key", f"Unknown key `{key}`.{hint}{listing}",
                                 at_key=True)
    if kind == "missing":
        return source.diagnostic(loc, "missing-key", f"Required key `{loc[-1]}` is missing.")
    if kind == "union_tag_not_found":
        kinds = ", ".join(HIERARCHY_TYPES)
        return source.diagnostic(loc, "missing-key",
                                 f"Required key `type` is missing; one of {kinds}.")
    if kind == "union_tag_invalid":
        kinds = ", ".join(HIERARCHY_TYPES)
        return source.diagnostic((*loc, "type"), "invalid-value",
                                 f"`type` must be one of {kinds}.")
    text = msg.removeprefix("Value error, ")
    return source.diagnostic(loc, "invalid-value", text if text.endswith(".") else f"{text}.")


def _inline_hierarchy_files(doc: dict[str, Any], base: Path, source: SourceMap,
                            sink: DiagnosticSink) -> None:
    """Replace ``file: x.csv`` of categorical hierarchies by the levels it holds."""
    qis = doc.get(_QI)
    if not isinstance(qis, dict):
        return
    for column, spec in qis.items():
        if not (isinstance(spec, dict) and spec.get("type") == "categorical" and "file" in spec):
            continue
        at: Path_ = (_QI, column, "file")
        if "levels" in spec:
            sink.add(source.diagnostic(at, "invalid-value",
                                       "Give either `file` or `levels`, not both.", at_key=True))
            continue
        name = spec.pop("file")
        if not isinstance(name, str):
            sink.add(source.diagnostic(at, "invalid-value", "`file` must be a file name."))
            continue
        try:
            levels, names = read_hierarchy_csv(base / name)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            sink.add(source.diagnostic(at, "file-unreadable",
                                       f"Cannot read hierarchy file `{base / name}`: {reason}."))
            continue
        except ValueError as exc:
            sink.add(source.diagnostic(at, "invalid-value", f"Hierarchy file `{base / name}`: {exc}"))
            continue
        spec["levels"] = levels
        spec.setdefault("names", names)


def read_hierarchy_csv(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Read a categorical hierarchy table: raw values in column 1, each coarser level after it.

    Parameters
    ----------
    path
        A CSV file with a header row, e.g. ``province,region``.

    Returns
    -------
    levels, names
        ``levels[i]`` maps column ``i``'s values to column ``i + 1``'s; ``names`` are
        the headers of the columns after the first.

    Raises
    ------
    ValueError
        If the table has fewer than two columns, a short row, or a value with two
        different parents; the message gives the line.
    OSError
        If the file cannot be read.
    """
    with path.open(encoding="utf-8", newline="") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    rows = [r for r in rows if any(r)]
    if not rows or len(rows[0]) < 2:
        msg = "needs a header and at least two columns (the value, then its group)."
        raise ValueError(msg)
    header, body = rows[0], rows[1:]
    levels: list[dict[str, str]] = [{} for _ in header[1:]]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            msg = f"line {line} has {len(row)} cells; the header has {len(header)}."
            raise ValueError(msg)
        for i, (child, parent) in enumerate(itertools.pairwise(row)):
            if levels[i].setdefault(child, parent) != parent:
                msg = (f"line {line}: `{child}` in column `{header[i]}` has two parents in "
                       f"column `{header[i + 1]}`.")
                raise ValueError(msg)
    return levels, header[1:]
