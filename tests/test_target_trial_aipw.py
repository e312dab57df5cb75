"""Doubly robust (augmented IPW) RMST difference against R (tests/reference/target_trial/aipw.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.errors import NotEstimable
from evaluation.survival.doubly_robust import aipw_rmst_difference, rmst_pseudo_observations

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
    assert table["method"].str.contains("family bootstrap").all()


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


def test_without_bootstrap_the_family_clustered_influence_se(data):
    table = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1", "x2"], tau=[365],
                                 reference="pre_fsp", comparison="post_fsp", cluster="family",
                                 n_boot=0, seed=1)
    boot = aipw_rmst_difference(data, "duration", "event", "cohort", ["x1", "x2"], tau=[365],
                                reference="pre_fsp", comparison="post_fsp", cluster="family",
                                n_boot=200, seed=1)
    assert table["estimate"].item() == boot["estimate"].item()
    assert table["method"].item().endswith("family-clustered influence-function SE")
    # the two standard errors agree roughly (same data, different approximations)
    assert 0.7 < table["se"].item() / boot["se"].item() < 1.4
