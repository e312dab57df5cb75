"""Released text is ours: a library's error message never reaches a released table."""

from __future__ import annotations

import logging

import numpy as np
import statsmodels.api as sm

from evaluation.analysis.guard import (NOT_CONVERGED, SINGULAR, TOO_FEW, attempt, released_reason)
from evaluation.spells.censoring import window_columns

KEYS = dict(outcome="time_in_care", analysis="cox_unadjusted", cohort="931")
LIBRARY_TEXT = "first guess on the deviance function returned a nan"


def _library_failure():
    raise ValueError(LIBRARY_TEXT + "; this could be a boundary problem and should be reported")


def test_a_library_message_is_replaced_by_plain_words_and_logged(caplog):
    with caplog.at_level(logging.INFO, logger="evaluation.analysis.guard"):
        row = attempt(_library_failure, **KEYS)
    assert row["method"].tolist() == [NOT_CONVERGED]
    assert LIBRARY_TEXT in caplog.text  # kept for the analyst, in the log only
    assert row["estimate"].isna().all()


def test_a_singular_matrix_from_numpy_is_named_plainly():
    row = attempt(lambda: np.linalg.inv(np.zeros((2, 2))), **KEYS)
    assert row["method"].tolist() == [SINGULAR]
    assert "Singular matrix" not in row["method"].iloc[0]


def test_a_statsmodels_failure_is_not_released_verbatim():
    def fit():
        y = np.array([0.0, 1.0, 2.0])
        x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        return sm.GLM(y, x[:, :0], family=sm.families.Poisson()).fit()  # no columns at all

    row = attempt(fit, **KEYS)
    assert row["method"].iloc[0] in {NOT_CONVERGED, SINGULAR, TOO_FEW}


def test_our_own_message_is_kept():
    row = attempt(lambda: window_columns("not_a_dataset"), **KEYS)
    assert row["method"].iloc[0].startswith("not estimable: unknown dataset 'not_a_dataset'")


def test_released_reason_of_an_error_without_traceback_is_a_fixed_phrase():
    assert released_reason(ValueError("zero-size array to reduction operation")) == TOO_FEW
    assert released_reason(RuntimeError("Maximum number of iterations reached")) == NOT_CONVERGED
