"""Doubly robust (augmented IPW) RMST difference against R (tests/reference/target_trial/aipw.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.errors import NotEstimable
from evaluation.survival._data import survival_data
from evaluation.survival.doubly_robust import (
    Patterns, _estimates, _grids, _replicate, aipw_rmst_difference, family_draws, logistic_coefficients,
    logistic_probabilities, rmst_pseudo_observations,
)
from evaluation.survival.weighting import cohort_weights

REFERENCE = Path(__file__).parent / "reference" / "target_trial"


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REFERENCE / "data.csv")
    d = d[d["entry"] == 0].reset_index(drop=True)
    d["cohort"] = np.where(d["post"] == 1, "post_fsp", "pre_fsp")
    return d


def test_aipw_rmst_difference_matches_r(data):
    ref = pd.read_csv(REFERENCE / "aipw.csv")
    table = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1", "x2"], tau=[365, 730],
                                 reference="pre_fsp", comparison="post_fsp", cluster="family",
                                 n_boot=50, seed=1)
    np.testing.assert_allclose(table["estimate"], ref["aipw"], rtol=1e-9)
    arm = data[data["cohort"] == data["cohort"].iloc[0]]    # the first row's cohort, as R's y[1]
    assert rmst_pseudo_observations(arm, "duration", "event", 365)[0] == pytest.approx(ref["first_pseudo"][0], rel=1e-9)
    assert (table["ci_lower"] < table["estimate"]).all() and (table["estimate"] < table["ci_upper"]).all()
    assert table["method"].str.contains("family bootstrap percentile CI").all()


def test_bootstrap_resamples_families_and_is_reproducible(data):
    one = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1"], tau=[365], reference="pre_fsp",
                               comparison="post_fsp", cluster="family", n_boot=30, seed=7)
    two = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1"], tau=[365], reference="pre_fsp",
                               comparison="post_fsp", cluster="family", n_boot=30, seed=7)
    pd.testing.assert_frame_equal(one, two)
    # one cluster holding everyone: every resample is the data itself, so the limits collapse
    single = aipw_rmst_difference(data.assign(family=1), "duration", "event", "cohort", ["x1"], tau=[365],
                                  reference="pre_fsp", comparison="post_fsp", cluster="family", n_boot=5, seed=7)
    assert single["ci_lower"].item() == pytest.approx(single["estimate"].item(), rel=1e-12)
    assert single["ci_upper"].item() == pytest.approx(single["estimate"].item(), rel=1e-12)
    with pytest.raises(NotEstimable):
        aipw_rmst_difference(data[data["cohort"] == "pre_fsp"], "duration", "event", "cohort", ["x1"],
                             tau=[365], reference="pre_fsp", comparison="post_fsp", cluster="family",
                             n_boot=5, seed=1)


def test_a_bootstrap_replicate_is_the_refit_on_the_resampled_families(data):
    """Frequency weights of the families' draw counts give exactly what refitting everything
    (propensity, pseudo-observations, outcome models) on the copied rows gives."""
    families, codes = np.unique(data["family"].astype(str), return_inverse=True)
    treated = (data["cohort"] == "post_fsp").to_numpy()
    design = np.column_stack([np.ones(len(data)), data[["x1", "x2"]].to_numpy(dtype=float)])
    surv = survival_data(data, "duration", "event")
    patterns = Patterns.of(design)
    start = logistic_coefficients(patterns, treated.astype(float))
    for draw in family_draws(len(families), 3, seed=5):
        freq = draw[codes].astype(float)
        weighted, _ = _estimates(surv, treated, patterns, [365.0, 730.0], freq)
        copies = np.repeat(np.arange(len(data)), draw[codes])
        copied = data.iloc[copies].reset_index(drop=True)
        refit, _ = _estimates(survival_data(copied, "duration", "event"), treated[copies],
                              Patterns.of(design[copies]), [365.0, 730.0])
        np.testing.assert_allclose(weighted, refit, rtol=1e-10)
        assert not np.allclose(weighted, _estimates(surv, treated, patterns, [365.0, 730.0])[0])
        # the bootstrap's replicate, from per-pattern sums without the rows' terms: the same numbers
        replicate = _replicate(surv, treated, patterns, [365.0, 730.0], freq, start, _grids(surv, treated))
        np.testing.assert_allclose(replicate, weighted, rtol=1e-12)
        np.testing.assert_allclose(replicate, refit, rtol=1e-10)


def test_logistic_fit_matches_statsmodels_glm(data):
    ours = logistic_probabilities(np.column_stack([np.ones(len(data)), data[["x1", "x2"]]]),
                                  (data["cohort"] == "post_fsp").to_numpy(dtype=float))
    glm = cohort_weights(data, "cohort", ["x1", "x2"], reference="pre_fsp", comparison="post_fsp")
    np.testing.assert_allclose(ours, glm.propensity.to_numpy(), rtol=1e-10)


def test_without_bootstrap_the_family_clustered_influence_se(data):
    table = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1", "x2"], tau=[365],
                                 reference="pre_fsp", comparison="post_fsp", cluster="family",
                                 n_boot=0, seed=1)
    boot = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1", "x2"], tau=[365],
                                reference="pre_fsp", comparison="post_fsp", cluster="family",
                                n_boot=200, seed=1)
    assert table["estimate"].item() == boot["estimate"].item()
    assert table["se"].item() == boot["se"].item()   # the influence-function SE is kept beside the bootstrap
    assert table["method"].item().endswith("family-clustered influence-function SE")
    # normal limits without the bootstrap; its percentile limits agree roughly (other approximation)
    assert table["ci_upper"].item() - table["estimate"].item() == pytest.approx(1.959964 * table["se"].item())
    width = (boot["ci_upper"] - boot["ci_lower"]).item() / (table["ci_upper"] - table["ci_lower"]).item()
    assert 0.7 < width < 1.4 and boot["ci_lower"].item() != table["ci_lower"].item()
