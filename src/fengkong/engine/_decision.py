"""The decision record returned for one evaluated record."""

from __future__ import annotations

import datetime as dt
from typing import Any

# Output columns grouped by prefix ("score." -> ((suffix, index), ...)), per columns tuple:
# a decision's groups are then read by index instead of scanning every column name.
_Layout = dict[str, tuple[tuple[str, int], ...]]
_LAYOUTS: dict[int, tuple[tuple[str, ...], _Layout]] = {}


def _layout(columns: tuple[str, ...]) -> _Layout:
    hit = _LAYOUTS.get(id(columns))
    if hit is not None and hit[0] is columns:
        return hit[1]
    groups: dict[str, list[tuple[str, int]]] = {}
    for i, c in enumerate(columns):
        head, sep, rest = c.partition(".")
        if sep:
            groups.setdefault(head + ".", []).append((rest, i))
    layout = {k: tuple(v) for k, v in groups.items()}
    if len(_LAYOUTS) > 1024:
        _LAYOUTS.clear()
    _LAYOUTS[id(columns)] = (columns, layout)
    return layout


class Decision:
    """Everything a decision was made from and what it gave.

    A thin view over the output tuple of the online backend; the same names are the
    columns of :func:`~fengkong.engine.evaluate_batch`'s table.
    """

    __slots__ = ("_columns", "_index", "_values")

    def __init__(self, columns: tuple[str, ...], index: dict[str, int], values: tuple[Any, ...]) -> None:
        self._columns = columns
        self._index = index
        self._values = values

    def __getitem__(self, column: str) -> Any:
        """The value of one output column, e.g. ``d["score.score"]``."""
        return self._values[self._index[column]]

    def _group(self, prefix: str) -> dict[str, Any]:
        values = self._values
        return {suffix: values[i] for suffix, i in _layout(self._columns).get(prefix, ())}

    @property
    def decision(self) -> str:
        """``approve``, ``decline`` or ``refer``."""
        return self["decision"]  # type: ignore[no-any-return]

    @property
    def segment(self) -> str:
        """The customer segment the record was routed to."""
        return self["segment"]  # type: ignore[no-any-return]

    @property
    def limit(self) -> float | None:
        """The credit limit (null when declined)."""
        return self["limit"]  # type: ignore[no-any-return]

    @property
    def apr(self) -> float | None:
        """The annual percentage rate (null when declined)."""
        return self["apr"]  # type: ignore[no-any-return]

    @property
    def term(self) -> float | int | None:
        """The term (null when declined)."""
        return self["term"]  # type: ignore[no-any-return]

    @property
    def reasons(self) -> list[str]:
        """Up to four reason codes, most decisive first."""
        return self["reasons"]  # type: ignore[no-any-return]

    @property
    def rule_hits(self) -> list[str]:
        """Ids of the rules that fired, in strategy order."""
        return self["rule_hits"]  # type: ignore[no-any-return]

    @property
    def experiments(self) -> dict[str, str | None]:
        """Experiment id -> arm (null when the record was not in the experiment)."""
        return self._group("experiment.")

    @property
    def scores(self) -> dict[str, float | None]:
        """Scorecard or model slot -> score (a model's probability or raw score)."""
        return self._group("score.")

    @property
    def components(self) -> dict[str, str | None]:
        """Slot -> the scorecard or table that ran in it."""
        return self._group("component.")

    @property
    def points(self) -> dict[str, dict[str, float]]:
        """Scorecard -> characteristic -> points, for the scorecards that ran."""
        out: dict[str, dict[str, float]] = {}
        for key, value in self._group("points.").items():
            card, char = key.split(".", 1)
            if value is not None:
                out.setdefault(card, {})[char] = value
        return out

    @property
    def contributions(self) -> dict[str, dict[str, float]]:
        """Model -> feature -> contribution to the raw score, for the models that ran."""
        out: dict[str, dict[str, float]] = {}
        for key, value in self._group("contrib.").items():
            model, feature = key.split(".", 1)
            if value is not None:
                out.setdefault(model, {})[feature] = value
        return out

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        """Table slot -> the matched row (0-based) and its outputs."""
        out: dict[str, dict[str, Any]] = {}
        for key, value in self._group("table.").items():
            slot, name = key.split(".", 1)
            out.setdefault(slot, {})[name] = value
        return out

    @property
    def features(self) -> dict[str, Any]:
        """Feature name -> value used."""
        return self._group("feature.")

    @property
    def strategy(self) -> dict[str, str]:
        """Strategy id, version and digest."""
        return {"id": self["strategy_id"], "version": self["strategy_version"],
                "digest": self["strategy_digest"]}

    @property
    def evaluated_at(self) -> dt.datetime:
        """When the decision was made (UTC)."""
        return self["evaluated_at"]  # type: ignore[no-any-return]

    def to_row(self) -> dict[str, Any]:
        """The flat record: one key per output column, as in the batch table."""
        return dict(zip(self._columns, self._values, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """A nested, JSON-ready view for APIs and explanations."""
        return {
            "decision": self.decision, "segment": self.segment, "limit": self.limit,
            "apr": self.apr, "term": self.term, "reasons": self.reasons,
            "rule_hits": self.rule_hits, "experiments": self.experiments, "scores": self.scores,
            "components": self.components, "points": self.points,
            "contributions": self.contributions, "tables": self.tables,
            "features": self.features, "strategy": self.strategy,
            "evaluated_at": self.evaluated_at.isoformat(),
        }

    def __repr__(self) -> str:
        return (f"Decision(decision={self.decision!r}, segment={self.segment!r}, "
                f"limit={self.limit!r}, apr={self.apr!r}, reasons={self.reasons!r})")
