"""The anonymisation report: what was met, what was generalised, what it cost, how it was found."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class QuasiIdentifierLevel:
    """The generalisation chosen for one quasi-identifier.

    Attributes
    ----------
    column
        The column.
    level
        The chosen level: 0 is the column as it is, ``levels - 1`` is ``*``.
    levels
        Levels of its hierarchy.
    name
        The chosen level's name (``"bands of 10"``, ``"region"``, ``"*"``...).
    loss
        Average cell loss of this column over all input rows, in [0, 1]
        (suppressed rows count as fully lost).
    """

    column: str
    level: int
    levels: int
    name: str
    loss: float


@dataclass(frozen=True, slots=True)
class SizeBucket:
    """How many exported equivalence classes have a size in ``[smallest, largest]``.

    ``largest`` is ``None`` for the open last bucket.
    """

    smallest: int
    largest: int | None
    classes: int
    rows: int


@dataclass(frozen=True, slots=True)
class AnonymizationReport:
    """What an anonymised export achieved, as measured on the exported table.

    Attributes
    ----------
    rows_in, rows_out
        Rows read and rows exported.
    suppressed_rows, suppression, max_suppression
        Rows left out (in classes that fail k or ℓ), their share, and the cap.
    k_required, k
        The k asked for, and the smallest exported class (``None`` if none).
    l_required, l, diversity, target
        The ℓ asked for and achieved (distinct target values, or ``exp`` of the
        target's entropy), its kind, and the target column (``None``: k only).
    quasi_identifiers
        The chosen level of each quasi-identifier.
    information_loss
        Average cell loss over every quasi-identifier cell of the input, in [0, 1]:
        the normalised certainty penalty of each generalised cell, 1 for suppressed
        rows' cells. 0 is the table as it is, 1 every cell ``*``.
    classes, class_sizes, smallest_class, median_class, largest_class
        Exported equivalence classes and their size distribution.
    max_risk, average_risk
        Re-identification risk under the prosecutor model: the largest is
        ``1 / k``, the average ``classes / rows_out``.
    nodes, nodes_evaluated, seconds
        Lattice size, nodes whose classes were counted, and wall time.
    exported_columns, dropped_columns
        Columns written, and columns left out (direct identifiers and every column
        the config does not name).
    """

    rows_in: int
    rows_out: int
    suppressed_rows: int
    suppression: float
    max_suppression: float
    k_required: int
    k: int | None
    l_required: int
    l: float | None  # noqa: E741 - the ℓ of ℓ-diversity
    diversity: str
    target: str | None
    quasi_identifiers: tuple[QuasiIdentifierLevel, ...]
    information_loss: float
    classes: int
    class_sizes: tuple[SizeBucket, ...]
    smallest_class: int | None
    median_class: float | None
    largest_class: int | None
    max_risk: float | None
    average_risk: float | None
    nodes: int
    nodes_evaluated: int
    seconds: float
    exported_columns: tuple[str, ...]
    dropped_columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data.

        Returns
        -------
        dict
            Every attribute; tuples become lists.
        """
        data = asdict(self)
        data["quasi_identifiers"] = [asdict(q) for q in self.quasi_identifiers]
        data["class_sizes"] = [asdict(b) for b in self.class_sizes]
        data["exported_columns"] = list(self.exported_columns)
        data["dropped_columns"] = list(self.dropped_columns)
        return data

    def to_json(self) -> str:
        """The report as indented JSON text (UTF-8, ``ℓ`` kept as is)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def _summary(self) -> list[tuple[str, str]]:
        kind = f"{self.diversity}, `{self.target}`" if self.target else "no target"
        rows = [
            ("rows in", f"{self.rows_in:,}"),
            ("rows out", f"{self.rows_out:,}"),
            ("suppressed", f"{self.suppressed_rows:,} ({_pct(self.suppression)}; "
                           f"at most {_pct(self.max_suppression)})"),
            ("k", f"{_opt(self.k)} (required {self.k_required})"),
            (f"ℓ ({kind})", f"{_ell(self.l)} (required {self.l_required})"
             if self.target else "not checked"),
            ("information loss", f"{self.information_loss:.4f}"),
            ("classes", f"{self.classes:,} (sizes {_opt(self.smallest_class)} to "
                        f"{_opt(self.largest_class)}, median {_ell(self.median_class)})"),
            ("re-identification risk", f"at most {_pct(self.max_risk)}, "
                                       f"on average {_pct(self.average_risk)}"),
            ("search", f"{self.nodes_evaluated:,} of {self.nodes:,} nodes evaluated "
                       f"in {self.seconds:.2f} s"),
        ]
        return rows

    def _levels(self) -> list[tuple[str, ...]]:
        return [(q.column, f"{q.level} of {q.levels - 1}", q.name, f"{q.loss:.4f}")
                for q in self.quasi_identifiers]

    def _buckets(self) -> list[tuple[str, ...]]:
        return [(_bucket(b), f"{b.classes:,}", f"{b.rows:,}") for b in self.class_sizes]

    def to_text(self) -> str:
        """The report as plain-text tables (what ``fengkong anonymize`` prints).

        Returns
        -------
        str
            Summary, chosen generalisation, class sizes and dropped columns.
        """
        parts = [
            "Anonymised export",
            _text_table(("measure", "value"), self._summary()),
            "",
            "Generalisation",
            _text_table(("column", "level", "name", "loss"), self._levels()),
            "",
            "Equivalence class sizes",
            _text_table(("size", "classes", "rows"), self._buckets()),
        ]
        if self.dropped_columns:
            parts += ["", "Not exported: " + ", ".join(self.dropped_columns)]
        return "\n".join(parts)

    def to_html(self) -> str:
        """The report as a small self-contained HTML page.

        Returns
        -------
        str
            An HTML document with the same tables as :meth:`to_text`.
        """
        body = [
            "<h1>Anonymised export</h1>",
            _html_table(("measure", "value"), self._summary()),
            "<h2>Generalisation</h2>",
            _html_table(("column", "level", "name", "loss"), self._levels()),
            "<h2>Equivalence class sizes</h2>",
            _html_table(("size", "classes", "rows"), self._buckets()),
        ]
        if self.dropped_columns:
            body.append("<p>Not exported: " + html.escape(", ".join(self.dropped_columns))
                        + "</p>")
        style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
                 "margin-bottom:1em}td,th{border:1px solid #ccc;padding:.2em .6em;"
                 "text-align:left}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>Anonymised export</title><style>{style}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")


def size_buckets(sizes: list[int], k: int) -> tuple[SizeBucket, ...]:
    """Bucket class sizes at k, 2k, 5k, 10k and beyond (the smallest classes are the riskiest).

    Parameters
    ----------
    sizes
        The size of every class.
    k
        The required k (buckets start there).

    Returns
    -------
    tuple of SizeBucket
        Non-empty buckets, smallest first.

    Examples
    --------
    >>> [(b.smallest, b.largest, b.classes) for b in size_buckets([5, 6, 12, 80], 5)]
    [(5, 9, 2), (10, 24, 1), (50, None, 1)]
    """
    edges = [1, k, 2 * k, 5 * k, 10 * k]
    edges = sorted(set(edges))
    out: list[SizeBucket] = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] - 1 if i + 1 < len(edges) else None
        inside = [s for s in sizes if s >= lo and (hi is None or s <= hi)]
        if inside:
            out.append(SizeBucket(lo, hi, len(inside), sum(inside)))
    return tuple(out)


def _bucket(b: SizeBucket) -> str:
    if b.largest is None:
        return f"{b.smallest:,}+"
    return f"{b.smallest:,}" if b.largest == b.smallest else f"{b.smallest:,}–{b.largest:,}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _opt(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _ell(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _text_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def _html_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
