"""competing_results: CIFs, Gray's tests, cause-specific Cox and Fine–Gray are direct estimator calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.competing_exits import CURVE_COLUMNS, TABLES, competing_results
from evaluation.analysis.design import (
    FLAGS, INDEX_ASSESSMENT, Adjustment, study_adjustment, with_adjustment_terms, with_cohort_terms,
)
from evaluation.study import StudyConfig
from evaluation.results import RESULT_COLUMNS
from evaluation.survival.competing import cif_table, cumulative_incidence, gray_test
from evaluation.survival.finegray import cause_specific_cox, fine_gray
from test_analysis_survival import pick, rows_of, simulated_analysis

CONFIG = StudyConfig()


@pytest.fixture(scope="module")
def analysis() -> pd.DataFrame:
    return simulated_analysis(n_families=300, seed=11)


@pytest.fixture(scope="module")
def results(analysis) -> dict[str, pd.DataFrame]:
    return competing_results(analysis, CONFIG, times=(91, 365))


def test_tables_and_columns(results):
    assert list(results) == list(TABLES)
    assert list(results["cif_curves"].columns)[:5] == list(CURVE_COLUMNS)
    assert {"n_event_step_down", "cif_return_home", "upper_permanence"} <= set(results["cif_curves"].columns)
    for name in ("cif", "gray_test", "cause_specific_cox", "fine_gray", "competing_e_values"):
        assert list(results[name].columns) == list(RESULT_COLUMNS)
        assert set(results[name]["outcome"]) == {"time_in_protection", "time_in_care"}


def test_cif_equals_cif_table(analysis, results):
    df = rows_of(analysis, "time_in_care")  # with delayed entry
    direct = cif_table(df, "duration", "cause", entry="entry", cluster="family_id", cohort="cohort",
                       combination="combination", times=(91, 365), outcome="time_in_care")
    ours = pick(results["cif"], outcome="time_in_care")
    by_cohort = ours[ours["cohort"].notna() | (ours["combination"] == "all")].reset_index(drop=True)
    pd.testing.assert_frame_equal(by_cohort, direct)
    by_combination = ours[ours["cohort"].isna() & (ours["combination"] != "all")]
    assert len(by_combination) and set(by_combination["combination"]) <= set(df["combination"])
    # curves are the full Aalen-Johansen step tables
    fit = cumulative_incidence(df[df["cohort"] == "pre_fsp"], "duration", "cause", entry="entry",
                               cluster="family_id", causes=["other", "permanence", "return_home"])
    curve = pick(results["cif_curves"], outcome="time_in_care", cohort="pre_fsp")
    np.testing.assert_allclose(curve["cif_permanence"], fit.steps["cif_permanence"])
    np.testing.assert_allclose(curve["se_permanence"], fit.steps["se_permanence"])
    assert curve["n_event_step_down"].isna().all()  # a route of the other outcome


def test_curves_feed_the_release_steps_safe_curves(results):
    from evaluation.disclosure.curves import safe_curve

    curves = results["cif_curves"]
    care = curves[curves["outcome"] == "time_in_care"].dropna(axis=1, how="all")
    safe = safe_curve(care, grid=91, by=["outcome", "cohort"])
    assert set(safe["cause"]) == {"other", "permanence", "return_home"}
    assert (safe["time"] % 91 == 0).all()


def test_gray_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_protection")
    pair = df[df["cohort"].isin(["pre_fsp", "post_fsp"])]
    direct = gray_test(pair, "duration", "cause", "cohort")
    ours = pick(results["gray_test"], outcome="time_in_protection", contrast="post_fsp vs pre_fsp")
    assert list(ours["term"]) == list(direct["term"])
    np.testing.assert_allclose(ours["statistic"], direct["statistic"], rtol=1e-12)
    three = pick(results["gray_test"], outcome="time_in_protection", contrast="pre_fsp vs transition vs post_fsp")
    assert three["method"].str.contains("2 df").all()


def test_cause_specific_cox_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_protection")
    frame, terms = with_cohort_terms(df)
    fit = cause_specific_cox(frame, "duration", "cause", "step_down", terms, cluster="family_id")
    row = pick(results["cause_specific_cox"], analysis="cause_specific_cox_unadjusted",
               term="step_down: cohort[post_fsp]").iloc[0]
    assert row["contrast"] == "post_fsp vs pre_fsp"
    assert row["estimate"] == pytest.approx(np.exp(fit.coef[0]), rel=1e-9)
    assert row["se"] == pytest.approx(fit.se_robust[0], rel=1e-9)
    assert row["method"].startswith("cause-specific Cox for exit by step_down")
    # planted: post-FSP halves the step-down hazard
    assert row["ci_lower"] < 0.5 < row["ci_upper"]

    event = ((df["cause"] == "closure") & (df["event"] == 1)).to_numpy(dtype=int)
    adjusted, extra = with_adjustment_terms(frame, event=event, adjustment=study_adjustment(CONFIG))
    fit = cause_specific_cox(adjusted, "duration", "cause", "closure", terms + extra, cluster="family_id")
    rows = pick(results["cause_specific_cox"], analysis="cause_specific_cox_adjusted")
    rows = rows[rows["term"].str.startswith("closure: ")]
    assert list(rows["term"]) == [f"closure: {t}" for t in terms + extra]
    np.testing.assert_allclose(rows["estimate"], np.exp(fit.coef), rtol=1e-9)


def test_fine_gray_equals_direct_call(analysis, results):
    df = rows_of(analysis, "time_in_care")
    frame, terms = with_cohort_terms(df)
    event = ((df["cause"] == "return_home") & (df["event"] == 1)).to_numpy(dtype=int)
    adjusted, extra = with_adjustment_terms(frame, event=event,
                                            adjustment=study_adjustment(CONFIG, Adjustment(la_indicators=True)))
    fit = fine_gray(adjusted, "duration", "cause", "return_home", terms + extra, entry="entry", cluster="family_id")
    rows = pick(results["fine_gray"], outcome="time_in_care", analysis="fine_gray_adjusted")
    rows = rows[rows["term"].str.startswith("return_home: ")]
    np.testing.assert_allclose(rows["estimate"], np.exp(fit.coef), rtol=1e-9)
    np.testing.assert_allclose(rows["se"], fit.se, rtol=1e-9)
    assert rows["method"].str.contains("delayed entry").all()


def _index_assessment_terms(table: pd.DataFrame) -> set[str]:
    terms = table["term"].dropna().str.split(": ", n=1).str[1]
    return {t for t in terms if t in FLAGS or t.split("[")[0] in INDEX_ASSESSMENT}


def test_adjusted_models_hold_no_index_assessment_factor(analysis, results):
    """Baseline means before time zero: the index assessment's flags and primary need are recorded
    after it, so the adjusted models leave them out unless the design says otherwise."""
    adjusted = {"cause_specific_cox": "cause_specific_cox_adjusted", "fine_gray": "fine_gray_adjusted"}
    for table, name in adjusted.items():
        rows = pick(results[table], analysis=name)
        assert rows["estimate"].notna().any()
        assert _index_assessment_terms(rows) == set()
    # the sensitivity adjust_for_index_assessment=True puts them back (so the check above can fail)
    sensitivity = competing_results(analysis, StudyConfig(adjust_for_index_assessment=True), times=(91, 365))
    for table, name in adjusted.items():
        assert _index_assessment_terms(pick(sensitivity[table], analysis=name)) & set(FLAGS)


def test_route_absent_in_one_cohort_is_not_estimable():
    data = simulated_analysis(n_families=200, seed=12)
    never = (data["outcome"] == "time_in_care") & (data["cohort"] == "post_fsp") & (data["cause"] == "other")
    data.loc[never, ["event", "cause"]] = [0, "censored"]
    out = competing_results(data, CONFIG, times=(365,), outcomes={"time_in_care": ("return_home", "other")})
    rows = pick(out["fine_gray"], outcome="time_in_care", term="other: cohort[post_fsp]")
    assert rows["estimate"].isna().all() and rows["method"].str.startswith("not estimable").all()
    cs = pick(out["cause_specific_cox"], outcome="time_in_care", term="other: cohort[post_fsp]")
    assert cs["estimate"].isna().all() and cs["method"].str.contains("not estimable").all()


def test_tiny_or_empty_outcomes_do_not_crash():
    tiny = simulated_analysis(n_families=4, seed=13, cohorts=("post_fsp",))
    tiny = tiny[tiny["outcome"] != "time_in_care"]
    out = competing_results(tiny, CONFIG)
    care = pick(out["gray_test"], outcome="time_in_care")
    assert len(care) == 1 and care["method"].iloc[0] == "not estimable: no rows for this outcome"
    protection = pick(out["cause_specific_cox"], outcome="time_in_protection")
    assert protection["method"].str.contains("reference cohort pre_fsp").all()


def test_step_down_is_modelled_only_where_it_can_be_seen():
    """Pre-FSP CP plans that ended before CIN plan dates were collected have an unknown route
    (step_down_or_other). Counting them as neither biases the step-down HR upwards; entering the
    plans at route_entry recovers the planted HR (0.5), while closure keeps all follow-up."""
    from evaluation.analysis.competing_exits import from_route_entry

    df = rows_of(simulated_analysis(n_families=1500, seed=5), "time_in_protection").reset_index(drop=True)
    pre = (df["cohort"] == "pre_fsp").to_numpy()
    df.loc[pre, "route_entry"] = 120.0
    unseen = pre & (df["duration"] < 120).to_numpy() & df["cause"].isin(["step_down", "other"]).to_numpy()
    df.loc[unseen, "cause"] = "step_down_or_other"
    assert unseen.sum() > 50
    out = competing_results(df, CONFIG, times=(365,), outcomes={"time_in_protection": ("step_down", "closure")})

    def post_hr(cause, table=out["cause_specific_cox"]):
        row = table[(table["analysis"] == "cause_specific_cox_unadjusted")
                    & (table["term"] == f"{cause}: cohort[post_fsp]")]
        return float(row["estimate"].iloc[0])

    frame, terms = with_cohort_terms(df)
    naive = cause_specific_cox(frame, "duration", "cause", "step_down", terms, entry="entry", cluster="family_id")
    closure = cause_specific_cox(frame, "duration", "cause", "closure", terms, entry="entry", cluster="family_id")
    routed_log_hr = np.log(post_hr("step_down"))
    assert abs(routed_log_hr - np.log(0.5)) < 0.2
    assert naive.coef[terms.index("cohort[post_fsp]")] > routed_log_hr + 0.2
    assert post_hr("closure") == pytest.approx(np.exp(closure.coef[terms.index("cohort[post_fsp]")]), rel=1e-9)
    assert "step_down_or_other" not in set(out["cif"]["term"].dropna())
    routed = from_route_entry(df, CONFIG.same_day_days)
    assert len(routed) == int((df["duration"] >= df["route_entry"]).sum())
    assert (routed["entry"] == routed["route_entry"]).all() and (routed["duration"] > routed["entry"]).all()


def test_every_cohort_hazard_ratio_has_an_e_value(results):
    from evaluation.survival.evalue import evalue_hazard_ratio

    models = pd.concat([results["cause_specific_cox"], results["fine_gray"]], ignore_index=True)
    cohort_rows = models[models["contrast"].notna() & models["estimate"].notna()]
    e_values = results["competing_e_values"]
    point = e_values[e_values["term"].str.endswith(": e_value")]
    assert len(point) == len(cohort_rows) and len(cohort_rows) > 10
    for row in cohort_rows.itertuples():
        route = row.term.split(": ")[0]
        mine = point[(point["analysis"] == row.analysis) & (point["outcome"] == row.outcome)
                     & (point["contrast"] == row.contrast) & (point["term"] == f"{route}: e_value")]
        assert len(mine) == 1
        expected = evalue_hazard_ratio(row.estimate, row.ci_lower, row.ci_upper, rare=row.events / row.n < 0.15)
        assert mine["estimate"].item() == pytest.approx(expected.estimate, rel=1e-12)
        limit = e_values[(e_values["analysis"] == row.analysis) & (e_values["outcome"] == row.outcome)
                         & (e_values["contrast"] == row.contrast) & (e_values["term"] == f"{route}: e_value_ci")]
        assert limit["estimate"].item() == pytest.approx(expected.ci, rel=1e-12)
