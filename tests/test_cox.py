"""cox_ph against R survival::coxph (tests/reference/cox), the Rossi numbers and statsmodels PHReg."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.cox import cox_ph, dummy_columns

REF_DIR = Path(__file__).parent / "reference" / "cox"
REF = json.loads((REF_DIR / "reference.json").read_text())
COVARIATES = ["post", "age", "female", "da", "mh", "sm"]
ROSSI_COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "children.csv")
    d["post"] = (d["cohort"] == "post_fsp").astype(float)
    return d


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "rossi.csv")


def fit_like_r(d: pd.DataFrame, spec: dict, covariates=COVARIATES):
    return cox_ph(
        d, "duration", "event", covariates,
        entry="entry" if spec["lhs"].startswith("Surv(entry") else None,
        strata="area" if spec["strata"] else None,
        cluster="family_id" if spec["cluster"] else None,
        weights="weight" if spec["weights"] else None,
        ties=spec["ties"],
    )


@pytest.mark.parametrize("model", sorted(REF["models"]))
def test_matches_r_coxph(children, model):
    ref = REF["models"][model]
    fit = fit_like_r(children, ref)
    assert fit.converged
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se_naive, ref["se_naive"], rtol=1e-4)
    np.testing.assert_allclose([fit.loglik_null, fit.loglik], ref["loglik"], rtol=1e-8)
    np.testing.assert_allclose(fit.score_test, ref["score_test"], rtol=1e-4)
    np.testing.assert_allclose(fit.lr_test, ref["lr_test"], rtol=1e-4)
    np.testing.assert_allclose(fit.wald_test, ref["wald_test"], rtol=1e-4)
    np.testing.assert_allclose(fit.var, np.array(ref["var"]), rtol=1e-4)
    assert fit.robust == ref["robust"]
    if ref["robust"]:
        np.testing.assert_allclose(fit.se_robust, ref["se_robust"], rtol=1e-4)
        np.testing.assert_allclose(fit.robust_score_test, ref["robust_score_test"], rtol=1e-4)
    assert fit.n == ref["n"] and fit.events == ref["events"]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_rossi_matches_r(rossi, ties):
    ref = REF["rossi"][ties]
    fit = cox_ph(rossi, "week", "arrest", ROSSI_COVARIATES, ties=ties)
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se_naive, ref["se_naive"], rtol=1e-4)
    np.testing.assert_allclose(fit.score_test, ref["score_test"], rtol=1e-4)
    np.testing.assert_allclose(fit.lr_test, ref["lr_test"], rtol=1e-4)


def test_rossi_domain_reference_numbers(rossi):
    """The published numbers in domain.md section 3 (R coxph, Efron)."""
    fit = cox_ph(rossi, "week", "arrest", ROSSI_COVARIATES)
    coef = [-0.3794222, -0.0574377, 0.3138998, -0.1497957, -0.4337039, -0.0848711, 0.0914971]
    se = [0.1914, 0.0220, 0.3080, 0.2122, 0.3819, 0.1958, 0.0286]
    np.testing.assert_allclose(fit.coef, coef, atol=6e-8)
    np.testing.assert_allclose(fit.se_naive, se, atol=6e-5)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_statsmodels_phreg_cross_check(children, ties):
    """PHReg counts a row at risk from its entry time inclusive; R (and we) from just after it.

    With integer days, entry + 0.5 makes the two definitions agree.
    """
    fit = cox_ph(children, "duration", "event", COVARIATES, entry="entry", strata="area", ties=ties)
    sm = PHReg(children["duration"].to_numpy(), children[COVARIATES].to_numpy(),
               status=children["event"].to_numpy(), entry=children["entry"].to_numpy() + 0.5,
               strata=children["area"].to_numpy(), ties=ties).fit()
    np.testing.assert_allclose(fit.coef, sm.params, rtol=1e-6)
    np.testing.assert_allclose(fit.se_naive, sm.bse, rtol=1e-4)


def test_statsmodels_cluster_se_breslow_no_entry(children):
    """PHReg's cluster-robust SE agrees with R without entry and ties (its Efron version does not)."""
    fit = cox_ph(children, "duration", "event", COVARIATES, cluster="family_id", ties="breslow")
    sm = PHReg(children["duration"].to_numpy(), children[COVARIATES].to_numpy(),
               status=children["event"].to_numpy(), ties="breslow").fit(groups=children["family_id"].to_numpy())
    np.testing.assert_allclose(fit.se_robust, sm.bse, rtol=1e-6)


