"""One scorecard per customer segment, exported as a strategy that routes each segment.

``SegmentedScorecard(segment_by="channel").fit(X, y)`` fits a clone of the template
:class:`Scorecard` on each segment with at least ``min_segment_size`` records, and a
fallback card on all records for the rest (small and unseen segments).
:meth:`SegmentedScorecard.export_strategy` writes ``strategy.yaml`` (inputs, one
``segments:`` entry per segment binding the ``score`` slot to its card, the fallback as
the base ``use:``) and ``scorecards/<card>.yaml``; ``fengkong validate`` accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from fengkong.workbench._export import field_name, identifier, write_document
from fengkong.workbench._scorecard import Scorecard
from fengkong.workbench._summary import FloatArray


def _frame(X: Any) -> pl.DataFrame:
    if isinstance(X, pl.DataFrame):
        return X
    if type(X).__module__.startswith("pandas"):
        return pl.DataFrame({str(c): X[c].to_numpy() for c in X.columns})
    msg = "SegmentedScorecard needs a Polars (or pandas) DataFrame with the segment column."
    raise TypeError(msg)


class SegmentedScorecard(BaseEstimator):  # type: ignore[misc]
    """One :class:`Scorecard` per value of ``segment_by``, plus a fallback card.

    Parameters
    ----------
    scorecard
        Template card (cloned per segment; default ``Scorecard()``).
    segment_by
        The segment column (text or whole numbers); it is not a characteristic.
    min_segment_size
        Segments with fewer records (or with only goods or only bads) use the fallback.
    """

    def __init__(self, scorecard: Scorecard | None = None, *, segment_by: str = "segment",
                 min_segment_size: int = 500) -> None:
        self.scorecard = scorecard
        self.segment_by = segment_by
        self.min_segment_size = min_segment_size

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SegmentedScorecard:
        """Fit the fallback card on all records and one card per large enough segment."""
        frame = _frame(X)
        seg = frame.get_column(self.segment_by).cast(pl.String)
        data = frame.drop(self.segment_by)
        yy = np.asarray(y.to_numpy() if isinstance(y, pl.Series) else y).ravel()
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        template = Scorecard() if self.scorecard is None else self.scorecard
        self.fallback_: Scorecard = clone(template).fit(data, yy, w)
        self.scorecards_: dict[str, Scorecard] = {}
        self.sizes_: dict[str, int] = {}
        values = seg.to_numpy()
        for value in sorted(v for v in seg.unique().to_list() if v is not None):
            mask = values == value
            self.sizes_[value] = int(mask.sum())
            if mask.sum() < self.min_segment_size or np.unique(yy[mask]).size < 2:
                continue
            self.scorecards_[value] = clone(template).fit(
                data.filter(pl.Series(mask)), yy[mask], None if w is None else w[mask])
        return self

    def _route(self, X: Any) -> tuple[pl.DataFrame, np.ndarray[Any, Any]]:
        check_is_fitted(self, "fallback_")
        frame = _frame(X)
        return frame.drop(self.segment_by), frame.get_column(self.segment_by).cast(
            pl.String).to_numpy()

    def predict_score(self, X: Any) -> FloatArray:
        """Each record scored by its segment's card (the fallback for the others)."""
        data, seg = self._route(X)
        out = self.fallback_.predict_score(data)
        for value, card in self.scorecards_.items():
            mask = seg == value
            if mask.any():
                out[mask] = card.predict_score(data.filter(pl.Series(mask)))
        return out

    def predict_proba(self, X: Any) -> FloatArray:
        """(P(good), P(bad)) per record from its segment's card."""
        data, seg = self._route(X)
        out = self.fallback_.predict_proba(data)
        for value, card in self.scorecards_.items():
            mask = seg == value
            if mask.any():
                out[mask] = card.predict_proba(data.filter(pl.Series(mask)))
        return out

    def card_names(self) -> dict[str, str]:
        """Segment value -> scorecard component name (``score_<segment>``)."""
        check_is_fitted(self, "fallback_")
        names: dict[str, str] = {}
        used = {"score_all"}
        for value in self.scorecards_:
            name = identifier(f"score_{value}")
            while name in used:
                name = f"{name[:60]}_{len(used)}"
            used.add(name)
            names[value] = name
        return names

    def strategy_document(self, *, strategy: str = "segmented_scorecards",
                          version: int | str = 1, slot: str = "score",
                          inputs: Mapping[str, Mapping[str, Any]] | None = None,
                          reasons: Mapping[str, str] | None = None,
                          expressions: Mapping[str, str] | None = None,
                          reason_texts: Mapping[str, Mapping[str, str]] | None = None,
                          ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(strategy document, card name -> scorecard document) for :meth:`export_strategy`."""
        names = self.card_names()
        cards: dict[str, dict[str, Any]] = {
            "score_all": self.fallback_.to_component(name="score_all", reasons=reasons,
                                                     expressions=expressions)}
        for value, card in self.scorecards_.items():
            cards[names[value]] = card.to_component(name=names[value], reasons=reasons,
                                                    expressions=expressions)
        fields: dict[str, dict[str, Any]] = {}
        for card in [self.fallback_, *self.scorecards_.values()]:
            for key, spec in card.input_fields().items():
                if key in fields and fields[key]["type"] != spec["type"]:
                    fields[key] = {"type": "float", "required": False}
                else:
                    fields.setdefault(key, dict(spec))
        seg_field = field_name(self.segment_by)
        fields[seg_field] = {"type": "str", "required": False}
        for key, given in (inputs or {}).items():
            fields[key] = dict(given)
        segments: list[dict[str, Any]] = []
        used: set[str] = set()
        for value, card_name in names.items():
            seg_name = identifier(f"segment_{value}")
            while seg_name in used:
                seg_name = f"{seg_name[:60]}_{len(used)}"
            used.add(seg_name)
            if "'" in value:
                msg = f"Segment value {value!r} holds a quote; rename it before export."
                raise ValueError(msg)
            segments.append({"name": seg_name, "when": f"{seg_field} == '{value}'",
                             "use": {slot: card_name}})
        segments.append({"name": "other_segments"})
        texts: dict[str, dict[str, str]] = {}
        for card_doc in cards.values():
            for ch in card_doc["characteristics"]:
                texts.setdefault(ch["reason"], {
                    "en": f"Your {ch['name'].replace('_', ' ')} lowered the score.",
                    "zh": f"{ch['name']} 一项评分较低。"})
        for code, text in (reason_texts or {}).items():
            texts[code] = dict(text)
        doc: dict[str, Any] = {
            "schema_version": 1, "strategy": identifier(strategy), "version": version,
            "stage": "origination",
            "description": f"Scorecards per {self.segment_by}, fitted by fengkong.workbench.",
            "inputs": fields,
            "scorecards": {name: {"file": f"scorecards/{name}.yaml"} for name in cards},
            "use": {slot: "score_all"},
            "segments": segments,
            "reasons": texts,
        }
        return doc, cards

    def export_strategy(self, folder: str | Path, **kwargs: Any) -> Path:
        """Write ``strategy.yaml`` and ``scorecards/*.yaml`` into ``folder``; the strategy path.

        Keyword arguments go to :meth:`strategy_document`.
        """
        out = Path(folder)
        doc, cards = self.strategy_document(**kwargs)
        for name, card in cards.items():
            write_document(card, out / "scorecards" / f"{name}.yaml")
        path = out / "strategy.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
                        encoding="utf-8")
        return path
