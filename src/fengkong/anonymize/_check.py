"""The k-check: how anonymous a table is as it stands (k, ℓ and the classes that fall short)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from fengkong.anonymize._errors import AnonymizationDataError

_SIZE = "__fengkong_class_size"
_DISTINCT = "__fengkong_class_distinct"
_ENTROPY = "__fengkong_class_entropy"
_ONE = "__fengkong_one_class"


@dataclass(frozen=True, slots=True)
class AnonymityCheck:
    """k-anonymity and ℓ-diversity of a table as it is.

    Attributes
    ----------
    rows
        Rows in the table.
    classes
        Equivalence classes (rows with equal quasi-identifiers; nulls are equal).
    k
        Rows in the smallest class; ``None`` for an empty table.
    l
        Least distinct target values in a class (``diversity="distinct"``), or the
        least ``exp(entropy)`` of the target in a class (``"entropy"``); ``None``
        without a target or rows.
    k_required, l_required
        What was asked.
    classes_below_k, rows_below_k
        Classes smaller than ``k_required``, and their rows.
    classes_below_l, rows_below_l
        Classes less diverse than ``l_required``, and their rows.
    class_sizes
        Size of every class, smallest first.
    """

    rows: int
    classes: int
    k: int | None
    l: float | None  # noqa: E741 - the ℓ of ℓ-diversity
    k_required: int
    l_required: int
    classes_below_k: int
    rows_below_k: int
    classes_below_l: int
    rows_below_l: int
    class_sizes: tuple[int, ...]

    @property
    def is_anonymous(self) -> bool:
        """Whether every class has at least ``k_required`` rows and ℓ-diversity ``l_required``."""
        return self.classes_below_k == 0 and self.classes_below_l == 0


def check(
    frame: pl.DataFrame,
    quasi_identifiers: Sequence[str],
    k: int = 5,
    target: str | None = None,
    l: int = 2,  # noqa: E741 - the ℓ of ℓ-diversity
    *,
    diversity: Literal["distinct", "entropy"] = "distinct",
) -> AnonymityCheck:
    """Measure k-anonymity (and ℓ-diversity of ``target``) of ``frame`` as it is.

    Parameters
    ----------
    frame
        The table.
    quasi_identifiers
        Columns that together could re-identify a person.
    k
        Required smallest class.
    target
        Sensitive column whose values each class must mix, or ``None``.
    l
        Required ℓ (distinct values, or ``exp(entropy)`` for ``diversity="entropy"``).
    diversity
        ``"distinct"`` or ``"entropy"``.

    Returns
    -------
    AnonymityCheck

    Raises
    ------
    AnonymizationDataError
        If a named column is not in ``frame``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"age": ["20-29"] * 3 + ["30-39"] * 2, "bad": [0, 1, 0, 0, 1]})
    >>> result = check(frame, ["age"], k=2, target="bad", l=2)
    >>> result.k, result.l, result.is_anonymous
    (2, 2.0, True)
    """
    columns = [*quasi_identifiers, *([target] if target is not None else [])]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        msg = f"The table has no column {names}."
        raise AnonymizationDataError(msg)
    keys = list(quasi_identifiers)
    data = frame.select(columns)
    if not keys:  # one class: the whole table (a frame of no columns has no rows)
        data = frame.with_columns(pl.lit(0).alias(_ONE)).select([_ONE, *columns])
        keys = [_ONE]
    aggs = [pl.len().alias(_SIZE)]
    if target is not None:
        aggs.append(pl.col(target).n_unique().alias(_DISTINCT))
    groups = data.group_by(keys).agg(aggs)
    if target is not None and diversity == "entropy":
        p = pl.col(_SIZE) / pl.col(_SIZE).sum()
        entropy = (
            data.group_by([*keys, target]).agg(pl.len().alias(_SIZE))
            .group_by(keys).agg((-(p * p.log())).sum().alias(_ENTROPY))
        )
        groups = groups.join(entropy, on=keys, nulls_equal=True)
    sizes = groups[_SIZE].cast(pl.Int64)
    below_k = sizes < k
    diversity_col: pl.Series | None = None
    if target is not None:
        diversity_col = (groups[_ENTROPY].exp() if diversity == "entropy"
                         else groups[_DISTINCT].cast(pl.Float64))
    below_l = (diversity_col < l - 1e-9) if diversity_col is not None else below_k & False
    n_classes = groups.height
    return AnonymityCheck(
        rows=frame.height,
        classes=n_classes,
        k=int(sizes.min()) if n_classes else None,  # type: ignore[arg-type]
        l=_least(diversity_col) if n_classes else None,
        k_required=k,
        l_required=l,
        classes_below_k=int(below_k.sum()),
        rows_below_k=int(sizes.filter(below_k).sum()),
        classes_below_l=int(below_l.sum()),
        rows_below_l=int(sizes.filter(below_l).sum()),
        class_sizes=tuple(sorted(sizes.to_list())),
    )


def _least(values: pl.Series | None) -> float | None:
    if values is None:
        return None
    least = values.min()
    # Rounded: polars sums a group's entropy terms in no fixed order, so the last bits vary.
    return None if least is None else round(float(least), 10)  # type: ignore[arg-type]

