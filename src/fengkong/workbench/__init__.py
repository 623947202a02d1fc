"""The model workbench: binning, scorecards, gradient-boosted models, metrics and reports.

Turns a table of historical applications with outcomes into the scorecards and models that
strategies run (scikit-learn conventions: fit / transform / predict, fitted attributes end
in ``_``), and exports them as strategy components the engine scores exactly as fitted.

Members load on first use: importing one metric does not load scikit-learn,
LightGBM or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fengkong.workbench._binning import (
        Binner,
    )
    from fengkong.workbench._datasets import (
        synthetic_credit,
    )
    from fengkong.workbench._fairness import (
        FairnessReport,
        disparate_impact,
        fairness_report,
        score_distribution_by_group,
    )
    from fengkong.workbench._gbm import (
        GBMExport,
        GBMModel,
        monotone_from_trends,
    )
    from fengkong.workbench._metrics import (
        KS,
        HosmerLemeshow,
        Sample,
        auc,
        bad_rate_by_band,
        brier_score,
        calibration_table,
        csi,
        evaluate,
        evaluate_samples,
        gains_table,
        gini,
        hosmer_lemeshow,
        ks,
        ks_curve,
        lift_table,
        psi,
        psi_interpretation,
        psi_table,
        roc_curve,
    )
    from fengkong.workbench._reject import (
        AugmentedData,
        fuzzy_augmentation,
        parcelling,
    )
    from fengkong.workbench._report import (
        ModelReport,
    )
    from fengkong.workbench._scorecard import (
        Scorecard,
    )
    from fengkong.workbench._segments import (
        SegmentedScorecard,
    )
    from fengkong.workbench._selection import (
        Selector,
        information_value,
        vif,
    )
    from fengkong.workbench._summary import (
        BinSummary,
        merge_summaries,
    )
    from fengkong.workbench._train import (
        ExportCheckError,
        TrainingInputError,
        TrainResult,
        train,
    )

_WHERE: dict[str, str] = {
    "auc": "fengkong.workbench._metrics",
    "AugmentedData": "fengkong.workbench._reject",
    "bad_rate_by_band": "fengkong.workbench._metrics",
    "Binner": "fengkong.workbench._binning",
    "BinSummary": "fengkong.workbench._summary",
    "brier_score": "fengkong.workbench._metrics",
    "calibration_table": "fengkong.workbench._metrics",
    "csi": "fengkong.workbench._metrics",
    "disparate_impact": "fengkong.workbench._fairness",
    "evaluate": "fengkong.workbench._metrics",
    "evaluate_samples": "fengkong.workbench._metrics",
    "ExportCheckError": "fengkong.workbench._train",
    "fairness_report": "fengkong.workbench._fairness",
    "FairnessReport": "fengkong.workbench._fairness",
    "fuzzy_augmentation": "fengkong.workbench._reject",
    "gains_table": "fengkong.workbench._metrics",
    "GBMExport": "fengkong.workbench._gbm",
    "GBMModel": "fengkong.workbench._gbm",
    "gini": "fengkong.workbench._metrics",
    "hosmer_lemeshow": "fengkong.workbench._metrics",
    "HosmerLemeshow": "fengkong.workbench._metrics",
    "information_value": "fengkong.workbench._selection",
    "KS": "fengkong.workbench._metrics",
    "ks": "fengkong.workbench._metrics",
    "ks_curve": "fengkong.workbench._metrics",
    "lift_table": "fengkong.workbench._metrics",
    "merge_summaries": "fengkong.workbench._summary",
    "ModelReport": "fengkong.workbench._report",
    "monotone_from_trends": "fengkong.workbench._gbm",
    "parcelling": "fengkong.workbench._reject",
    "psi": "fengkong.workbench._metrics",
    "psi_interpretation": "fengkong.workbench._metrics",
    "psi_table": "fengkong.workbench._metrics",
    "roc_curve": "fengkong.workbench._metrics",
    "Sample": "fengkong.workbench._metrics",
    "score_distribution_by_group": "fengkong.workbench._fairness",
    "Scorecard": "fengkong.workbench._scorecard",
    "SegmentedScorecard": "fengkong.workbench._segments",
    "Selector": "fengkong.workbench._selection",
    "synthetic_credit": "fengkong.workbench._datasets",
    "train": "fengkong.workbench._train",
    "TrainingInputError": "fengkong.workbench._train",
    "TrainResult": "fengkong.workbench._train",
    "vif": "fengkong.workbench._selection",
}

__all__ = [
    "KS",
    "AugmentedData",
    "BinSummary",
    "Binner",
    "ExportCheckError",
    "FairnessReport",
    "GBMExport",
    "GBMModel",
    "HosmerLemeshow",
    "ModelReport",
    "Sample",
    "Scorecard",
    "SegmentedScorecard",
    "Selector",
    "TrainResult",
    "TrainingInputError",
    "auc",
    "bad_rate_by_band",
    "brier_score",
    "calibration_table",
    "csi",
    "disparate_impact",
    "evaluate",
    "evaluate_samples",
    "fairness_report",
    "fuzzy_augmentation",
    "gains_table",
    "gini",
    "hosmer_lemeshow",
    "information_value",
    "ks",
    "ks_curve",
    "lift_table",
    "merge_summaries",
    "monotone_from_trends",
    "parcelling",
    "psi",
    "psi_interpretation",
    "psi_table",
    "roc_curve",
    "score_distribution_by_group",
    "synthetic_credit",
    "train",
    "vif",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
