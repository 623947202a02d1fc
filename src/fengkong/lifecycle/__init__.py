"""The credit lifecycle beyond origination: account management, collections, acquisition,
back-testing and monitoring — each an ordinary strategy plus the batch job, data model and
report its stage needs."""

from fengkong.lifecycle._acquisition import OfferEconomics, Prescreen, prescreen
from fengkong.lifecycle._aging import age_book, window_features
from fengkong.lifecycle._book import (
    BUCKETS,
    PRODUCTS,
    SEGMENTS,
    Book,
    bucket_expr,
    prospects,
    synthetic_book,
)
from fengkong.lifecycle._collections import (
    DEFAULT_TREATMENTS,
    Treatment,
    WorkList,
    flow_rates,
    plan_worklist,
    roll_rate_matrix,
    transitions,
    vintage_curves,
)
from fengkong.lifecycle._collections_report import collections_report
from fengkong.lifecycle._contact import GUARD_RULES, ContactPolicy, GuardResult, guard_contacts
from fengkong.lifecycle._monitor import (
    LiveStability,
    MonitorReport,
    decision_rates,
    early_performance,
    feature_stability,
    live_stability,
    load_decisions,
    monitor,
    rule_hit_rates,
    score_reference,
    score_stability,
)
from fengkong.lifecycle._ptp import apply_outcomes, escalation_counts, evaluate_promises, kept_rate
from fengkong.lifecycle._review import (
    ReviewConfig,
    ReviewResult,
    ReviewRun,
    behaviour_features,
    review,
    review_to_files,
)
from fengkong.lifecycle._simulate import Calibration, Economics, Simulation, simulate
from fengkong.lifecycle._simulate_report import write_simulation

__all__ = [
    "BUCKETS",
    "DEFAULT_TREATMENTS",
    "GUARD_RULES",
    "PRODUCTS",
    "SEGMENTS",
    "Book",
    "Calibration",
    "ContactPolicy",
    "Economics",
    "GuardResult",
    "LiveStability",
    "MonitorReport",
    "OfferEconomics",
    "Prescreen",
    "ReviewConfig",
    "ReviewResult",
    "ReviewRun",
    "Simulation",
    "Treatment",
    "WorkList",
    "age_book",
    "apply_outcomes",
    "behaviour_features",
    "bucket_expr",
    "collections_report",
    "decision_rates",
    "early_performance",
    "escalation_counts",
    "evaluate_promises",
    "feature_stability",
    "flow_rates",
    "guard_contacts",
    "kept_rate",
    "live_stability",
    "load_decisions",
    "monitor",
    "plan_worklist",
    "prescreen",
    "prospects",
    "review",
    "review_to_files",
    "roll_rate_matrix",
    "rule_hit_rates",
    "score_reference",
    "score_stability",
    "simulate",
    "synthetic_book",
    "transitions",
    "vintage_curves",
    "window_features",
    "write_simulation",
]
