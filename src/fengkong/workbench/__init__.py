"""The model workbench: binning, scorecards, gradient-boosted models, metrics and reports.

Turns a table of historical applications with outcomes into the scorecards and models that
strategies run (scikit-learn conventions: fit / transform / predict, fitted attributes end
in ``_``), and exports them as strategy components the engine scores exactly as fitted.
"""

from fengkong.workbench._binning import Binner
from fengkong.workbench._datasets import synthetic_credit
from fengkong.workbench._fairness import (
    FairnessReport,
    disparate_impact,
    fairness_report,
    score_distribution_by_group,
)
from fengkong.workbench._gbm import GBMExport, GBMModel, monotone_from_trends
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
from fengkong.workbench._reject import AugmentedData, fuzzy_augmentation, parcelling
from fengkong.workbench._report import ModelReport
from fengkong.workbench._scorecard import Scorecard
from fengkong.workbench._segments import SegmentedScorecard
from fengkong.workbench._selection import Selector, information_value, vif
from fengkong.workbench._summary import BinSummary, merge_summaries
from fengkong.workbench._train import ExportCheckError, TrainingInputError, TrainResult, train

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
