"""Fine–Gray and cause-specific Cox against R (cmprsk::crr, survival::finegray + coxph).

Reference numbers: tests/reference/competing/make_reference.R (see make_inputs.py for the data).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.finegray import cause_specific_cox, fine_gray, finegray_expand

REFERENCE = Path(__file__).parent / "reference" / "competing"
EXPANDED = ["id", "fgstart", "fgstop", "fgstatus", "fgwt"]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "children.csv")


@pytest.fixture(scope="module")
def covariates(reference) -> list[str]:
    return reference["covariates"]


@pytest.mark.parametrize(
    "cause, entry, csv",
    [
        ("step_down", None, "finegray_step_down.csv"),
        ("escalation_care", None, "finegray_escalation_care.csv"),
        ("step_down", "entry", "finegray_entry_step_down.csv"),
    ],
)
def test_expansion_matches_survival_finegray(children, cause, entry, csv):
    ours = finegray_expand(children, "duration", "cause", cause, entry=entry)
    theirs = pd.read_csv(REFERENCE / csv)
    assert len(ours) == len(theirs)
    for column in ("id", "fgstart", "fgstop", "fgstatus"):
        np.testing.assert_array_equal(ours[column], theirs[column], err_msg=column)
    np.testing.assert_allclose(ours["fgwt"], theirs["fgwt"], rtol=1e-10)


def test_delayed_entry_changes_the_weights(children):
    # R's left-truncation weight: some weights exceed 1 under delayed entry, never without
    plain = finegray_expand(children, "duration", "cause", "step_down")
    delayed = finegray_expand(children, "duration", "cause", "step_down", entry="entry")
    assert plain["fgwt"].max() == 1.0
    assert delayed["fgwt"].max() > 1.0


@pytest.mark.parametrize("cause", ["step_down", "escalation_care"])
def test_crr_variance_matches_cmprsk(children, reference, covariates, cause):
    fit = fine_gray(children, "duration", "cause", cause, covariates, variance="crr")
    expected = reference["crr"][cause]
    np.testing.assert_allclose(fit.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se, expected["se"], rtol=1e-4)
    np.testing.assert_allclose(fit.var, np.array(expected["var"]), rtol=1e-4)


@pytest.mark.parametrize("cause", ["step_down", "escalation_care"])
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_finegray_coxph_matches_r(children, reference, covariates, cause, ties):
    expected = reference["finegray"][cause][ties]
    by_child = fine_gray(children, "duration", "cause", cause, covariates, ties=ties)
    np.testing.assert_allclose(by_child.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(by_child.se, expected["robust_se_id"], rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(by_child.naive_var)), expected["naive_se"], rtol=1e-4)
    by_family = fine_gray(children, "duration", "cause", cause, covariates, ties=ties, cluster="family")
    np.testing.assert_allclose(by_family.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(by_family.se, expected["robust_se_family"], rtol=1e-4)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_finegray_with_delayed_entry_matches_r(children, reference, covariates, ties):
    expected = reference["finegray_entry"]["step_down"][ties]
    fit = fine_gray(children, "duration", "cause", "step_down", covariates, entry="entry", ties=ties)
    np.testing.assert_allclose(fit.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se, expected["robust_se_id"], rtol=1e-4)


def test_finegray_with_case_weights_matches_r(children, reference, covariates):
    weighted = children.assign(case_weight=1 + (children["id"] % 3) / 2)
    fit = fine_gray(weighted, "duration", "cause", "step_down", covariates, cluster="family", weights="case_weight")
    expected = reference["finegray_weighted"]["step_down"]
    np.testing.assert_allclose(fit.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se, expected["robust_se_family"], rtol=1e-4)


@pytest.mark.parametrize("cause", ["step_down", "escalation_care"])
def test_crr_and_weighted_cox_routes_agree_without_censoring_ties(children, covariates, cause):
    # The two censoring curves differ only in how a censoring tied with an exit
    # is ordered (crr: exit still at risk of censoring; finegray: exit first).
    untied = children.assign(duration=children["duration"] + 0.5 * (children["cause"] == "censored"))
    crr = fine_gray(untied, "duration", "cause", cause, covariates, variance="crr")
    expanded = fine_gray(untied, "duration", "cause", cause, covariates, ties="breslow")
    np.testing.assert_allclose(crr.coef, expanded.coef, rtol=1e-8)
    # different variance estimators (crr's allows for the estimated censoring curve)
    assert np.max(np.abs(crr.se / expanded.se - 1)) > 1e-5
    tied_crr = fine_gray(children, "duration", "cause", cause, covariates, variance="crr")
    tied_expanded = fine_gray(children, "duration", "cause", cause, covariates, ties="breslow")
    np.testing.assert_allclose(tied_crr.coef, tied_expanded.coef, rtol=0.05)


def test_fine_gray_table(children, covariates):
    fit = fine_gray(children, "duration", "cause", "step_down", covariates, cluster="family")
    table = fit.tidy(outcome="time_in_protection")
    assert tuple(table.columns) == RESULT_COLUMNS
    assert list(table["term"]) == covariates
    np.testing.assert_allclose(table["estimate"], np.exp(fit.coef), rtol=1e-12)
    np.testing.assert_allclose(table["statistic"], fit.coef / fit.se, rtol=1e-12)
    assert (table["ci_lower"] < table["estimate"]).all() and (table["estimate"] < table["ci_upper"]).all()
    assert table["events"].iloc[0] == (children["cause"] == "step_down").sum()


def test_crr_variance_refuses_entry_and_clusters(children, covariates):
    with pytest.raises(ValueError, match="right-censored"):
        fine_gray(children, "duration", "cause", "step_down", covariates, variance="crr", entry="entry")
    with pytest.raises(ValueError, match="right-censored"):
        fine_gray(children, "duration", "cause", "step_down", covariates, variance="crr", cluster="family")


@pytest.mark.parametrize(
    "ties, coef_key, se_key", [("efron", "coef", "robust_se"), ("breslow", "breslow_coef", "breslow_robust_se")]
)
def test_cause_specific_cox_matches_coxph(children, reference, covariates, ties, coef_key, se_key):
    expected = reference["cause_specific"]["step_down"]
    fit = cause_specific_cox(
        children, "duration", "cause", "step_down", covariates, entry="entry", cluster="family", ties=ties
    )
    np.testing.assert_allclose(fit.coef, expected[coef_key], rtol=1e-6)
    np.testing.assert_allclose(fit.se, expected[se_key], rtol=1e-4)
    if ties == "efron":
        np.testing.assert_allclose(fit.se_naive, expected["naive_se"], rtol=1e-4)
    assert fit.events == (children["cause"] == "step_down").sum()


def test_cause_specific_cox_censors_the_other_exits(children, covariates):
    fit = cause_specific_cox(children, "duration", "cause", "closure", covariates, entry="entry")
    table = fit.tidy("time_in_protection", analysis="cause_specific_cox")
    assert tuple(table.columns) == RESULT_COLUMNS
    assert (table["events"] == (children["cause"] == "closure").sum()).all()
    # "censored" is never an exit, even when asked for
    with pytest.raises(ValueError, match="no events"):
        cause_specific_cox(children, "duration", "cause", "censored", covariates)


def test_expansion_larger_than_allowed_is_refused_before_it_is_built(children):
    from evaluation.survival.finegray import ExpansionTooLarge, finegray_expand

    full = finegray_expand(children, "duration", "cause", "step_down", entry=None)
    with pytest.raises(ExpansionTooLarge, match=f"{len(full):,} rows"):
        finegray_expand(children, "duration", "cause", "step_down", max_rows=len(full) - 1)
    assert len(finegray_expand(children, "duration", "cause", "step_down", max_rows=len(full))) == len(full)
