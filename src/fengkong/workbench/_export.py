"""Export fitted scorecards as strategy-engine scorecard components (YAML/JSON, no pickles).

A characteristic's bins become unary-test cells: ``< a``, ``[a..b)``, ``>= b`` with bounds
written so that they read back to the same float (whole numbers without ``.0``), and for
categories ``'a','b'``. The missing bin is ``missing:``, special values are ``special:``,
and ``other:`` holds the points of the categorical ``other`` bin (rare and unseen
categories); for numeric characteristics ``other`` equals ``missing`` (a NaN is missing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fengkong.strategy._spec import ScorecardSpec
from fengkong.workbench._binning import numeric_labels, quote

if TYPE_CHECKING:
    from fengkong.workbench._scorecard import Scorecard


def identifier(text: str, *, prefix: str = "c") -> str:
    """``text`` as a lower_snake_case identifier (at most 64 characters)."""
    out = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_") or prefix
    if not re.match(r"[a-z_]", out[0]):
        out = f"{prefix}_{out}"
    return out[:64]


def field_name(text: str) -> str:
    """``text`` as an input field name (dotted lower_snake_case parts kept)."""
    return ".".join(identifier(part) for part in text.split("."))[:128]


def reason_code(column: str) -> str:
    """The default reason code of a characteristic: ``<COLUMN>_POINTS``."""
    code = re.sub(r"[^A-Z0-9_]+", "_", column.upper()).strip("_") or "C"
    if not code[0].isalpha():
        code = f"C_{code}"
    return f"{code[:57]}_POINTS"


def _special(value: Any, dtype: str) -> Any:
    if dtype == "str":
        return str(value)
    v = float(value)
    return int(v) if dtype == "int" and v.is_integer() else v


def scorecard_component(card: Scorecard, *, name: str = "scorecard", version: int | str = 1,
                        reasons: Mapping[str, str] | None = None,
                        expressions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The strategy-engine scorecard document of a fitted :class:`Scorecard`."""
    binner = card.binner_
    chars: list[dict[str, Any]] = []
    used: set[str] = set()
    for col in card.features_:
        bins = binner.bins_[col]
        pts = [float(p) for p in card.bin_points_[col]]
        cname = identifier(col)
        while cname in used:
            cname = f"{cname[:60]}_{len(used)}"
        used.add(cname)
        if bins.kind == "numeric":
            cells = numeric_labels(bins.cuts)
            other = pts[bins.missing_code]
        else:
            cells = [",".join(quote(c) for c in group) for group in bins.groups]
            other = pts[bins.other_code]
        entry: dict[str, Any] = {
            "name": cname,
            "expr": (expressions or {}).get(col, field_name(col)),
            "reason": (reasons or {}).get(col, reason_code(col)),
            "missing": pts[bins.missing_code],
        }
        if bins.special_values:
            entry["special"] = [{"values": [_special(v, bins.dtype)],
                                 "points": pts[bins.special_start + k]}
                                for k, v in enumerate(bins.special_values)]
        entry["bins"] = [{"when": cell, "points": pts[k]} for k, cell in enumerate(cells)]
        entry["other"] = other
        chars.append(entry)
    if not chars:
        msg = "The scorecard has no characteristics to export (no characteristic was usable)."
        raise ValueError(msg)
    doc: dict[str, Any] = {
        "scorecard": identifier(name), "version": version,
        "base_points": float(card.base_points_), "pdo": float(card.pdo),
        "base_score": float(card.base_score), "base_odds": float(card.base_odds),
        "characteristics": chars}
    ScorecardSpec.model_validate(doc)  # fail here, not in the engine
    return doc


def input_fields(card: Scorecard) -> dict[str, dict[str, Any]]:
    """``inputs`` declarations (optional fields) for the card's default expressions."""
    out: dict[str, dict[str, Any]] = {}
    for col in card.features_:
        dtype = card.binner_.dtypes_[col]
        out[field_name(col)] = {"type": dtype, "required": False}
    return out


def write_document(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write a document as YAML, or JSON when the path ends in ``.json``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        p.write_text(yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True,
                                    width=100), encoding="utf-8")
    return p
