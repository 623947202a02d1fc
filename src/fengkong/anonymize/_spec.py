"""The anonymisation config: which columns are quasi-identifiers, how each generalises, what to meet.

Frozen pydantic models, loaded from YAML by :func:`fengkong.anonymize.load_anonymization_spec`.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

#: The label every quasi-identifier has at the top of its hierarchy.
TOP = "*"

#: Largest generalisation lattice searched (the product of the levels of every
#: quasi-identifier); a config beyond it is refused rather than left to run for hours.
MAX_LATTICE_NODES = 1_000_000

DatePeriod = Literal["month", "quarter", "year"]
_DATE_ORDER: dict[str, int] = {"month": 0, "quarter": 1, "year": 2}

# Widths are compared as ratios; anything closer to an integer than this is one.
_RATIO_TOLERANCE = 1e-9


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BandsSpec(_Spec):
    """Numeric bands: each level cuts the number line more coarsely; the top is ``*``.

    Give either ``widths`` (equal bands, each width a whole multiple of the one
    before, all starting from ``origin``) or ``cuts`` (explicit cut points per
    level, each level's cuts a subset of the level before's), so that every band
    of a level lies inside one band of the next.

    Examples
    --------
    >>> BandsSpec(type="bands", widths=[5, 10, 20]).level_names()
    ('as is', 'bands of 5', 'bands of 10', 'bands of 20', '*')
    >>> BandsSpec(type="bands", cuts=[[3000, 5000, 8000], [5000]]).level_count
    4
    """

    type: Literal["bands"]
    widths: tuple[Annotated[float, Field(gt=0, allow_inf_nan=False)], ...] | None = Field(
        None, min_length=1, description="Band width of each level, finest first.")
    origin: float = Field(0.0, allow_inf_nan=False, description="Where the equal bands start.")
    cuts: tuple[tuple[Annotated[float, Field(allow_inf_nan=False)], ...], ...] | None = Field(
        None, min_length=1, description="Cut points of each level, finest first.")
    names: tuple[str, ...] | None = Field(None, description="A name for each declared level.")

    @field_validator("widths")
    @classmethod
    def _widths_nest(cls, widths: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if widths is None:
            return None
        for i, (finer, coarser) in enumerate(itertools.pairwise(widths)):
            ratio = coarser / finer
            if ratio < 2 - _RATIO_TOLERANCE or abs(ratio - round(ratio)) > _RATIO_TOLERANCE:
                msg = (f"`widths[{i + 1}]` must be a whole multiple (2 or more times) of `widths[{i}]`, "
                       "so that every band lies inside one band of the next level")
                raise ValueError(msg)
        return widths

    @field_validator("cuts")
    @classmethod
    def _cuts_nest(
        cls, cuts: tuple[tuple[float, ...], ...] | None
    ) -> tuple[tuple[float, ...], ...] | None:
        if cuts is None:
            return None
        for i, level in enumerate(cuts):
            if not level:
                msg = f"`cuts[{i}]` is empty; a level needs at least one cut point (the top `*` is added)"
                raise ValueError(msg)
            if any(b <= a for a, b in itertools.pairwise(level)):
                msg = f"`cuts[{i}]` must be strictly increasing"
                raise ValueError(msg)
            if i and not (set(level) < set(cuts[i - 1])):
                msg = (f"`cuts[{i}]` must be a proper subset of `cuts[{i - 1}]`, so that every band "
                       "lies inside one band of the next level")
                raise ValueError(msg)
        return cuts

    @model_validator(mode="after")
    def _one_kind(self) -> BandsSpec:
        if (self.widths is None) == (self.cuts is None):
            msg = "Give either `widths` or `cuts` (one of them, not both)"
            raise ValueError(msg)
        _check_names(self.names, len(self.widths or self.cuts or ()))
        return self

    @property
    def level_count(self) -> int:
        """Levels in the hierarchy: as-is, each declared level, and ``*``."""
        return len(self.widths or self.cuts or ()) + 2

    def level_names(self) -> tuple[str, ...]:
        """A readable name for each level, ``"as is"`` first and ``"*"`` last."""
        if self.names is not None:
            declared = self.names
        elif self.widths is not None:
            declared = tuple(f"bands of {_number(w)}" for w in self.widths)
        else:
            declared = tuple(f"{len(c) + 1} bands" for c in self.cuts or ())
        return ("as is", *declared, TOP)


class CategoricalSpec(_Spec):
    """Categories mapped upwards level by level (e.g. province → region), then ``*``.

    ``levels[0]`` maps every raw value to its level-1 group, ``levels[1]`` maps
    every level-1 group to its level-2 group, and so on. A last level that maps
    everything to one value is the top itself. In a YAML config, ``file: x.csv``
    may stand for ``levels``: a CSV file whose first column holds the raw values
    and each further column the next level (its header names the levels).

    Examples
    --------
    >>> spec = CategoricalSpec(type="categorical",
    ...                        levels=[{"GD": "South", "BJ": "North", "SH": "East"}])
    >>> spec.level_names()
    ('as is', 'level 1', '*')
    """

    type: Literal["categorical"]
    levels: tuple[dict[str, str], ...] = Field(
        min_length=1, description="Mapping of each level's values to the next level's.")
    names: tuple[str, ...] | None = Field(None, description="A name for each declared level.")

    @field_validator("levels")
    @classmethod
    def _levels_cover(cls, levels: tuple[dict[str, str], ...]) -> tuple[dict[str, str], ...]:
        for i, level in enumerate(levels):
            if not level:
                msg = f"`levels[{i}]` is empty"
                raise ValueError(msg)
            if i:
                missing = sorted(set(levels[i - 1].values()) - set(level))
                if missing:
                    shown = ", ".join(f"`{m}`" for m in missing[:5])
                    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                    msg = f"`levels[{i}]` has no entry for {shown}{more} (values of `levels[{i - 1}]`)"
                    raise ValueError(msg)
        return levels

    @model_validator(mode="after")
    def _names_fit(self) -> CategoricalSpec:
        _check_names(self.names, len(self.levels))
        return self

    @property
    def top_is_declared(self) -> bool:
        """Whether the last declared level already maps everything to one value."""
        return len(set(self.levels[-1].values())) == 1

    @property
    def level_count(self) -> int:
        """Levels in the hierarchy: as-is, each declared level, and the top."""
        return len(self.levels) + (1 if self.top_is_declared else 2)

    @property
    def top_label(self) -> str:
        """The label of the top level: the declared single value, or ``*``."""
        return next(iter(self.levels[-1].values())) if self.top_is_declared else TOP

    def level_names(self) -> tuple[str, ...]:
        """A readable name for each level, ``"as is"`` first and the top last."""
        declared = self.names or tuple(f"level {i + 1}" for i in range(len(self.levels)))
        if self.top_is_declared:
            return ("as is", *declared[:-1], self.top_label)
        return ("as is", *declared, TOP)


class DateSpec(_Spec):
    """Dates generalised to calendar periods: day (as is) → month → quarter → year → ``*``.

    Examples
    --------
    >>> DateSpec(type="date").level_names()
    ('as is', 'month', 'year', '*')
    """

    type: Literal["date"]
    levels: tuple[DatePeriod, ...] = Field(
        ("month", "year"), min_length=1, description="Calendar periods, finest first.")

    @field_validator("levels")
    @classmethod
    def _periods_increase(cls, levels: tuple[DatePeriod, ...]) -> tuple[DatePeriod, ...]:
        ranks = [_DATE_ORDER[p] for p in levels]
        if any(b <= a for a, b in itertools.pairwise(ranks)):
            msg = "`levels` must go from finer to coarser periods (month, quarter, year), each once"
            raise ValueError(msg)
        return levels

    @property
    def level_count(self) -> int:
        """Levels in the hierarchy: as-is, each period, and ``*``."""
        return len(self.levels) + 2

    def level_names(self) -> tuple[str, ...]:
        """A readable name for each level, ``"as is"`` first and ``"*"`` last."""
        return ("as is", *self.levels, TOP)


HierarchySpec = Annotated[BandsSpec | CategoricalSpec | DateSpec, Field(discriminator="type")]

#: The ``type`` values of the hierarchies (they appear in pydantic's error locations).
HIERARCHY_TYPES = ("bands", "categorical", "date")


class AnonymizationSpec(_Spec):
    """What to export and how anonymous it must be.

    Parameters
    ----------
    quasi_identifiers
        Column name → its generalisation hierarchy.
    target
        The sensitive column (e.g. the outcome ``bad``) whose values every
        equivalence class must mix: ℓ-diversity. ``None`` checks k-anonymity only.
    k
        Every exported equivalence class has at least ``k`` rows.
    l
        Every exported equivalence class has at least ``l`` distinct target values
        (``diversity: distinct``), or a target entropy of at least ``ln(l)``
        (``diversity: entropy``).
    diversity
        ``"distinct"`` or ``"entropy"`` ℓ-diversity.
    max_suppression
        Largest share of rows (0 to 1) that may be left out of the export.
    identifiers
        Direct identifiers (ID number, phone, name, ...): never exported.
    keep
        Further columns exported as they are (e.g. model features).

    Only the quasi-identifiers, the target and ``keep`` are exported; every other
    column, ``identifiers`` included, is left out.

    Examples
    --------
    >>> spec = AnonymizationSpec(
    ...     quasi_identifiers={"age": {"type": "bands", "widths": [10]}}, target="bad")
    >>> spec.k, spec.l, spec.max_suppression
    (5, 2, 0.05)
    """

    quasi_identifiers: dict[str, HierarchySpec] = Field(
        min_length=1, description="Column → generalisation hierarchy.")
    target: str | None = Field(None, description="Sensitive column for ℓ-diversity.")
    k: int = Field(5, ge=1, description="Smallest equivalence class allowed.")
    l: int = Field(2, ge=1, description="ℓ of ℓ-diversity of the target.")  # noqa: E741
    diversity: Literal["distinct", "entropy"] = "distinct"
    max_suppression: float = Field(0.05, ge=0, le=1, description="Share of rows that may be dropped.")
    identifiers: tuple[str, ...] = Field((), description="Direct identifiers: never exported.")
    keep: tuple[str, ...] = Field((), description="Columns exported unchanged.")
    description: str | None = None

    @field_validator("quasi_identifiers")
    @classmethod
    def _lattice_fits(cls, qis: dict[str, HierarchySpec]) -> dict[str, HierarchySpec]:
        nodes = math.prod(h.level_count for h in qis.values())
        if nodes > MAX_LATTICE_NODES:
            msg = (f"The generalisation lattice has {nodes:,} nodes (the product of every "
                   f"quasi-identifier's levels); at most {MAX_LATTICE_NODES:,} are searched. "
                   "Use fewer levels or fewer quasi-identifiers")
            raise ValueError(msg)
        return qis

    @field_validator("target", "identifiers", "keep")
    @classmethod
    def _one_role_per_column(
        cls, value: str | tuple[str, ...] | None, info: ValidationInfo
    ) -> str | tuple[str, ...] | None:
        # Fields are validated in declaration order, so `info.data` holds the earlier roles.
        earlier: dict[str, str] = dict.fromkeys(info.data.get("quasi_identifiers", {}), "quasi_identifiers")
        if info.data.get("target") is not None:
            earlier[info.data["target"]] = "target"
        for role in ("identifiers", "keep"):
            earlier.update(dict.fromkeys(info.data.get(role, ()), role))
        columns = (value,) if isinstance(value, str) else (value or ())
        seen: set[str] = set()
        for column in columns:
            if column in seen:
                msg = f"Column `{column}` is listed twice"
                raise ValueError(msg)
            seen.add(column)
            if column in earlier:
                msg = f"Column `{column}` is also in {earlier[column]}; a column has one role"
                raise ValueError(msg)
        return value

    @property
    def lattice_size(self) -> int:
        """Nodes of the full-domain generalisation lattice."""
        return math.prod(h.level_count for h in self.quasi_identifiers.values())


def _check_names(names: tuple[str, ...] | None, declared: int) -> None:
    if names is not None and len(names) != declared:
        msg = f"`names` has {len(names)} entries; give one per declared level ({declared})"
        raise ValueError(msg)


def _number(value: float) -> str:
    """``5.0`` → ``"5"``, ``0.25`` → ``"0.25"``: how band edges are written."""
    value = round(value, 10) + 0.0  # + 0.0 turns -0.0 into 0.0
    return str(int(value)) if value.is_integer() else format(value, ".15g")
