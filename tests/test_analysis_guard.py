"""Only NotEstimable becomes a "not estimable" row; a bug raises; released text is ours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.guard import NOT_CONVERGED, SINGULAR, TOO_FEW, attempt, released_reason
from evaluation.errors import NotEstimable, estimable
from evaluation.spells.censoring import window_columns
from evaluation.survival.cox import cox_ph
from evaluation.survival.logrank import logrank_test
from evaluation.survival.weighting import cohort_weights
from evaluation.timeseries import fit_segmented

KEYS = dict(outcome="time_in_care", analysis="cox_unadjusted", cohort="931")
LIBRARY_TEXT = "first guess on the deviance function returned a nan"


def _children(events: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame({"duration": rng.uniform(1, 100, n), "event": [1] * events + [0] * (n - events),
                         "x": rng.integers(0, 2, n).astype(float),
                         "cohort": ["pre_fsp"] * (n // 2) + ["post_fsp"] * (n // 2)})


def test_a_sparse_case_gives_the_not_estimable_row():
    row = attempt(lambda: cox_ph(_children(events=0), "duration", "event", ["x"]).tidy("o"), **KEYS)
    assert row["method"].tolist() == ["not estimable: no events: a Cox model cannot be fitted"]
    assert row["estimate"].isna().all() and row["cohort"].tolist() == ["931"]


def test_an_empty_group_gives_the_not_estimable_row():
    one_cohort = _children().assign(cohort="post_fsp")
    row = attempt(lambda: logrank_test(one_cohort, "duration", "event", "cohort").tidy("o"), **KEYS)
    assert row["method"].iloc[0] == "not estimable: column 'cohort' needs at least two groups to compare"


def test_a_missing_column_inside_an_estimator_raises_through_attempt():
    with pytest.raises(KeyError, match="no_such_column"):
        attempt(lambda: cox_ph(_children(), "duration", "event", ["no_such_column"]).tidy("o"), **KEYS)


@pytest.mark.parametrize("error", [KeyError("x"), IndexError("list index out of range"),
                                   ZeroDivisionError("division by zero"), RuntimeError("boom"),
                                   TypeError("bad operand"), ValueError(LIBRARY_TEXT),
                                   np.linalg.LinAlgError("Singular matrix")])
def test_every_other_error_raises_through_attempt(error):
    def estimate():
        raise error

    with pytest.raises(type(error)):
        attempt(estimate, **KEYS)


def test_a_programming_error_is_not_a_small_numbers_row():
    with pytest.raises(ValueError, match="unknown dataset"):
        attempt(lambda: window_columns("not_a_dataset"), **KEYS)


def test_separated_cohorts_are_not_estimable_in_plain_words():
    a = np.array([0.0] * 10 + [1.0] * 10)
    separated = pd.DataFrame({"cohort": ["pre_fsp"] * 10 + ["post_fsp"] * 10, "a": a})
    row = attempt(lambda: cohort_weights(separated, "cohort", ["a"]).propensity.to_frame(), **KEYS)
    method = row["method"].iloc[0]
    assert method in (SINGULAR, NOT_CONVERGED) or method.startswith("not estimable: propensity of 0 or 1")
    assert row["estimate"].isna().all()


def test_a_segmented_regression_without_both_sides_of_go_live_is_not_estimable():
    series = pd.DataFrame({"month": pd.date_range("2019-01-01", periods=12, freq="MS"), "count": range(12)})
    row = attempt(lambda: fit_segmented(series, go_live="2021-01-01"), **KEYS)
    assert row["method"].tolist() == ["not estimable: no months on both sides of go-live"]


def test_estimable_words_library_failures_and_keeps_the_cause():
    with pytest.raises(NotEstimable, match="could not be solved") as caught:
        with estimable():
            np.linalg.inv(np.zeros((2, 2)))
    assert isinstance(caught.value.__cause__, np.linalg.LinAlgError)
    with pytest.raises(NotEstimable) as caught:
        with estimable():
            raise ValueError("The " + LIBRARY_TEXT + ". This could be a boundary problem")
    assert str(caught.value) == NOT_CONVERGED
    with pytest.raises(KeyError):  # anything else passes through
        with estimable():
            raise KeyError("x")
    with pytest.raises(ValueError, match="shapes"):
        with estimable():
            raise ValueError("shapes (2,) and (3,) not aligned")


def test_a_not_fitted_reason_is_released_as_it_is():
    row = attempt(lambda: (_ for _ in ()).throw(NotEstimable(NOT_CONVERGED)), **KEYS)
    assert row["method"].tolist() == [NOT_CONVERGED]


def test_released_reason_of_an_error_without_traceback_is_a_fixed_phrase():
    assert released_reason(ValueError("zero-size array to reduction operation")) == TOO_FEW
    assert released_reason(RuntimeError("Maximum number of iterations reached")) == NOT_CONVERGED


def test_a_cox_fit_whose_only_event_is_alone_at_risk_says_no_information():
    """Sparse data found by running the analyses on tiny counties: log partial likelihood 0."""
    df = pd.DataFrame({"duration": [1, 2, 3, 4.0], "event": [0, 0, 0, 1], "x": [0, 1, 0, 1.0]})
    fit = cox_ph(df, "duration", "event", ["x"])
    assert np.isnan(fit.coef).all() and fit.not_estimable["x"].startswith("no information")
    row = fit.tidy("o")
    assert row["estimate"].isna().all() and row["method"].str.contains("not estimable: no information").all()


@pytest.mark.parametrize("n_families, seed", [(8, 0), (6, 2), (4, 10)])
def test_tiny_counties_found_to_break_the_estimators_give_rows(n_families, seed):
    """Counties on which a sparse case used to escape as ZeroDivisionError (Cox log partial
    likelihood 0), KeyError (balance table without covariates) or LinAlgError (Fine-Gray pinv)."""
    from test_release_assembly import run_estimators, simulate_pipeline

    results = run_estimators(simulate_pipeline(n_families, seed))
    methods = pd.concat([t["method"] for t in results.values() if "method" in t], ignore_index=True)
    assert methods.str.startswith(("not estimable", "not fitted")).any()
