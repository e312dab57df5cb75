"""Aalen–Johansen cumulative incidence and Gray's test against R (survival 3.5, cmprsk 2.2).

Reference numbers: tests/reference/competing/make_reference.R (see make_inputs.py for the data).
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
from evaluation.survival.competing import (
    cif_table,
    cumulative_incidence,
    cumulative_incidence_by,
    gray_test,
    gray_tests,
)

REFERENCE = Path(__file__).parent / "reference" / "competing"
CAUSES = ["closure", "escalation_care", "other", "step_down"]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "children.csv")


def as_float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_matches_survfit(fit, expected: dict) -> None:
    steps = fit.steps
    np.testing.assert_array_equal(steps["time"], expected["time"])
    np.testing.assert_array_equal(steps["n_risk"], expected["n_risk"])
    np.testing.assert_array_equal(steps["n_censor"], expected["n_censor"])
    for cause in CAUSES:
        np.testing.assert_array_equal(steps[f"n_event_{cause}"], expected[f"n_event_{cause}"])
        np.testing.assert_allclose(steps[f"cif_{cause}"], expected[f"cif_{cause}"], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(steps[f"se_{cause}"], expected[f"se_{cause}"], rtol=1e-4, atol=1e-12)
        for limit in ("lower", "upper"):
            np.testing.assert_allclose(
                steps[f"{limit}_{cause}"], as_float(expected[f"{limit}_{cause}"]), rtol=1e-4, equal_nan=True
            )


@pytest.mark.parametrize(
    "key, kwargs",
    [
        ("survfit_no_entry", {}),
        ("survfit_entry", {"entry": "entry"}),
        ("survfit_entry_90", {"entry": "entry", "conf_level": 0.90}),
        ("survfit_entry_cluster", {"entry": "entry", "cluster": "family"}),
        ("survfit_entry_weighted", {"entry": "entry", "weights": "case_weight"}),
        ("survfit_entry_weighted_cluster", {"entry": "entry", "weights": "case_weight", "cluster": "family"}),
    ],
)
def test_cif_matches_multistate_survfit(children, reference, key, kwargs):
    children = children.assign(case_weight=0.5 + (children["id"] % 4) / 2)  # as in make_reference.R
    fit = cumulative_incidence(children, "duration", "cause", **kwargs)
    assert fit.causes == tuple(CAUSES)
    assert_matches_survfit(fit, reference[key])


def test_family_clustering_changes_the_standard_errors(children):
    plain = cumulative_incidence(children, "duration", "cause", entry="entry").steps
    clustered = cumulative_incidence(children, "duration", "cause", entry="entry", cluster="family").steps
    np.testing.assert_array_equal(plain["cif_step_down"], clustered["cif_step_down"])
    assert not np.allclose(plain["se_step_down"], clustered["se_step_down"], rtol=1e-3)


def test_per_cohort_fits_match_stratified_survfit(children, reference):
    fits = cumulative_incidence_by(children, "duration", "cause", "cohort", entry="entry")
    assert sorted(fits) == sorted(reference["survfit_entry_by_cohort"])
    for cohort, fit in fits.items():
        assert fit.causes == tuple(CAUSES)  # every cohort carries every cause
        assert_matches_survfit(fit, reference["survfit_entry_by_cohort"][cohort])


def test_estimates_match_cmprsk_cuminc(children, reference):
    fit = cumulative_incidence(children, "duration", "cause")
    for cause in CAUSES:
        curve = reference["cuminc_overall"][f"1 {cause}"]
        # cuminc lists each jump twice (before, after); keep the value after the jump
        after = pd.DataFrame({"time": curve["time"], "est": curve["est"]}).groupby("time")["est"].last()
        after = after[after.index > 0]
        ours = fit.at(after.index.to_numpy())
        ours = ours[ours["cause"] == cause]
        np.testing.assert_allclose(ours["cif"], after.to_numpy(), rtol=1e-6, atol=1e-12)


def test_without_censoring_cif_is_the_empirical_proportion():
    frame = pd.DataFrame(
        {"days": [3, 3, 5, 5, 5, 8, 9, 9], "route": ["a", "b", "a", "a", "b", "b", "a", "a"]}
    )
    fit = cumulative_incidence(frame, "days", "route")
    at = fit.at([3, 5, 8, 9]).pivot(index="time", columns="cause", values="cif")
    days = frame["days"].to_numpy()
    for cause in ("a", "b"):
        expected = [np.mean((days <= t) & (frame["route"] == cause)) for t in (3, 5, 8, 9)]
        np.testing.assert_allclose(at[cause], expected, rtol=1e-12)


def test_single_cause_is_one_minus_kaplan_meier(children):
    from lifelines import KaplanMeierFitter

    single = children.assign(exit=(children["cause"] != "censored").astype(int))  # 0 = censored
    steps = cumulative_incidence(single, "duration", "exit").steps
    km = KaplanMeierFitter().fit(single["duration"], single["exit"])
    np.testing.assert_allclose(steps["cif_1"], 1 - km.survival_function_at_times(steps["time"]), rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_row_order_does_not_change_the_fit(children, seed):
    # lifelines breaks ties with random jitter; this estimator must be deterministic
    shuffled = children.sample(frac=1.0, random_state=seed)
    a = cumulative_incidence(children, "duration", "cause", entry="entry", cluster="family").steps
    b = cumulative_incidence(shuffled, "duration", "cause", entry="entry", cluster="family").steps
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_at_reads_the_step_function(children):
    fit = cumulative_incidence(children, "duration", "cause", entry="entry")
    steps = fit.steps
    t0, t1 = steps["time"].iloc[10], steps["time"].iloc[11]
    table = fit.at([1, t0, (t0 + t1) / 2, steps["time"].iloc[-1] + 1])
    step_down = table[table["cause"] == "step_down"].reset_index(drop=True)
    assert step_down.loc[0, "cif"] == 0 and step_down.loc[0, "se"] == 0
    assert step_down.loc[1, "cif"] == steps["cif_step_down"].iloc[10]
    assert step_down.loc[2, "cif"] == steps["cif_step_down"].iloc[10]
    assert step_down.loc[2, "events"] == steps["n_event_step_down"].iloc[:11].sum()
    assert np.isnan(step_down.loc[3, "cif"])


def test_cif_table_is_tidy_by_cohort_and_combination(children):
    table = cif_table(
        children, "duration", "cause", entry="entry", cluster="family", cohort="cohort",
        combination="combination", outcome="time_in_protection",
    )
    assert tuple(table.columns) == RESULT_COLUMNS
    n_cells = 1 + children["cohort"].nunique() + children.groupby(["cohort", "combination"]).ngroups
    assert len(table) == n_cells * len(CAUSES) * 4
    assert set(table["time"]) == {91.0, 182.0, 365.0, 730.0}
    row = table[
        (table["cohort"] == "post_fsp") & (table["combination"] == "DA") & (table["term"] == "closure")
        & (table["time"] == 365)
    ].iloc[0]
    part = children[(children["cohort"] == "post_fsp") & (children["combination"] == "DA")]
    fit = cumulative_incidence(part, "duration", "cause", entry="entry", cluster="family", causes=CAUSES)
    expected = fit.at([365]).set_index("cause").loc["closure"]
    assert row["estimate"] == pytest.approx(expected["cif"], rel=1e-12)
    assert row["se"] == pytest.approx(expected["se"], rel=1e-12)
    assert row["n"] == len(part)
    overall = table[table["cohort"].isna() & (table["combination"] == "all")]
    assert len(overall) == len(CAUSES) * 4


def test_bad_input_is_refused(children):
    with pytest.raises(ValueError, match="entry < duration"):
        cumulative_incidence(children.assign(entry=children["duration"]), "duration", "cause", entry="entry")
    with pytest.raises(ValueError, match="causes not in"):
        cumulative_incidence(children, "duration", "cause", causes=["closure"])
    with pytest.raises(ValueError, match="positive"):
        cumulative_incidence(children.assign(w=0.0), "duration", "cause", weights="w")
    with pytest.raises(ValueError, match="family has missing values"):
        cumulative_incidence(children.assign(family=np.nan), "duration", "cause", cluster="family")


@pytest.mark.parametrize(
    "key, kwargs, subset",
    [
        ("gray_cohort", {}, None),
        ("gray_cohort_by_locality", {"strata": "locality"}, None),
        ("gray_cohort_rho1", {"rho": 1.0}, None),
        ("gray_two_cohorts", {}, "two"),
    ],
)
def test_gray_test_matches_cuminc(children, reference, key, kwargs, subset):
    data = children[children["cohort"] != "transition"] if subset == "two" else children
    results = gray_tests(data, "duration", "cause", "cohort", **kwargs)
    expected = reference[key]
    assert [r.cause for r in results] == expected["cause"]
    np.testing.assert_allclose([r.statistic for r in results], expected["stat"], rtol=1e-6)
    np.testing.assert_allclose([r.p_value for r in results], expected["pv"], rtol=1e-4)
    assert [r.df for r in results] == expected["df"]


def test_gray_test_table(children, reference):
    table = gray_test(children, "duration", "cause", "cohort", outcome="time_in_protection")
    assert tuple(table.columns) == RESULT_COLUMNS
    assert list(table["term"]) == CAUSES
    np.testing.assert_allclose(table["statistic"], reference["gray_cohort"]["stat"], rtol=1e-6)
    assert table["contrast"].iloc[0] == "post_fsp vs pre_fsp vs transition"
    assert table.loc[table["term"] == "step_down", "events"].iloc[0] == (children["cause"] == "step_down").sum()


def test_gray_test_needs_two_groups(children):
    with pytest.raises(ValueError, match="two groups"):
        gray_test(children.assign(one="x"), "duration", "cause", "one")
