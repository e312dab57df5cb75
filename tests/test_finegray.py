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


# --------------------------------------------------------------------------------------
# The scan (no expansion) against the expansion oracle and R
# --------------------------------------------------------------------------------------


def _random_children(seed: int, n: int = 400, delayed: bool = False) -> pd.DataFrame:
    """Integer days (many ties, censorings tied with exits), three competing causes."""
    rng = np.random.default_rng(seed)
    x1 = rng.integers(0, 2, n)
    x2 = rng.normal(size=n)
    hazard = 0.01 * np.exp(0.5 * x1 - 0.3 * x2)
    duration = np.ceil(rng.exponential(1 / hazard) / 7) + 1  # weeks: heavy ties
    cause = rng.choice(["a", "b", "c"], size=n, p=[0.4, 0.35, 0.25])
    censor = np.ceil(rng.uniform(1, 60, n))
    cause = np.where(censor < duration, "censored", cause)
    duration = np.minimum(duration, censor)
    entry = np.where(rng.uniform(size=n) < 0.3, np.floor(rng.uniform(0, 1, n) * duration), 0.0) if delayed \
        else np.zeros(n)
    return pd.DataFrame({
        "duration": duration, "entry": entry, "cause": cause, "x1": x1, "x2": x2,
        "family": rng.integers(0, n // 3, n), "case_weight": rng.choice([0.5, 1.0, 2.0], n),
    })


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "delayed, cluster, weights",
    [(False, None, None), (False, "family", None), (True, None, None), (True, "family", None),
     (False, "family", "case_weight"), (True, "family", "case_weight")],
)
def test_scan_equals_expansion(seed, delayed, cluster, weights, ties):
    df = _random_children(seed, delayed=delayed)
    entry = "entry" if delayed else None
    for cause in ("a", "c"):
        kwargs = dict(entry=entry, cluster=cluster, weights=weights, ties=ties)
        scan = fine_gray(df, "duration", "cause", cause, ["x1", "x2"], algorithm="scan", **kwargs)
        oracle = fine_gray(df, "duration", "cause", cause, ["x1", "x2"], algorithm="expand", **kwargs)
        np.testing.assert_allclose(scan.coef, oracle.coef, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(scan.var, oracle.var, rtol=1e-6)
        np.testing.assert_allclose(scan.naive_var, oracle.naive_var, rtol=1e-6)
        assert "scan" in scan.method and "expansion" in oracle.method


def test_delayed_entry_weights_matter_in_the_scan():
    df = _random_children(4, delayed=True)
    with_entry = fine_gray(df, "duration", "cause", "a", ["x1", "x2"], entry="entry", algorithm="scan")
    oracle = fine_gray(df, "duration", "cause", "a", ["x1", "x2"], entry="entry", algorithm="expand")
    no_entry = fine_gray(df, "duration", "cause", "a", ["x1", "x2"], algorithm="scan")
    assert finegray_expand(df, "duration", "cause", "a", entry="entry")["fgwt"].max() > 1.0
    np.testing.assert_allclose(with_entry.coef, oracle.coef, rtol=1e-8)
    assert np.max(np.abs(with_entry.coef - no_entry.coef)) > 1e-4


@pytest.mark.parametrize("cause", ["step_down", "escalation_care"])
def test_scan_matches_r_tightly(children, reference, covariates, cause):
    crr = fine_gray(children, "duration", "cause", cause, covariates, variance="crr", algorithm="scan")
    np.testing.assert_allclose(crr.coef, reference["crr"][cause]["coef"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(crr.se, reference["crr"][cause]["se"], rtol=1e-4)
    expected = reference["finegray"][cause]["breslow"]
    for cluster, key in ((None, "robust_se_id"), ("family", "robust_se_family")):
        fit = fine_gray(children, "duration", "cause", cause, covariates, cluster=cluster, algorithm="scan")
        np.testing.assert_allclose(fit.coef, expected["coef"], rtol=1e-6)
        np.testing.assert_allclose(fit.se, expected[key], rtol=1e-4)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.naive_var)), expected["naive_se"], rtol=1e-4)
    entry = reference["finegray_entry"]["step_down"]["breslow"]
    for cluster, key in ((None, "robust_se_id"), ("family", "robust_se_family")):
        fit = fine_gray(children, "duration", "cause", "step_down", covariates, entry="entry", cluster=cluster,
                        algorithm="scan")
        np.testing.assert_allclose(fit.coef, entry["coef"], rtol=1e-6)
        np.testing.assert_allclose(fit.se, entry[key], rtol=1e-4)


