"""survival_results: every table is a direct estimator call on the outcome's rows; sparse data never crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.design import (
    Adjustment, plain_strings, study_adjustment, with_adjustment_terms, with_cohort_terms,
)
from evaluation.analysis.survival_outcomes import CURVE_COLUMNS, PROPENSITY, TABLES, survival_results
from evaluation.codes.groupings import COMBINATIONS
from evaluation.cohorts.analysis_dataset import ANALYSIS_COLUMNS
from evaluation.results import RESULT_COLUMNS
from evaluation.study import StudyConfig
from evaluation.survival.cox import cox_ph
from evaluation.survival.differential import differential_impact
from evaluation.survival.kaplan_meier import kaplan_meier, kaplan_meier_by
from evaluation.survival.logrank import logrank_test
from evaluation.survival.rmst import rmst_difference
from evaluation.survival.weighting import cohort_weights
from evaluation.survival.zph import cox_zph

CONFIG = StudyConfig()
#: Family-bootstrap resamples of the doubly robust RMST here (the pipeline's default is larger).
BOOT = 40
EXITS = {
    "time_in_need": ("closure",),
    "time_in_protection": ("step_down", "closure", "escalation_care", "other"),
    "time_in_care": ("return_home", "permanence", "other"),
}


def simulated_analysis(n_families: int = 260, seed: int = 1, las: tuple[str, ...] = ("931",),
                       cohorts=("pre_fsp", "transition", "post_fsp"), late_entry: bool = True) -> pd.DataFrame:
    """A small analysis dataset in the real column layout (one row per child × outcome).

    Siblings share the family's durations (as in the synthetic county), post-FSP
    halves the hazard of the first exit route, risk flags raise it, and part of
    ``time_in_care`` enters late (delayed entry).
    """
    rng = np.random.default_rng(seed)
    size = rng.choice([1, 1, 2, 2, 3], n_families)
    family = np.repeat(np.arange(n_families), size)
    n = len(family)
    flags = rng.random((n_families, 3)) < [0.25, 0.2, 0.12]
    cohort = rng.choice(list(cohorts), n_families, p=np.full(len(cohorts), 1 / len(cohorts)))[family]
    labels = {key: label for key, label in COMBINATIONS}
    children = pd.DataFrame({
        "la_code": rng.choice(list(las), n_families)[family],
        "child_id": [f"c{i:05d}" for i in range(n)],
        "family_id": [f"f{f:05d}" for f in family],
        "cohort": cohort,
        "time_zero": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1500, n_families)[family], "D"),
        "domestic_abuse": flags[family, 0], "mental_health": flags[family, 1], "substance_misuse": flags[family, 2],
        "age_band": rng.choice(["0", "1-4", "5-9", "10-15", "16-17"], n, p=[0.1, 0.25, 0.3, 0.3, 0.05]),
        "sex": rng.choice(["F", "M"], n),
        "ethnic_group": rng.choice(["White", "Mixed", "Asian", "Black"], n, p=[0.7, 0.12, 0.1, 0.08]),
        "family_size": size[family],
        "prior_cin_episodes": rng.poisson(0.4, n),
        "primary_need": rng.choice(["N1", "N4", "N5", "N9"], n),
        "referral_source_group": rng.choice(["Police", "Education", "Health"], n),
        "lockdown_period": rng.random(n) < 0.1,
    })
    children["combination"] = [labels[tuple(f)] for f in flags[family]]
    rows = []
    for outcome, causes in EXITS.items():
        share = {"time_in_need": 1.0, "time_in_protection": 0.5, "time_in_care": 0.35}[outcome]
        picked = (rng.random(n_families) < share)[family]
        part = children[picked].copy()
        fam = family[picked]
        risk = np.exp(0.3 * flags[fam].sum(axis=1) - np.log(2) * (part["cohort"] == "post_fsp").to_numpy())
        latent = np.column_stack([rng.exponential(300, n_families)[fam] / (risk if k == 0 else 1.0)
                                  for k in range(len(causes))])
        first = latent.argmin(axis=1)
        exit_time = np.ceil(latent.min(axis=1))
        censor = rng.uniform(200, 1200, n_families)[fam]
        event = exit_time <= censor
        part["outcome"] = outcome
        part["duration"] = np.where(event, exit_time, np.floor(censor)).astype(float)
        part["event"] = event.astype(int)
        part["cause"] = np.where(event, np.asarray(causes)[first], "censored")
        entry = np.zeros(len(part))
        if late_entry and outcome == "time_in_care":
            late = (rng.random(n_families) < 0.3)[fam]
            entry = np.where(late, np.floor(part["duration"] * 0.5), 0.0)
        part["entry"] = entry
        part["route_entry"] = entry
        part["go_live_day"] = np.inf      # no planned censoring here (see test_target_trial_*)
        rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    for column in ("la_code", "child_id", "family_id", "outcome", "cohort", "cause", "combination"):
        out[column] = out[column].astype("string")
    return out[list(ANALYSIS_COLUMNS)]


@pytest.fixture(scope="module")
def analysis() -> pd.DataFrame:
    return simulated_analysis()


@pytest.fixture(scope="module")
def results(analysis) -> dict[str, pd.DataFrame]:
    return survival_results(analysis, CONFIG, times=(91, 365), n_boot=BOOT)


def rows_of(analysis, outcome):
    return plain_strings(analysis[analysis["outcome"] == outcome].reset_index(drop=True))


def pick(table, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).fillna(False).to_numpy(dtype=bool)
    return table[mask]


def test_tables_and_columns(results):
    assert list(results) == list(TABLES)
    for name, table in results.items():
        if name == "km_curves":
            assert list(table.columns) == list(CURVE_COLUMNS)
        elif name == "balance":
            assert {"outcome", "variable", "smd_before", "smd_after"} <= set(table.columns)
        else:
            assert list(table.columns) == list(RESULT_COLUMNS), name
            if name != "factor_prevalence":      # its outcomes are the factors' monthly series
                assert set(table["outcome"]) == set(EXITS), name


def test_kaplan_meier_tables_equal_direct_calls(analysis, results):
    df = rows_of(analysis, "time_in_care")  # has delayed entry
    direct = kaplan_meier_by(df, "duration", "event", "cohort", times=(91, 365), entry="entry",
                             cluster="family_id", conf_type="log-log", outcome="time_in_care")
    ours = pick(results["km_estimates"], outcome="time_in_care").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, direct)
    assert ours["method"].str.contains("log-log CI").all() and ours["method"].str.contains("delayed entry").all()

    fit = kaplan_meier(df[df["cohort"] == "post_fsp"], "duration", "event", entry="entry", cluster="family_id",
                       conf_type="log-log")
    curve = pick(results["km_curves"], outcome="time_in_care", cohort="post_fsp").reset_index(drop=True)
    np.testing.assert_allclose(curve["survival"], fit.table["survival"])
    np.testing.assert_allclose(curve["lower"], fit.table["lower"])
    np.testing.assert_allclose(curve["n_risk"], fit.table["n_risk"])


def test_km_curves_feed_the_release_steps_safe_curves(results):
    from evaluation.disclosure.curves import safe_curve

    safe = safe_curve(results["km_curves"], grid=91, by=["outcome", "cohort"])
    assert {"survival", "lower", "upper"} <= set(safe.columns)
    assert set(safe["outcome"]) == set(EXITS) and (safe["time"] % 91 == 0).all()


def test_logrank_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_need")
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])]
    for strata, analysis_name in ((None, "logrank"), ("age_band", "logrank_by_age_band")):
        direct = logrank_test(pair, "duration", "event", "cohort", strata=strata, cluster="family_id")
        row = pick(results["logrank"], outcome="time_in_need", analysis=analysis_name,
                   contrast="post_fsp vs pre_fsp", term="chisq")
        assert len(row) == 1
        assert row["statistic"].iloc[0] == pytest.approx(direct.robust_chisq, rel=1e-12)
        assert row["p_value"].iloc[0] == pytest.approx(direct.robust_p_value, rel=1e-12)
    three = pick(results["logrank"], outcome="time_in_need", analysis="logrank",
                 contrast="pre_fsp vs transition vs post_fsp", term="chisq")
    direct = logrank_test(df, "duration", "event", "cohort", cluster="family_id")
    assert three["statistic"].iloc[0] == pytest.approx(direct.robust_chisq, rel=1e-12)
    # one local authority: no LA-stratified test
    assert not results["logrank"]["analysis"].eq("logrank_by_la_code").any()


def test_unadjusted_cox_equals_direct_fit_with_hand_made_dummies(analysis, results):
    df = rows_of(analysis, "time_in_need")
    df["post"] = (df["cohort"] == "post_fsp").astype(float)
    df["transition"] = (df["cohort"] == "transition").astype(float)
    fit = cox_ph(df, "duration", "event", ["post", "transition"], cluster="family_id", ties="efron")
    table = pick(results["hazard_ratios"], outcome="time_in_need", analysis="cox_unadjusted")
    post = table[table["term"] == "cohort[post_fsp]"].iloc[0]
    assert post["contrast"] == "post_fsp vs pre_fsp"
    assert post["estimate"] == pytest.approx(np.exp(fit.coef[0]), rel=1e-9)
    assert post["se"] == pytest.approx(fit.se_robust[0], rel=1e-9)
    assert "family_id-clustered robust SE" in post["method"]
    # the planted effect (HR 0.5 for the first exit route, the only route of time_in_need) is recovered
    assert post["ci_lower"] < 0.5 < post["ci_upper"]


def test_adjusted_cox_and_zph_equal_direct_calls(analysis, results):
    df = rows_of(analysis, "time_in_protection")
    frame, cohort_terms = with_cohort_terms(df)
    frame, adjustment = with_adjustment_terms(frame, adjustment=study_adjustment(CONFIG))
    # the primary design adjusts for what is known at time zero, not the index assessment's flags
    assert "family_size" in adjustment and "age_band[0]" in adjustment
    assert not {"domestic_abuse", "mental_health", "substance_misuse"} & set(adjustment)
    assert not any(term.startswith("primary_need") for term in adjustment)
    fit = cox_ph(frame, "duration", "event", cohort_terms + adjustment, cluster="family_id")
    table = pick(results["hazard_ratios"], outcome="time_in_protection", analysis="cox_adjusted")
    assert list(table["term"]) == cohort_terms + adjustment
    np.testing.assert_allclose(table["estimate"], np.exp(fit.coef), rtol=1e-9)
    zph = cox_zph(fit).table
    tests = pick(results["ph_tests"], outcome="time_in_protection", analysis="cox_adjusted_zph")
    assert list(tests["term"]) == list(zph.index)
    np.testing.assert_allclose(tests["statistic"], zph["chisq"], rtol=1e-9)


def test_rmst_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_need")
    direct = rmst_difference(df, "duration", "event", "cohort", tau=(365, 730), cluster="family_id",
                             outcome="time_in_need")
    ours = pick(results["rmst"], outcome="time_in_need", contrast="post_fsp vs pre_fsp")
    want = pick(direct, contrast="post_fsp vs pre_fsp")
    np.testing.assert_allclose(ours["estimate"], want["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ours["se"], want["se"], rtol=1e-12)
    transition = pick(results["rmst"], outcome="time_in_need", cohort="transition", term="rmst")
    assert list(transition["time"]) == [365.0, 730.0]
    # the reference cohort's RMST is reported once per tau
    assert len(pick(results["rmst"], outcome="time_in_need", cohort="pre_fsp")) == 2


def test_differential_impact_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_need")
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])]
    design, adjustment = with_adjustment_terms(pair, adjustment=study_adjustment(CONFIG, Adjustment(flags=False)))
    labels = [label for _, label in COMBINATIONS]
    direct = differential_impact(design, "duration", "event", "cohort", "combination", covariates=adjustment,
                                 cluster="family_id", combinations=labels).tidy("time_in_need",
                                                                                analysis="cox_differential")
    ours = pick(results["differential_impact"], outcome="time_in_need").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, direct)
    assert set(labels) <= set(ours["combination"])
    sparse = ours[ours["method"].str.startswith("not estimable")]
    assert len(sparse) >= 1 and sparse["estimate"].isna().all()  # "All three" is rare in this sample


def test_weighted_cox_uses_propensity_weights(analysis, results):
    df = rows_of(analysis, "time_in_need")
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])].reset_index(drop=True)
    design, covariates = with_adjustment_terms(pair, event=np.ones(len(pair)),
                                               adjustment=study_adjustment(CONFIG, PROPENSITY))
    assert "lockdown_period" not in covariates
    weights = cohort_weights(design, "cohort", covariates)
    design["w"] = weights.weights
    design["post"] = (design["cohort"] == "post_fsp").astype(float)
    fit = cox_ph(design, "duration", "event", ["post"], cluster="family_id", weights="w")
    row = pick(results["weighted"], outcome="time_in_need", analysis="cox_ipw").iloc[0]
    assert row["estimate"] == pytest.approx(np.exp(fit.coef[0]), rel=1e-9)
    assert row["se"] == pytest.approx(fit.se_robust[0], rel=1e-9)
    km = pick(results["weighted"], outcome="time_in_need", analysis="kaplan_meier_ipw", term="survival")
    assert len(km) == 4 and km["method"].str.contains("weighted").all()
    balance = results["balance"][results["balance"]["outcome"] == "time_in_need"]
    assert balance["smd_after"].abs().max() < balance["smd_before"].abs().max() + 0.05


def test_rare_levels_are_pooled_with_the_reference():
    df = plain_strings(simulated_analysis(n_families=120, seed=3))
    df = df[df["outcome"] == "time_in_need"].reset_index(drop=True)
    df.loc[:2, "ethnic_group"] = "Other"  # 3 children only
    _, names = with_adjustment_terms(df)
    assert "ethnic_group[Other]" not in names
    assert "ethnic_group[White]" not in names  # the most common level is the reference
    assert "ethnic_group[Mixed]" in names


def test_tiny_county_gives_not_estimable_rows_not_errors():
    tiny = simulated_analysis(n_families=5, seed=2, cohorts=("pre_fsp", "post_fsp"))
    tiny.loc[tiny["outcome"] == "time_in_care", "event"] = 0
    tiny.loc[tiny["outcome"] == "time_in_care", "cause"] = "censored"
    out = survival_results(tiny, CONFIG)
    care = pick(out["hazard_ratios"], outcome="time_in_care")
    assert care["estimate"].isna().all() and care["method"].str.startswith("not estimable").all()
    transition = pick(out["hazard_ratios"], outcome="time_in_need", term="cohort[transition]")
    assert transition["estimate"].isna().all()
    assert transition["method"].str.contains("no children in cohort transition").all()
    km = pick(out["km_estimates"], outcome="time_in_need", cohort="transition")
    assert len(km) == 1 and km["method"].iloc[0].startswith("not estimable")
    three = pick(out["logrank"], outcome="time_in_need", contrast="pre_fsp vs transition vs post_fsp")
    assert three["method"].str.contains("no children in cohort transition").all()
    assert out["differential_impact"]["method"].str.startswith("not estimable").any()


def test_absent_reference_cohort_and_missing_outcome():
    post_only = simulated_analysis(n_families=30, seed=4, cohorts=("post_fsp",))
    post_only = post_only[post_only["outcome"] != "time_in_care"]
    out = survival_results(post_only, CONFIG, outcomes=["time_in_need", "time_in_care"])
    for name in ("hazard_ratios", "rmst", "differential_impact", "weighted"):
        need = pick(out[name], outcome="time_in_need")
        assert need["method"].str.contains("pre_fsp").any(), name
    assert pick(out["km_estimates"], outcome="time_in_care")["method"].str.contains("no rows").all()


def test_several_local_authorities_stratify_cox_and_logrank():
    two = simulated_analysis(n_families=200, seed=5, las=("931", "825"))
    out = survival_results(two, CONFIG, outcomes=["time_in_need"])
    hr = pick(out["hazard_ratios"], analysis="cox_unadjusted", term="cohort[post_fsp]").iloc[0]
    assert "stratified by la_code" in hr["method"]
    df = rows_of(two, "time_in_need")
    frame, terms = with_cohort_terms(df)
    fit = cox_ph(frame, "duration", "event", terms, strata="la_code", cluster="family_id")
    assert hr["estimate"] == pytest.approx(np.exp(fit.coef[0]), rel=1e-9)
    by_la = pick(out["logrank"], analysis="logrank_by_la_code", term="chisq")
    assert len(by_la) == 2 and by_la["method"].str.contains("stratified by la_code").all()
    # the propensity model gets the local authority as an indicator
    assert out["balance"]["variable"].str.startswith("la_code[").any()


def test_index_assessment_adjustment_is_a_named_sensitivity(analysis):
    """``adjust_for_index_assessment``: the flags and primary need enter the adjusted Cox model."""
    sensitivity = StudyConfig(adjust_for_index_assessment=True)
    assert sensitivity.design == "sensitivity: adjust_for_index_assessment=True"
    out = survival_results(analysis, sensitivity, outcomes=["time_in_need"], times=(365,))
    terms = set(pick(out["hazard_ratios"], analysis="cox_adjusted")["term"])
    assert {"domestic_abuse", "mental_health", "substance_misuse"} <= terms
    assert any(term.startswith("primary_need") for term in terms)


def test_weighted_rmst_is_the_weighted_kaplan_meier_area(analysis, results):
    """``rmst_ipw``: RMST of the propensity-weighted curves (no planned censoring in these rows)."""
    df = rows_of(analysis, "time_in_need")
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])].reset_index(drop=True)
    design, covariates = with_adjustment_terms(pair, event=np.ones(len(pair)),
                                               adjustment=study_adjustment(CONFIG, PROPENSITY))
    design["w"] = cohort_weights(design, "cohort", covariates).weights
    direct = rmst_difference(design, "duration", "event", "cohort", tau=(365, 730), weights="w",
                             cluster="family_id")
    ours = pick(results["weighted"], outcome="time_in_need", analysis="rmst_ipw")
    np.testing.assert_allclose(ours["estimate"], direct["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ours["se"], direct["se"], rtol=1e-12)


def test_every_cohort_hazard_ratio_and_rmst_difference_has_its_evalue(analysis, results):
    from evaluation.survival.evalue import evalue_hazard_ratio, evalue_mean_difference, restricted_time_sd

    e = results["e_values"]
    hr = pick(results["hazard_ratios"], outcome="time_in_need", analysis="cox_adjusted", term="cohort[post_fsp]").iloc[0]
    rare = hr["events"] / hr["n"] < 0.15
    want = evalue_hazard_ratio(hr["estimate"], hr["ci_lower"], hr["ci_upper"], rare)
    got = pick(e, outcome="time_in_need", analysis="cox_adjusted", contrast="post_fsp vs pre_fsp")
    assert got.set_index("term")["estimate"].to_dict() == pytest.approx({"e_value": want.estimate,
                                                                        "e_value_ci": want.ci})
    # every cohort-contrast HR (unadjusted, adjusted, IPW, placebo, per combination) and RMST difference
    for analysis_name in ("cox_unadjusted", "cox_ipw", "cox_placebo", "cox_differential", "rmst", "rmst_ipw",
                          "rmst_placebo"):
        assert len(pick(e, outcome="time_in_need", analysis=analysis_name, term="e_value")), analysis_name
    df = rows_of(analysis, "time_in_need")
    diff = pick(results["rmst"], outcome="time_in_need", contrast="post_fsp vs pre_fsp", time=365.0).iloc[0]
    sd = np.sqrt(np.mean([restricted_time_sd(df[df["cohort"] == c], "duration", "event", 365.0) ** 2
                          for c in ("pre_fsp", "post_fsp")]))
    want = evalue_mean_difference(diff["estimate"], diff["se"], sd)
    got = pick(e, outcome="time_in_need", analysis="rmst", time=365.0, contrast="post_fsp vs pre_fsp")
    assert got.set_index("term")["estimate"].to_dict() == pytest.approx({"e_value": want.estimate,
                                                                        "e_value_ci": want.ci})
    assert (e.loc[e["term"] == "e_value", "estimate"].dropna() >= 1).all()


def test_placebo_contrast_between_two_pre_fsp_entry_years(analysis, results):
    """Second vs first pre-FSP study year: same practice, so no effect is planted here."""
    df = rows_of(analysis, "time_in_need")
    pre = df[df["cohort"] == "pre_fsp"]
    second = pd.Timestamp(CONFIG.pre_fsp_start) + pd.DateOffset(years=1)
    rows = pre[pre["time_zero"] < second + pd.DateOffset(years=1)].reset_index(drop=True)
    rows["placebo[second_year]"] = (rows["time_zero"] >= second).astype(float)
    design, adjustment = with_adjustment_terms(rows, adjustment=study_adjustment(CONFIG))
    fit = cox_ph(design, "duration", "event", ["placebo[second_year]"] + adjustment, cluster="family_id")
    row = pick(results["hazard_ratios"], outcome="time_in_need", analysis="cox_placebo").iloc[0]
    assert row["estimate"] == pytest.approx(np.exp(fit.coef[0]), rel=1e-9)
    assert row["contrast"] == "pre_fsp from 2019-04-01 vs pre_fsp before"
    assert row["ci_lower"] < 1 < row["ci_upper"]
    assert len(pick(results["rmst"], outcome="time_in_need", analysis="rmst_placebo")) == 2


def test_doubly_robust_rmst_difference_equals_direct_call(analysis, results):
    from evaluation.analysis.survival_outcomes import AIPW_SEED
    from evaluation.survival.doubly_robust import aipw_rmst_difference

    df = rows_of(analysis, "time_in_care")        # delayed entry
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])].reset_index(drop=True)
    design, covariates = with_adjustment_terms(pair, event=np.ones(len(pair)),
                                               adjustment=study_adjustment(CONFIG, PROPENSITY))
    direct = aipw_rmst_difference(design, "duration", "event", "cohort", covariates, tau=(365, 730),
                                  reference="pre_fsp", comparison="post_fsp", cluster="family_id",
                                  n_boot=BOOT, seed=AIPW_SEED, entry="entry", outcome="time_in_care")
    ours = pick(results["weighted"], outcome="time_in_care", analysis="rmst_aipw").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, direct)


def test_factor_prevalence_step_check_equals_the_segmented_regression(analysis, results):
    from evaluation.analysis.factor_prevalence import monthly_prevalence
    from evaluation.timeseries import segmented_regression

    monthly = monthly_prevalence(analysis)
    entries = analysis.drop_duplicates(["la_code", "child_id", "time_zero"])
    assert monthly.groupby("series")["exposure"].sum().eq(len(entries)).all()
    assert monthly.loc[monthly["series"] == "domestic_abuse_prevalence", "count"].sum() == entries[
        "domestic_abuse"].sum()
    lockdowns = [(str(a), str(b)) for a, b in CONFIG.lockdown_periods]
    direct = segmented_regression(monthly, go_live=str(CONFIG.go_live), lockdowns=lockdowns, family="poisson")
    ours = results["factor_prevalence"]
    np.testing.assert_allclose(ours["estimate"], direct["estimate"], rtol=1e-12)
    level = pick(ours, outcome="any_of_three_prevalence", term="level_change").iloc[0]
    assert level["analysis"] == "factor_prevalence" and level["ci_lower"] < level["estimate"] < level["ci_upper"]
    assert level["n"] == len(entries) and level["events"] == entries[
        ["domestic_abuse", "mental_health", "substance_misuse"]].any(axis=1).sum()


# -- memory at twenty councils (issue #20) ------------------------------------------------------


def test_censoring_weight_pieces_in_blocks_and_with_only_the_kept_columns(monkeypatch):
    """The IPCW pieces' weights computed a block of pieces at a time (the covariates of every piece
    are never held at once) are bitwise those of one block, and ``keep`` copies only the named
    columns onto the pieces, with the same values as the full split."""
    from evaluation.survival import censoring_weights as module

    rng = np.random.default_rng(7)
    n = 900
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": (rng.random(n) < 0.4).astype(float),
                          "x3": rng.integers(0, 5, n).astype(float),
                          "family_id": [f"f{i // 2:04d}" for i in range(n)],
                          "cohort": rng.choice(["pre_fsp", "post_fsp"], n), "entry": 0.0})
    planned = rng.random(n) < 0.6
    censor = np.where(planned, rng.uniform(40, 900, n).round(), np.inf)
    latent = np.ceil(rng.exponential(300, n))
    frame["go_live_day"] = censor
    frame["duration"] = np.minimum(latent, np.where(planned, censor, 1200.0))
    frame["event"] = (latent <= frame["duration"]).astype(int)
    frame.loc[frame.index[:50], "entry"] = np.floor(frame["duration"].to_numpy()[:50] * 0.5)
    grid = np.arange(30.0, 1230.0, 30.0)
    args = (frame, "duration", "event", "go_live_day", ["x1", "x2", "x3"], grid)
    whole = module.censoring_weights(*args, entry="entry")
    assert len(whole) > 5 * 128
    monkeypatch.setattr(module, "_PIECE_BLOCK", 128)
    blocks = module.censoring_weights(*args, entry="entry")
    pd.testing.assert_frame_equal(blocks, whole, check_exact=True)
    kept = module.censoring_weights(*args, entry="entry", keep=["cohort", "family_id"])
    assert list(kept.columns) == ["cohort", "family_id", "duration", "event", module.START, module.WEIGHT]
    pd.testing.assert_frame_equal(kept, whole[list(kept.columns)], check_exact=True)


def test_pooled_sorts_its_input_in_place_and_changes_no_value():
    """assets.analysis.pooled puts an input (every LA's rows, in whatever order they were loaded)
    in its stable order in place, so the step holds one copy; the values, dtypes and missing values
    (None, NaN) are the sorted input's, and survival_results on it equals that on a sorted copy."""
    from assets.analysis import pooled

    analysis = simulated_analysis(n_families=120, seed=3, las=("931", "932"))
    loaded = analysis.astype({c: object for c in analysis.columns if str(analysis[c].dtype) == "string"})
    loaded["cause"] = loaded["cause"].where(loaded["cause"] != "censored", None)
    loaded.loc[loaded.index[:3], "cause"] = np.nan
    loaded = loaded.sample(frac=1.0, random_state=5)         # the LAs' rows in another order
    sorted_loaded = loaded.sort_values(["la_code", "family_id", "child_id", "outcome"], kind="mergesort",
                                       ignore_index=True)
    frame = loaded.copy()
    assert pooled("analysis_dataset", frame) is frame
    pd.testing.assert_frame_equal(frame, sorted_loaded, check_exact=True)
    assert [v is None for v in frame["cause"]] == [v is None for v in sorted_loaded["cause"]]
    expected = survival_results(sorted_loaded, CONFIG, times=(91, 365), n_boot=5)
    ours = survival_results(pooled("analysis_dataset", loaded.copy()), CONFIG, times=(91, 365), n_boot=5)
    for name in TABLES:
        pd.testing.assert_frame_equal(ours[name], expected[name], check_exact=True)
