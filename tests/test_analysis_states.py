"""state_results: days in each state and proportions reaching, equal to the multistate tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.states import entry_covariates, follow_up_to, on_intervals, state_results
from evaluation.results import RESULT_COLUMNS
from evaluation.study import StudyConfig
from evaluation.survival.multistate import expected_days_table, proportion_reaching_table

CONFIG = StudyConfig()
#: state -> (next states, their weights, mean days in the state)
MOVES = {
    "referral": (("cin_plan", "closed"), (0.6, 0.4), 40),
    "cin_plan": (("cp_plan", "closed"), (0.25, 0.75), 200),
    "cp_plan": (("care", "cin_plan", "closed"), (0.2, 0.6, 0.2), 250),
    "care": (("closed",), (1.0,), 500),
    "closed": (("referral",), (1.0,), 700),
}


def simulated_journeys(n_families: int = 150, seed: int = 3, cohorts=("pre_fsp", "transition", "post_fsp"),
                       allowed=tuple(MOVES)) -> pd.DataFrame:
    """Journeys from the index referral, siblings together, censored between 300 and 1500 days."""
    rng = np.random.default_rng(seed)
    rows = []
    for family in range(n_families):
        cohort = cohorts[rng.integers(len(cohorts))]
        size = rng.choice([1, 1, 2, 3])
        end = rng.uniform(300, 1500)
        state, t, path = "referral", 0.0, []
        while True:
            targets, weights, mean = MOVES[state]
            keep = [i for i, s in enumerate(targets) if s in allowed]
            stay = np.ceil(rng.exponential(mean * (0.7 if cohort == "post_fsp" else 1.0)))
            if t + stay >= end or not keep:
                path.append((t, np.floor(end) if np.floor(end) > t else t + 1, state, "censored"))
                break
            p = np.asarray(weights)[keep] / np.sum(np.asarray(weights)[keep])
            nxt = targets[keep[rng.choice(len(keep), p=p)]]
            path.append((t, t + stay, state, nxt))
            t, state = t + stay, nxt
        for child in range(size):
            for tstart, tstop, origin, to in path:
                rows.append({"id": f"931:f{family}c{child}", "cluster": f"931:f{family}", "group": cohort,
                             "tstart": tstart, "tstop": tstop, "from_state": origin, "to_state": to,
                             "la_code": "931", "child_id": f"f{family}c{child}", "family_id": f"f{family}"})
    out = pd.DataFrame(rows)
    out["group"] = out["group"].astype("string")
    return out


@pytest.fixture(scope="module")
def journeys() -> pd.DataFrame:
    return simulated_journeys()


@pytest.fixture(scope="module")
def results(journeys):
    return state_results(journeys, CONFIG, n_boot=40, seed=7)


def test_tables_are_tidy(results):
    assert set(results) == {"expected_days", "proportion_reaching", "state_e_values", "state_balance"}
    assert results["state_balance"].empty
    for name, table in results.items():
        if name == "state_balance":
            continue
        assert list(table.columns) == list(RESULT_COLUMNS)
        if name != "state_e_values":   # without the analysis dataset: unadjusted days only, no E-values
            assert not table["method"].str.startswith("not estimable").any()
    assert results["state_e_values"]["method"].str.startswith("not estimable: no analysis dataset").all()


def test_expected_days_equal_the_multistate_table_on_full_follow_up(journeys, results):
    plain = journeys.assign(group=journeys["group"].astype(object))
    assert (plain["tstop"] > 730).any()  # follow-up beyond the largest tau is cut by the layer
    direct = expected_days_table(plain, taus=(365, 730), n_boot=40, seed=7)
    ours = results["expected_days"]
    pd.testing.assert_frame_equal(ours[["outcome", "cohort", "contrast", "time"]],
                                  direct[["outcome", "cohort", "contrast", "time"]])
    np.testing.assert_allclose(ours["estimate"], direct["estimate"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours["ci_lower"], direct["ci_lower"], rtol=1e-10, atol=1e-10)
    diff = ours[ours["contrast"] == "post_fsp vs pre_fsp"]
    assert len(diff) == 2 * 5  # two taus x five states


def test_proportions_reaching_equal_the_multistate_tables(journeys, results):
    plain = journeys.assign(group=journeys["group"].astype(object))
    ours = results["proportion_reaching"]
    assert set(ours["outcome"]) == {"reached_cp_plan", "reached_care", "reached_cp_plan_or_care"}
    for targets in (("cp_plan",), ("cp_plan", "care")):
        direct = proportion_reaching_table(plain, taus=(365, 730), states=targets, n_boot=40, seed=7)
        mine = ours[ours["outcome"] == direct["outcome"].iloc[0]]
        np.testing.assert_allclose(mine["estimate"], direct["estimate"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mine["ci_upper"], direct["ci_upper"], rtol=1e-10, atol=1e-12)


def test_follow_up_to_censors_at_the_horizon():
    intervals = pd.DataFrame({"id": ["a", "a", "b"], "tstart": [0.0, 500.0, 0.0], "tstop": [500.0, 900.0, 1000.0],
                              "from_state": ["referral", "cin_plan", "referral"],
                              "to_state": ["cin_plan", "closed", "censored"]})
    cut = follow_up_to(intervals, 730)
    assert cut["tstop"].tolist() == [500.0, 730.0, 730.0]
    assert cut["to_state"].tolist() == ["cin_plan", "censored", "censored"]
    assert len(follow_up_to(intervals, 400)) == 2


def test_sparse_journeys_give_rows_not_errors():
    empty = simulated_journeys(1).iloc[0:0]
    out = state_results(empty, CONFIG, n_boot=5)
    assert all(out[name]["method"].str.startswith("not estimable").all()
               for name in ("expected_days", "proportion_reaching", "state_e_values"))
    assert out["state_balance"].empty

    no_care = simulated_journeys(40, seed=5, cohorts=("post_fsp",), allowed=("referral", "cin_plan", "closed"))
    out = state_results(no_care, CONFIG, n_boot=5)
    reaching = out["proportion_reaching"]
    care = reaching[reaching["outcome"] == "reached_care"]
    assert len(care) == 1 and care["method"].iloc[0].startswith("not estimable: nobody reached care")
    assert out["expected_days"]["contrast"].isna().all()  # one cohort: no post - pre rows


def test_weights_column_reaches_every_estimate(journeys):
    """An inverse-probability-style weight column weights the estimates and the bootstrap alike."""
    rng = np.random.default_rng(0)
    family_weight = {f: w for f, w in zip(journeys["cluster"].unique(),
                                          rng.uniform(0.3, 3.0, journeys["cluster"].nunique()))}
    weighted = journeys.assign(ipw=journeys["cluster"].map(family_weight))
    ours = state_results(weighted, CONFIG, n_boot=20, seed=7, weights="ipw")
    plain = weighted.assign(group=weighted["group"].astype(object))
    direct = expected_days_table(follow_up_to(plain, 730), taus=(365, 730), n_boot=20, seed=7, weights="ipw")
    np.testing.assert_allclose(ours["expected_days"]["estimate"], direct["estimate"], rtol=1e-10)
    np.testing.assert_allclose(ours["expected_days"]["ci_upper"], direct["ci_upper"], rtol=1e-10)
    unweighted = state_results(weighted, CONFIG, n_boot=20, seed=7)
    assert not np.allclose(ours["expected_days"]["estimate"], unweighted["expected_days"]["estimate"])
    with pytest.raises(ValueError, match="lack the weights column 'nope'"):
        state_results(weighted, CONFIG, n_boot=5, weights="nope")


# --- adjusted days: IPW and doubly robust, with the entries of an analysis dataset ----------------


def entries_of(journeys: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """An analysis dataset for the journeys: two outcome rows per entry, baseline covariates that
    differ by cohort (post-FSP children younger), index-assessment flags that must not be used."""
    rng = np.random.default_rng(seed)
    entries = journeys.drop_duplicates("id")[["la_code", "child_id", "family_id", "group"]].reset_index(drop=True)
    post = (entries["group"] == "post_fsp").to_numpy()
    n = len(entries)
    frame = pd.DataFrame({
        "la_code": entries["la_code"], "child_id": entries["child_id"], "family_id": entries["family_id"],
        "cohort": entries["group"].astype(str),
        "time_zero": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        "age_band": np.where(rng.random(n) < np.where(post, 0.6, 0.3), "1-4", "10-15"),
        "sex": rng.choice(["F", "M"], n), "ethnic_group": rng.choice(["White", "Mixed"], n, p=[0.8, 0.2]),
        "referral_source_group": rng.choice(["Police", "Education"], n),
        "family_size": entries.groupby("family_id")["child_id"].transform("size").to_numpy(dtype=float),
        "prior_cin_episodes": 0.0, "lockdown_period": 0.0,
        "primary_need": rng.choice(["N1", "N2"], n),
        "domestic_abuse": rng.random(n) < 0.3, "mental_health": rng.random(n) < 0.3,
        "substance_misuse": rng.random(n) < 0.2})
    return pd.concat([frame.assign(outcome="time_in_need"), frame.assign(outcome="time_to_care")],
                     ignore_index=True)


@pytest.fixture(scope="module")
def analysis(journeys) -> pd.DataFrame:
    return entries_of(journeys)


@pytest.fixture(scope="module")
def adjusted(journeys, analysis):
    return state_results(journeys, CONFIG, n_boot=30, seed=7, analysis=analysis)


def test_entries_map_onto_their_intervals(journeys, analysis):
    entries, covariates = entry_covariates(analysis, CONFIG)
    assert len(entries) == journeys[journeys["group"] != "transition"]["id"].nunique()  # one row per entry
    assert not {"domestic_abuse", "primary_need[N2]"} & set(covariates)                 # baseline only
    assert {"age_band[1-4]", "family_size"} <= set(covariates)
    mapped = on_intervals(journeys, entries, covariates)
    assert len(mapped) == len(journeys) and (mapped.index == journeys.index).all()
    expect = entries.set_index("child_id")["family_size"]
    pre_post = (journeys["group"] != "transition").to_numpy()
    np.testing.assert_array_equal(mapped.loc[pre_post, "family_size"],
                                  expect.reindex(journeys.loc[pre_post, "child_id"]).to_numpy())
    assert mapped.loc[~pre_post, "family_size"].isna().all()       # transition journeys: no entry here
    twice = pd.concat([entries, entries.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="two entries of one child in one cohort"):
        on_intervals(journeys, twice, covariates)


def test_adjusted_days_equal_the_estimator_on_the_mapped_entries(journeys, analysis, adjusted):
    from evaluation.survival.adjusted_states import AIPW_ANALYSIS, IPW_ANALYSIS, adjusted_expected_days

    entries, covariates = entry_covariates(analysis, CONFIG)
    data = follow_up_to(journeys.assign(group=journeys["group"].astype(object)), 730)
    data = on_intervals(data[data["group"] != "transition"], entries, covariates)
    direct = adjusted_expected_days(data, data[["id"] + covariates], covariates, taus=(365, 730), n_boot=30,
                                    seed=7).table
    table = adjusted["expected_days"]
    ours = table[table["analysis"].isin([IPW_ANALYSIS, AIPW_ANALYSIS])].reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, direct)
    assert set(ours.loc[ours["contrast"].notna(), "analysis"]) == {IPW_ANALYSIS, AIPW_ANALYSIS}
    # the unadjusted rows are unchanged by the analysis dataset
    plain = table[table["analysis"] == "multistate_aalen_johansen"].reset_index(drop=True)
    unadjusted = state_results(journeys, CONFIG, n_boot=30, seed=7)["expected_days"]
    pd.testing.assert_frame_equal(plain, unadjusted)


def test_every_days_difference_has_an_e_value(adjusted):
    from evaluation.survival.evalue import evalue_mean_difference

    days, e_values = adjusted["expected_days"], adjusted["state_e_values"]
    differences = days[days["contrast"].notna()]
    assert set(differences["analysis"]) == {"multistate_aalen_johansen", "multistate_aalen_johansen_ipw",
                                            "multistate_aalen_johansen_aipw"}
    point = e_values[e_values["term"] == "e_value"]
    assert len(point) == len(differences) and point["estimate"].notna().all()
    row = differences[(differences["analysis"] == "multistate_aalen_johansen_aipw")
                      & (differences["outcome"] == "days_in_closed") & (differences["time"] == 730)].iloc[0]
    mine = point[(point["analysis"] == row["analysis"]) & (point["outcome"] == "days_in_closed")
                 & (point["time"] == 730)].iloc[0]
    sd = float(mine["method"].split("SD of days in the state ")[1].split(")")[0])
    assert mine["estimate"] == pytest.approx(evalue_mean_difference(row["estimate"], row["se"], sd).estimate, rel=1e-3)
    assert 50 < sd < 730


def test_balance_of_the_entries_under_the_weights(journeys, analysis, adjusted):
    from evaluation.survival.weighting import balance_table, cohort_weights

    balance = adjusted["state_balance"]
    assert (balance["outcome"] == "days_in_state").all()
    age = balance[balance["variable"] == "age_band[1-4]"].iloc[0]
    assert abs(age["smd_before"]) > 0.3 and abs(age["smd_after"]) < 0.05      # the planted imbalance, removed
    # the weights are statsmodels' logistic propensity weights of the same entries
    entries, covariates = entry_covariates(analysis, CONFIG)
    weights = cohort_weights(entries, "cohort", covariates)
    direct = balance_table(entries, "cohort", covariates, weights=weights.weights)
    np.testing.assert_allclose(balance.set_index("variable")["smd_after"].loc[direct["variable"]],
                               direct["smd_after"], rtol=1e-8)


def test_go_live_censoring_of_the_earlier_journeys_is_weighted(journeys, analysis):
    """Primary design: pre-FSP journeys cut at go-live and a finite ``go_live_day`` in the analysis
    dataset give IPW days with censoring weights (the estimator called with the entries' go-live day);
    the same journeys with ``go_live_day`` infinite (no planned censoring) give cohort weights only."""
    from evaluation.analysis.states import JOURNEY_GO_LIVE_DAY
    from evaluation.survival.adjusted_states import AIPW_ANALYSIS, IPW_ANALYSIS, adjusted_expected_days

    zero = analysis.drop_duplicates("child_id").set_index("child_id")["time_zero"]
    c = (pd.Timestamp(CONFIG.go_live) - zero.reindex(journeys["child_id"])).dt.days.to_numpy(dtype=float)
    c = np.where((journeys["group"] == "pre_fsp").to_numpy(), c, np.inf)
    cut = journeys[journeys["tstart"].to_numpy() < c].copy()
    c = c[journeys["tstart"].to_numpy() < c]
    past = cut["tstop"].to_numpy() > c
    cut.loc[past, "tstop"] = c[past]
    cut.loc[past, "to_state"] = "censored"
    planned = analysis.assign(go_live_day=np.where(analysis["cohort"] == "post_fsp", np.inf, 400.0))
    entries, covariates = entry_covariates(planned, CONFIG)
    pre = (entries["cohort"] == "pre_fsp").to_numpy()
    expected = (pd.Timestamp(CONFIG.go_live) - entries["time_zero"]).dt.days.to_numpy(dtype=float)
    np.testing.assert_array_equal(entries.loc[pre, JOURNEY_GO_LIVE_DAY], expected[pre])
    assert np.isinf(entries.loc[~pre, JOURNEY_GO_LIVE_DAY]).all()
    assert np.isinf(entry_covariates(analysis, CONFIG)[0][JOURNEY_GO_LIVE_DAY]).all()   # no go_live_day column
    unplanned = analysis.assign(go_live_day=np.inf)

    weighted = state_results(cut, CONFIG, n_boot=20, seed=7, analysis=planned)["expected_days"]
    plain = state_results(cut, CONFIG, n_boot=20, seed=7, analysis=unplanned)["expected_days"]
    data = follow_up_to(cut.assign(group=cut["group"].astype(object)), 730)
    data = on_intervals(data[data["group"] != "transition"], entries, covariates + [JOURNEY_GO_LIVE_DAY])
    direct = adjusted_expected_days(data, data[["id", JOURNEY_GO_LIVE_DAY] + covariates], covariates,
                                    taus=(365, 730), n_boot=20, seed=7, censor_time=JOURNEY_GO_LIVE_DAY).table
    ours = weighted[weighted["analysis"].isin([IPW_ANALYSIS, AIPW_ANALYSIS])].reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, direct)
    ipw = weighted["analysis"] == IPW_ANALYSIS
    assert weighted.loc[ipw, "method"].str.contains("inverse probability of censoring").all()
    assert not plain.loc[plain["analysis"] == IPW_ANALYSIS, "method"].str.contains("censoring").any()
    for cohort, differs in (("pre_fsp", True), ("post_fsp", False)):
        a = weighted[ipw & (weighted["cohort"] == cohort)]["estimate"].to_numpy()
        b = plain[(plain["analysis"] == IPW_ANALYSIS) & (plain["cohort"] == cohort)]["estimate"].to_numpy()
        assert (np.max(np.abs(a - b)) > 0.5) == differs
    # the doubly robust days and the unweighted days do not depend on it
    for name in (AIPW_ANALYSIS, "multistate_aalen_johansen"):
        np.testing.assert_allclose(weighted[weighted["analysis"] == name]["estimate"],
                                   plain[plain["analysis"] == name]["estimate"], rtol=1e-12)


def test_a_not_estimable_adjustment_gives_rows_not_errors(journeys, analysis, monkeypatch):
    """When the adjusted days cannot be estimated (e.g. the cohorts separated by the covariates) the
    IPW and AIPW rows say why and the E-values are not estimable: state_results does not fail."""
    import evaluation.analysis.states as states
    from evaluation.errors import NotEstimable

    def separated(*args, **kwargs):
        raise NotEstimable("propensity of 0 or 1: the cohorts are separated by the covariates")

    monkeypatch.setattr(states, "adjusted_expected_days", separated)
    out = state_results(journeys, CONFIG, n_boot=5, seed=7, analysis=analysis)
    days = out["expected_days"]
    for name in ("multistate_aalen_johansen_ipw", "multistate_aalen_johansen_aipw"):
        rows = days[days["analysis"] == name]
        assert len(rows) and rows["estimate"].isna().all()
    assert out["state_e_values"]["estimate"].isna().all()
    assert (days["analysis"] == "multistate_aalen_johansen").any()
