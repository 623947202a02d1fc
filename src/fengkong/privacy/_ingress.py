"""Replace a record's personal data fields by pseudonyms, checking the raw values first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from fengkong.compile._online import field_messages
from fengkong.compile.ir import FieldIR
from fengkong.core import MISSING, field_value
from fengkong.errors import FieldProblem
from fengkong.privacy._identifiers import RULES, identifier_ok
from fengkong.privacy._pseudonym import PseudonymKeys, is_pseudonym


def pseudonymise_record(record: Mapping[str, Any], fields: Sequence[FieldIR], keys: PseudonymKeys,
                        *, scope: str = "") -> tuple[dict[str, Any], list[FieldProblem]]:
    """A copy of ``record`` with every personal data field replaced by its pseudonym.

    Each raw value is checked against its declared type, length, range or values
    first (the strategy, compiled with ``pii_tokens``, only sees the pseudonym), and
    ID card numbers, bank card numbers, mobile numbers and emails against their own
    rules (check characters, Luhn, shape: ``input-identifier``); bad values are
    dropped from the copy and reported, never echoed. A value that is already a
    pseudonym (a stored record being replayed, or a caller that pseudonymises
    upstream with the same key) is kept as it is. Fields may be given
    dotted (``"applicant.phone"``) or nested (``{"applicant": {"phone": ...}}``).

    >>> from fengkong.compile.ir import FieldIR
    >>> keys = PseudonymKeys.generate()
    >>> phone = FieldIR("applicant.phone", "str", True, None, None, None, 20, "phone")
    >>> out, problems = pseudonymise_record(
    ...     {"applicant": {"phone": "13800138000", "age": 30}}, [phone], keys)
    >>> out["applicant"]["age"], out["applicant"]["phone"].startswith("pn1."), problems
    (30, True, [])
    """
    out: dict[str, Any] = dict(record)
    problems: list[FieldProblem] = []
    for f in fields:
        value = field_value(out, f.name)
        if value is MISSING or value is None:
            if f.required:
                problems.append(FieldProblem(f.name, "input-missing", field_messages(f)["input-missing"]))
            continue
        if is_pseudonym(value):
            continue
        token, problem = pseudonymise_value(f, value, keys, scope=scope)
        if problem is not None:
            problems.append(problem)
        _set(out, f.name, token)
    return out, problems


def pseudonymise_value(f: FieldIR, value: Any, keys: PseudonymKeys, *, scope: str = ""
                       ) -> tuple[str | None, FieldProblem | None]:
    """The pseudonym of one raw (not None) value of personal data field ``f``, or its problem.

    The value is checked against the field's declared type and constraints, then (ID card
    and bank card numbers, mobile numbers, emails) the identifier's own rules; a bad value
    gets no pseudonym. Dates are pseudonymised as ISO text, integers as their digits.
    """
    code = _check(f, value)
    if code is not None:
        return None, FieldProblem(f.name, code, field_messages(f)[code])
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    if f.pii in RULES and type(value) in (str, int) and not identifier_ok(f.pii, text):
        return None, FieldProblem(f.name, "input-identifier",
                                  f"Field `{f.name}` must be {RULES[f.pii]}.")
    return keys.pseudonym(f.pii or "other", text, scope=scope), None


def _check(f: FieldIR, value: Any) -> str | None:
    if f.type in ("str", "enum"):
        if type(value) is not str:
            return "input-type"
        if f.type == "enum" and value not in (f.values or ()):
            return "input-enum"
        if f.max_length is not None and len(value) > f.max_length:
            return "input-length"
        return None
    if f.type == "int":
        if type(value) is not int:
            return "input-type"
        if (f.lo is not None and value < f.lo) or (f.hi is not None and value > f.hi):
            return "input-range"
        return None
    if f.type == "date":
        if isinstance(value, dt.date):
            return None
        if type(value) is not str:
            return "input-type"
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return "input-date"
        return None if len(value) == 10 else "input-date"
    return "input-type"


def _set(record: dict[str, Any], name: str, value: Any) -> None:
    if name in record:
        record[name] = value
        return
    parts = name.split(".")
    node = record
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, Mapping):
            return
        node[part] = child = dict(child)  # copy on write: the caller's record is not touched
        node = child
    if parts[-1] in node:
        node[parts[-1]] = value
