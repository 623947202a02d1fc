"""Binner and Scorecard follow scikit-learn's estimator conventions (its own checks).

A Binner bins against a *binary* target (1 = bad, 0 = good) and refuses a target with more
than two values. Fifteen of scikit-learn's generic checks fit transformers on a 3- or
4-class target; they are expected to fail on ``Binner`` for that reason only, and are run
again, all of them, on ``_BinaryTargetBinner`` — the same estimator behind an adapter that
turns the target into ``y == max(y)`` — so that what they check (fit returns self,
parameters untouched, sample-weight equivalence, dtypes, memmaps, invariances...) is still
checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from fengkong.workbench import Binner, Scorecard

_MULTICLASS = ("fits on a 3- or 4-class target; a Binner needs a binary target (run on "
               "_BinaryTargetBinner instead)")
BINNER_EXPECTED_FAILED: dict[str, str] = dict.fromkeys([
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_sample_weights_list",
    "check_sample_weight_equivalence_on_dense_data", "check_dtype_object",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_dict_unchanged", "check_fit2d_predict1d",
], _MULTICLASS)


class _BinaryTargetBinner(Binner):
    """Test adapter: a multi-class target becomes ``y == max(y)`` before binning."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BinaryTargetBinner:
        if y is not None:
            arr = np.asarray(y)
            if arr.dtype.kind in "iuf" and np.unique(arr).size > 2:
                y = (arr == arr.max()).astype(int)
        super().fit(X, y, sample_weight)
        return self


def _expected(estimator: Any) -> dict[str, str]:
    if type(estimator) is Binner:
        return BINNER_EXPECTED_FAILED
    return {}


@parametrize_with_checks([Binner(min_bads=1.0), _BinaryTargetBinner(min_bads=1.0),
                          Scorecard(Binner(min_bads=1.0))],
                         expected_failed_checks=_expected)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
