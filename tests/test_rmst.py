"""Restricted mean survival time against R survival 3.5 (summary(survfit, rmean=tau) and
residuals(survfit, type="rmst") for the infinitesimal-jackknife / family-clustered SE).

Reference numbers: tests/reference/km/make_reference.R (data from make_inputs.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.rmst import rmst, rmst_difference

REFERENCE = Path(__file__).parent / "reference" / "km"
COHORTS = ["pre_fsp", "transition", "post_fsp"]
TAUS = [365, 730]
VARIANTS = {"plain": {}, "entry": {"entry": "entry"}, "case_weights": {"weights": "case_weight"}}


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "children.csv")


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("cohort", COHORTS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_matches_survfit_rmean(variant, cohort, tau, children, reference):
    expected = reference["rmst"][f"tau_{tau}"]["cohorts"][cohort][variant]
    fit = rmst(children[children["cohort"] == cohort], "duration", "event", tau, **VARIANTS[variant])
    assert fit.estimate == pytest.approx(expected["rmean"], rel=1e-6)
    assert fit.se == pytest.approx(expected["se"], rel=1e-4)


def test_fractional_weights_with_entry(children, reference):
    expected = reference["rmst_overall_entry_ipw"]
    fit = rmst(children, "duration", "event", 365, entry="entry", weights="ipw")
    assert fit.estimate == pytest.approx(expected["rmean"], rel=1e-6)
    assert fit.se == pytest.approx(expected["se"], rel=1e-4)


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("cohort", COHORTS)
def test_infinitesimal_jackknife_se(cohort, tau, children, reference):
    expected = reference["rmst"][f"tau_{tau}"]["cohorts"][cohort]
    part = children[children["cohort"] == cohort]
    per_child = rmst(part, "duration", "event", tau)
    # R's rmean SE is the estimator's own (IJ) variance for unweighted right-censored data
    assert per_child.se_ij == pytest.approx(expected["ij_se_child"], rel=1e-4)
    assert per_child.se == pytest.approx(expected["ij_se_child"], rel=1e-4)
    family = rmst(part, "duration", "event", tau, cluster="family_id")
    assert family.se_ij == pytest.approx(expected["ij_se_family"], rel=1e-4)
    assert family.estimate == pytest.approx(per_child.estimate, rel=1e-12)
    entry = rmst(part, "duration", "event", tau, entry="entry", cluster="family_id")
    assert entry.se_ij == pytest.approx(expected["entry_ij_se_family"], rel=1e-4)


@pytest.mark.parametrize("tau", TAUS)
def test_difference_independent_groups(tau, children, reference):
    cohorts = reference["rmst"][f"tau_{tau}"]["cohorts"]
    table = rmst_difference(children, "duration", "event", "cohort", tau=tau)
    assert list(table.columns) == list(RESULT_COLUMNS)
    row = table[table["term"] == "rmst_difference"].iloc[0]
    post, pre = cohorts["post_fsp"]["plain"], cohorts["pre_fsp"]["plain"]
    assert row["contrast"] == "post_fsp vs pre_fsp"
    assert row["estimate"] == pytest.approx(post["rmean"] - pre["rmean"], rel=1e-6)
    se = np.hypot(post["se"], pre["se"])
    assert row["se"] == pytest.approx(se, rel=1e-4)
    assert row["ci_lower"] == pytest.approx(row["estimate"] - 1.959963985 * se, rel=1e-6)
    assert row["statistic"] == pytest.approx(row["estimate"] / se, rel=1e-4)
    assert 0 < row["p_value"] < 1
    assert "independent groups" in row["method"]


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("entry", [None, "entry"])
def test_difference_family_clustered(tau, entry, children, reference):
    expected = reference["rmst"][f"tau_{tau}"]
    table = rmst_difference(children, "duration", "event", "cohort", tau=tau, entry=entry, cluster="family_id")
    row = table[table["term"] == "rmst_difference"].iloc[0]
    key = "difference_ij_se_family" if entry is None else "entry_difference_ij_se_family"
    assert row["se"] == pytest.approx(expected[key], rel=1e-4)
    assert "family-clustered" in row["method"]
    per_cohort = table[table["term"] == "rmst"].set_index("cohort")
    name = "ij_se_family" if entry is None else "entry_ij_se_family"
    assert per_cohort.loc["pre_fsp", "se"] == pytest.approx(expected["cohorts"]["pre_fsp"][name], rel=1e-4)


def test_default_taus_and_rows(children):
    table = rmst_difference(children, "duration", "event", "cohort", outcome="time_in_protection")
    assert sorted(set(table["time"])) == [365.0, 730.0]
    assert len(table) == 6
    assert set(table["cohort"].dropna()) == {"pre_fsp", "post_fsp"}


def test_missing_cohort_is_an_error(children):
    with pytest.raises(ValueError, match="no rows"):
        rmst_difference(children, "duration", "event", "cohort", comparison="after")
    with pytest.raises(ValueError, match="tau"):
        rmst(children, "duration", "event", 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=40),
       st.integers(min_value=1, max_value=70))
def test_without_censoring_rmst_is_mean_of_truncated_times(days, tau):
    df = pd.DataFrame({"duration": np.array(days, float), "event": 1})
    fit = rmst(df, "duration", "event", tau)
    truncated = np.minimum(days, tau)
    assert fit.estimate == pytest.approx(truncated.mean(), rel=1e-12)
    # per-child IJ SE without censoring: the plug-in SE of a mean, sd (ddof=0) / sqrt(n)
    assert fit.se_ij == pytest.approx(truncated.std() / np.sqrt(len(days)), rel=1e-9, abs=1e-12)
