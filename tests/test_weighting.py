"""cohort_weights / balance_table and the weighted, family-clustered Cox model against R."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.survival.cox import cox_ph
from evaluation.survival.weighting import balance_table, cohort_weights

REF_DIR = Path(__file__).parent / "reference" / "cox"
REF = json.loads((REF_DIR / "reference.json").read_text())["weighting"]
CONFOUNDERS = ["age", "female", "da", "mh", "sm"]


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "children.csv")
    d["post"] = (d["cohort"] == "post_fsp").astype(float)
    return d


@pytest.fixture(scope="module")
def weights(children):
    return cohort_weights(children, "cohort", CONFOUNDERS)


def test_propensity_and_weights_match_r(children, weights):
    np.testing.assert_allclose(weights.model.params, REF["ps_coef"], rtol=1e-6)
    np.testing.assert_allclose(weights.propensity, REF["propensity"], rtol=1e-6)
    np.testing.assert_allclose(weights.weights, REF["weight_stabilised"], rtol=1e-6)
    unstabilised = cohort_weights(children, "cohort", CONFOUNDERS, stabilised=False)
    np.testing.assert_allclose(unstabilised.weights, REF["weight_unstabilised"], rtol=1e-6)


def test_balance_matches_r(children, weights):
    table = balance_table(children, "cohort", CONFOUNDERS, weights.weights)
    assert list(table.variable) == REF["balance"]["variable"]
    np.testing.assert_allclose(table.smd_before, REF["balance"]["smd_before"], rtol=1e-6)
    np.testing.assert_allclose(table.smd_after, REF["balance"]["smd_after"], rtol=1e-6)
    assert (table.smd_after.abs() < table.smd_before.abs()).all()


def test_imbalance_flag_follows_threshold(children, weights):
    table = balance_table(children, "cohort", CONFOUNDERS, weights.weights, threshold=0.05)
    np.testing.assert_array_equal(table.imbalanced_before, table.smd_before.abs() > 0.05)
    assert table.imbalanced_before.any() and not table.imbalanced_after.any()
    unweighted = balance_table(children, "cohort", CONFOUNDERS)
    assert "smd_after" not in unweighted.columns


@pytest.mark.parametrize("cluster,key", [("family_id", "cox_cluster"), (None, "cox_no_cluster")])
def test_weighted_cox_matches_r(children, weights, cluster, key):
    ref = REF[key]
    d = children.assign(ipw=weights.weights)
    fit = cox_ph(d, "duration", "event", ["post"], entry="entry", weights="ipw", cluster=cluster)
    assert fit.robust  # non-integer weights: R switches to the robust variance
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se_naive, ref["se_naive"], rtol=1e-4)
    np.testing.assert_allclose(fit.se_robust, ref["se_robust"], rtol=1e-4)
    np.testing.assert_allclose(fit.robust_score_test, ref["robust_score_test"], rtol=1e-4)


def test_weights_only_for_the_two_cohorts(children):
    d = pd.concat([children, children.head(50).assign(cohort="transition")], ignore_index=True)
    w = cohort_weights(d, "cohort", CONFOUNDERS)
    assert len(w.weights) == len(children)
    ess = w.effective_sample_size()
    assert 0 < ess["comparison"] <= w.in_comparison.sum()


def test_separated_cohorts_raise(children):
    d = children.assign(marker=children["post"])
    with pytest.raises(ValueError, match="overlap"):
        cohort_weights(d, "cohort", ["marker", "age"])