def test_scan_is_the_default_and_ignores_the_row_cap(children, covariates):
    fit = fine_gray(children, "duration", "cause", "step_down", covariates, entry="entry", cluster="family",
                    max_rows=10)
    assert "scan" in fit.method and np.isfinite(fit.coef).all()
    efron = fine_gray(children, "duration", "cause", "step_down", covariates, ties="efron", max_rows=10)
    assert "scan" in efron.method and "efron ties" in efron.method


def test_scan_drops_a_constant_column_as_cox_does(children, covariates):
    data = children.assign(constant=1.0)
    scan = fine_gray(data, "duration", "cause", "step_down", covariates + ["constant"], cluster="family")
    oracle = fine_gray(data, "duration", "cause", "step_down", covariates + ["constant"], cluster="family",
                       algorithm="expand")
    assert np.isnan(scan.coef[-1]) and np.isnan(oracle.coef[-1])
    np.testing.assert_allclose(scan.coef[:-1], oracle.coef[:-1], rtol=1e-8)
    np.testing.assert_allclose(scan.se[:-1], oracle.se[:-1], rtol=1e-6)


def test_scan_fits_what_the_expansion_could_not():
    # 20,000 children, daily times over five years: the expansion would need ~10M rows
    # (beyond the 1.5M rows at which the analysis used to stop); the scan needs none
    from evaluation.survival.finegray import ExpansionTooLarge

    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.normal(size=(n, 2))
    duration = np.ceil(rng.exponential(600, n)) + 1
    censor = np.ceil(rng.uniform(30, 1800, n))
    cause = np.where(censor < duration, "censored", rng.choice(["a", "b", "c"], n))
    df = pd.DataFrame({"duration": np.minimum(duration, censor), "cause": cause, "x1": x[:, 0], "x2": x[:, 1],
                       "family": np.arange(n) // 2})
    with pytest.raises(ExpansionTooLarge, match="would need"):
        finegray_expand(df, "duration", "cause", "a", max_rows=1_500_000)
    fit = fine_gray(df, "duration", "cause", "a", ["x1", "x2"], cluster="family")
    crr = fine_gray(df, "duration", "cause", "a", ["x1", "x2"], variance="crr")
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.se).all() and np.isfinite(crr.se).all()
    assert np.max(np.abs(fit.coef)) < 0.1  # no effect simulated


SCAN_FITS = {
    "crr": dict(variance="crr"),
    "plain_id": {},
    "plain_family": dict(cluster="family"),
    "entry_family": dict(entry="entry", cluster="family"),
    "entry_family_weighted": dict(entry="entry", cluster="family", weights="case_weight"),
    "entry_family_efron": dict(entry="entry", cluster="family", ties="efron"),
}


@pytest.mark.parametrize("cause", ["a", "c"])
@pytest.mark.parametrize("fit_name", list(SCAN_FITS))
def test_scan_matches_r_on_the_larger_tied_data(cause, fit_name):
    # tests/reference/competing/make_scan_reference.R: cmprsk::crr, and survival::finegray +
    # coxph(weights = fgwt, cluster, ties = "breslow") with delayed entry and case weights
    reference = json.loads((REFERENCE / "scan_reference.json").read_text())
    data = pd.read_csv(REFERENCE / "scan_children.csv")
    fit = fine_gray(data, "duration", "cause", cause, reference["covariates"], algorithm="scan",
                    **SCAN_FITS[fit_name])
    expected = reference[cause][fit_name]
    np.testing.assert_allclose(fit.coef, expected["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se, expected["se"], rtol=1e-4)
    if "naive_se" in expected:
        np.testing.assert_allclose(np.sqrt(np.diag(fit.naive_var)), expected["naive_se"], rtol=1e-4)


def test_scan_leaves_the_data_unchanged():
    df = _random_children(1, delayed=True)
    before = df.copy()
    for ties in ("breslow", "efron"):
        fine_gray(df, "duration", "cause", "a", ["x1", "x2"], entry="entry", cluster="family", ties=ties)
    fine_gray(df, "duration", "cause", "a", ["x2"], variance="crr")
    pd.testing.assert_frame_equal(df, before)
