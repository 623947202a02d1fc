"""Reading a field from a record given flat (``{"applicant.age": 30}``) or nested."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What :func:`field_value` gives for a field the record does not have (unlike ``None``)."""


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """The value of the dotted field ``name``: a flat key first, else the nested path.

    >>> field_value({"applicant": {"age": 30}}, "applicant.age")
    30
    >>> field_value({"applicant.age": None}, "applicant.age") is None
    True
    >>> field_value({"applicant": {}}, "applicant.age")
    MISSING
    """
    if name in record:
        return record[name]
    node: Any = record
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node