def test_monotone_likelihood_is_flagged_not_diverged(children):
    d = children.copy()
    d["sparse_post"] = ((d["combination"] == "DA+MH+SM") & (d["post"] == 1)).astype(float)
    fit = cox_ph(d, "duration", "event", ["sparse_post", "age", "female"], entry="entry")
    assert "sparse_post" in fit.not_estimable
    assert np.isnan(fit.coef[0])
    # R's coefficient runs off towards -infinity; the others tend to the fit without that cell
    assert REF["monotone"]["coef"][0] < -10
    np.testing.assert_allclose(fit.coef[1:], REF["monotone"]["limit_other_coef"], rtol=1e-4)
    table = fit.tidy(outcome="time_in_protection")
    row = table[table.term == "sparse_post"].iloc[0]
    assert np.isnan(row.estimate) and "not estimable" in row.method


def test_constant_and_collinear_columns_are_dropped(children):
    d = children.assign(constant=1.0, age_months=children["age"] * 12)
    fit = cox_ph(d, "duration", "event", ["age", "constant", "female", "age_months"], entry="entry")
    reduced = cox_ph(d, "duration", "event", ["age", "female"], entry="entry")
    assert set(fit.not_estimable) == {"constant", "age_months"}
    np.testing.assert_allclose(fit.coef[[0, 2]], reduced.coef, rtol=1e-10)
    assert np.isnan(fit.coef[[1, 3]]).all()


def test_no_estimable_covariate_gives_null_model(children):
    fit = cox_ph(children.assign(constant=1.0), "duration", "event", ["constant"], entry="entry")
    assert np.isnan(fit.coef).all() and fit.df == 0
    np.testing.assert_allclose(fit.loglik, REF["models"]["entry_efron"]["loglik"][0], rtol=1e-10)


def test_integer_weights_equal_duplicated_rows_breslow(children):
    """With Breslow ties a weight of 2 is a duplicated row (Efron's correction counts rows, so not there)."""
    d = children.head(400).assign(two=2.0)
    weighted = cox_ph(d, "duration", "event", COVARIATES, entry="entry", weights="two", ties="breslow")
    doubled = cox_ph(pd.concat([d, d]), "duration", "event", COVARIATES, entry="entry", ties="breslow")
    np.testing.assert_allclose(weighted.coef, doubled.coef, rtol=1e-8)
    np.testing.assert_allclose(weighted.se_naive, doubled.se_naive, rtol=1e-8)
    assert weighted.robust is False  # integer weights: R's default is the naive variance


def test_row_order_does_not_matter(children):
    shuffled = children.sample(frac=1.0, random_state=3)
    a = cox_ph(children, "duration", "event", COVARIATES, entry="entry", strata="area", cluster="family_id")
    b = cox_ph(shuffled, "duration", "event", COVARIATES, entry="entry", strata="area", cluster="family_id")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    np.testing.assert_allclose(a.se_robust, b.se_robust, rtol=1e-10)


def test_tidy_rows(children):
    fit = cox_ph(children, "duration", "event", COVARIATES, entry="entry", cluster="family_id")
    table = fit.tidy(outcome="time_in_protection", combination="all")
    assert tuple(table.columns) == RESULT_COLUMNS
    assert list(table.term) == COVARIATES
    np.testing.assert_allclose(table.estimate, np.exp(fit.coef))
    np.testing.assert_allclose(table.se, fit.se_robust)
    assert (table.ci_lower < table.estimate).all() and (table.estimate < table.ci_upper).all()
    assert table.method.str.contains("family_id-clustered robust SE").all()
    assert (table.events == 882).all()


def test_dummy_columns_reference_level(children):
    d, names = dummy_columns(children, "cohort", "pre_fsp")
    assert names == ["cohort[post_fsp]"]
    np.testing.assert_array_equal(d["cohort[post_fsp]"], children["post"])
    with pytest.raises(ValueError):
        dummy_columns(children, "cohort", "transition")


def test_bad_input_raises(children):
    with pytest.raises(ValueError, match="entry"):
        cox_ph(children.assign(entry=children["duration"]), "duration", "event", ["age"], entry="entry")
    with pytest.raises(ValueError, match="0/1"):
        cox_ph(children.assign(event=children["event"] * 2), "duration", "event", ["age"])
    with pytest.raises(ValueError, match="missing"):
        cox_ph(children.assign(age=np.where(children.index == 3, np.nan, children["age"])),
               "duration", "event", ["age"])
    with pytest.raises(ValueError, match="no events"):
        cox_ph(children.assign(event=0), "duration", "event", ["age"])


def test_stratum_without_events_contributes_nothing(children):
    quiet = children.head(60).assign(area="elsewhere", event=0)
    both = pd.concat([children, quiet], ignore_index=True)
    a = cox_ph(both, "duration", "event", COVARIATES, entry="entry", strata="area", cluster="family_id")
    b = cox_ph(children, "duration", "event", COVARIATES, entry="entry", strata="area", cluster="family_id")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    np.testing.assert_allclose(a.se_robust, b.se_robust, rtol=1e-10)
