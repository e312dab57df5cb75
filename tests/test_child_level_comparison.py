"""Child-level comparison across councils (difference in differences), proven against R.

Reference: tests/reference/child_level_did/ (data.csv from make_data.py; cox.csv and rmst.csv
from child_level_did.R, R survival's coxph and survfit).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.across_councils import (
    ONE_COUNCIL, SAME_ADOPTION, across_council_results, council_go_lives,
)
from evaluation.comparison.child_level import (
    PROGRAMME, adoption_design, cox_did, rmst_did, rmst_did_tidy,
)
from evaluation.disclosure.models import safe_model_results
from evaluation.errors import NotEstimable
from evaluation.report.assemble import MODEL_TABLES, TABLE_SCHEMAS
from evaluation.study import StudyConfig

REF = Path(__file__).parent / "reference" / "child_level_did"
COMMON = {"A": dt.date(2020, 11, 1), "B": dt.date(2020, 11, 1), "C": None, "D": None}
STAGGERED = {"A": dt.date(2019, 11, 1), "B": dt.date(2020, 11, 1), "C": None, "D": None}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "data.csv", dtype={"family": str})


@pytest.fixture(scope="module")
def r_cox() -> pd.DataFrame:
    return pd.read_csv(REF / "cox.csv")


def _r(r_cox, model, term):
    row = r_cox[(r_cox["model"] == model) & (r_cox["term"] == term)]
    assert len(row) == 1, (model, term)
    return row.iloc[0]


def test_adoption_design_gives_the_periods_and_programme_of_the_reference_data(data):
    common = adoption_design(data, "time_zero", "council", COMMON, [dt.date(2020, 11, 1)])
    assert (common["period"] == data["period"]).all()
    assert (common["adopted"] == data["adopted"]).all()
    assert (common["programme"] == data["programme"]).all()
    staggered = adoption_design(data, "time_zero", "council", STAGGERED,
                                [dt.date(2019, 11, 1), dt.date(2020, 11, 1)])
    assert (staggered["period"] == data["period_staggered"]).all()
    assert (staggered["programme"] == data["programme_staggered"]).all()
    # a child on the go-live day is under the programme; the day before is not
    edge = pd.DataFrame({"council": ["A", "A"], "time_zero": ["2020-10-31", "2020-11-01"]})
    assert adoption_design(edge, "time_zero", "council", COMMON, [])["programme"].tolist() == [0.0, 1.0]


def test_adoption_design_refuses_a_council_without_a_go_live(data):
    with pytest.raises(ValueError, match="no go-live given for council.*D"):
        adoption_design(data, "time_zero", "council", {k: v for k, v in COMMON.items() if k != "D"}, [])


@pytest.mark.parametrize("model, ties, entry", [("common_efron", "efron", "entry"),
                                                ("common_breslow_no_entry", "breslow", None)])
def test_common_go_live_matches_r_period_times_adopted(data, r_cox, model, ties, entry):
    result = cox_did(data, "duration", "event", "council", period="period", programme="programme",
                     entry=entry, cluster="family", ties=ties)
    fit = result.fit
    period_term = "period[from 2020-11-01]"
    assert fit.covariates == [period_term, PROGRAMME]
    for ours, theirs in ((period_term, "periodfrom 2020-11-01"), (PROGRAMME, "periodfrom 2020-11-01:adopted")):
        ref = _r(r_cox, model, theirs)
        k = fit.covariates.index(ours)
        assert fit.coef[k] == pytest.approx(ref["coef"], rel=1e-7, abs=1e-9)
        assert fit.se_naive[k] == pytest.approx(ref["se"], rel=1e-6)
        assert fit.se_robust[k] == pytest.approx(ref["robust_se"], rel=1e-6)
    assert fit.loglik == pytest.approx(_r(r_cox, model, "adopted")["loglik"], rel=1e-10)
    # R's adopted main effect is NA: constant within every council's stratum, so not in our model
    assert np.isnan(_r(r_cox, model, "adopted")["coef"])
    assert result.log_hr == fit.coef[1] and result.se == fit.se_robust[1]


def test_staggered_go_lives_match_r_two_way_fixed_effects(data, r_cox):
    design = adoption_design(data, "time_zero", "council", STAGGERED, [dt.date(2019, 11, 1), dt.date(2020, 11, 1)])
    fit = cox_did(design, "duration", "event", "council", entry="entry", cluster="family").fit
    pairs = {"period[from 2019-11-01]": "period_staggeredfrom 2019-11-01",
             "period[from 2020-11-01]": "period_staggeredfrom 2020-11-01",
             PROGRAMME: "programme_staggered"}
    assert fit.covariates == list(pairs)
    for ours, theirs in pairs.items():
        ref = _r(r_cox, "staggered_efron", theirs)
        k = fit.covariates.index(ours)
        assert fit.coef[k] == pytest.approx(ref["coef"], rel=1e-7)
        assert fit.se_robust[k] == pytest.approx(ref["robust_se"], rel=1e-6)
        assert fit.se_naive[k] == pytest.approx(ref["se"], rel=1e-6)


def test_programme_row_carries_the_thinnest_cell_counts(data):
    result = cox_did(data, "duration", "event", "council", programme="programme", cluster="family")
    table = result.tidy("toy")
    row = table[table["term"] == PROGRAMME].iloc[0]
    adopted, treated = data["adopted"] == 1, data["programme"] == 1
    after = data["period"] == "from 2020-11-01"
    cells = [data[adopted & treated], data[adopted & ~treated], data[~adopted & after], data[~adopted & ~after]]
    assert row["n"] == min(len(c) for c in cells) == len(cells[2]) == 228
    assert row["events"] == min(c["event"].sum() for c in cells)
    assert row["contrast"].startswith("programme vs no programme")
    assert np.isclose(row["estimate"], np.exp(result.log_hr))


def test_one_council_or_no_programme_is_not_estimable(data):
    with pytest.raises(NotEstimable, match="one council"):
        cox_did(data[data["council"] == "A"], "duration", "event", "council", programme="programme")
    none = data.assign(programme=0)
    with pytest.raises(NotEstimable, match="no child seen after"):
        cox_did(none, "duration", "event", "council", programme="programme")


def test_rmst_difference_in_differences_is_r_survfit_rmeans_combined(data):
    ref = pd.read_csv(REF / "rmst.csv")
    rows = data.groupby("council").size()
    for tau in (365, 730):
        frame = data.assign(after=(data["period"] == "from 2020-11-01").astype(int))
        result = rmst_did(frame, "duration", "event", "council", after="after", tau=tau, cluster="family",
                          n_boot=200, seed=1)
        r = ref[ref["tau"] == tau].set_index(["council", "period"])["rmean"]
        change = {c: r[(c, "from 2020-11-01")] - r[(c, "before 2020-11-01")] for c in "ABCD"}
        adopting = (rows["A"] * change["A"] + rows["B"] * change["B"]) / (rows["A"] + rows["B"])
        other = (rows["C"] * change["C"] + rows["D"] * change["D"]) / (rows["C"] + rows["D"])
        assert result.estimate == pytest.approx(adopting - other, rel=1e-9)
        by = result.by_council.set_index("council")
        for c in "ABCD":
            assert by.loc[c, "rmst_before"] == pytest.approx(r[(c, "before 2020-11-01")], rel=1e-9)
        # the family bootstrap SE agrees with the family-clustered infinitesimal jackknife
        assert result.se == pytest.approx(result.se_ij, rel=0.2)
        assert result.ci_lower < result.estimate < result.ci_upper
        row = rmst_did_tidy(result, "toy").iloc[0]
        assert row["estimate"] == result.estimate and row["time"] == tau


def test_rmst_bootstrap_is_reproducible_and_resamples_families_within_council(data):
    frame = data.assign(after=(data["period"] == "from 2020-11-01").astype(int))
    one = rmst_did(frame, "duration", "event", "council", after="after", cluster="family", n_boot=30, seed=7)
    two = rmst_did(frame, "duration", "event", "council", after="after", cluster="family", n_boot=30, seed=7)
    other = rmst_did(frame, "duration", "event", "council", after="after", cluster="family", n_boot=30, seed=8)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    assert not np.array_equal(one.replicates, other.replicates)
    with pytest.raises(NotEstimable, match="adopting council and a council that did not"):
        rmst_did(frame[frame["adopted"] == 1], "duration", "event", "council", after="after", n_boot=30)


# ----------------------------------------------------------------- the analysis layer's table

#: Study whose periods are the reference data's: no transition months before the one go-live.
COMMON_STUDY = StudyConfig(pre_fsp_start=dt.date(2018, 4, 1), transition_start=dt.date(2020, 11, 1),
                           go_live=dt.date(2020, 11, 1),
                           council_go_lives=("A:2020-11-01", "B:2020-11-01", "C:never", "D:never"))


def _as_analysis_dataset(data: pd.DataFrame, config: StudyConfig, outcome="time_in_protection") -> pd.DataFrame:
    return pd.DataFrame({
        "la_code": data["council"], "child_id": [f"c{i}" for i in range(len(data))], "family_id": data["family"],
        "outcome": outcome, "cohort": config.cohort_of(data["time_zero"]),
        "time_zero": pd.to_datetime(data["time_zero"]),
        "entry": data["entry"], "duration": data["duration"], "event": data["event"]})


def test_across_councils_table_is_the_r_fit_when_the_periods_agree(data, r_cox):
    table = across_council_results(_as_analysis_dataset(data, COMMON_STUDY), COMMON_STUDY, n_boot=50)
    table = table["across_councils"]
    cox = table[(table["analysis"] == "cox_across_councils") & (table["term"] == PROGRAMME)].iloc[0]
    ref = _r(r_cox, "common_efron", "periodfrom 2020-11-01:adopted")
    assert np.log(cox["estimate"]) == pytest.approx(ref["coef"], rel=1e-7)
    assert cox["se"] == pytest.approx(ref["robust_se"], rel=1e-6)
    rmst = table[table["analysis"] == "rmst_across_councils"]
    assert rmst["time"].tolist() == [365.0, 730.0] and rmst["estimate"].notna().all()
    before_after = table[table["analysis"] == "cox_before_after_one_council"]
    assert sorted(before_after["contrast"]) == ["after vs before go-live 2020-11-01, council A only",
                                                "after vs before go-live 2020-11-01, council B only"]
    assert before_after["method"].str.contains("cannot separate the programme from Covid").all()
    assert "across_councils" in MODEL_TABLES and "across_councils" in TABLE_SCHEMAS


def test_one_council_or_one_go_live_gives_only_a_note(data):
    one = _as_analysis_dataset(data[data["council"] == "A"], StudyConfig())
    table = across_council_results(one, StudyConfig())["across_councils"]
    assert table["estimate"].isna().all() and len(table) == 2
    assert (table["method"] == f"not estimable: {ONE_COUNCIL}").all()
    same = across_council_results(_as_analysis_dataset(data, StudyConfig()), StudyConfig())["across_councils"]
    assert (same["method"] == f"not estimable: {SAME_ADOPTION}").all()


def test_a_council_missing_from_the_study_go_lives_is_an_error(data):
    config = StudyConfig(council_go_lives=("A:2020-11-01", "B:2020-11-01", "C:never"))
    with pytest.raises(ValueError, match="no go-live for council.*D"):
        council_go_lives(_as_analysis_dataset(data, config), config)


def test_a_thin_adoption_cell_blanks_the_released_estimate(data):
    # council A and B keep only three events before go-live: the difference in differences rests on them
    before = (data["adopted"] == 1) & (data["programme"] == 0)
    thin = data[~before | (before & (data.index.isin(data[before & (data["event"] == 1)].index[:3])))]
    table = across_council_results(_as_analysis_dataset(thin.reset_index(drop=True), COMMON_STUDY), COMMON_STUDY,
                                   n_boot=30)["across_councils"]
    released = safe_model_results(table)
    row = released[(released["analysis"] == "cox_across_councils") & (released["term"] == PROGRAMME)].iloc[0]
    assert np.isnan(row["estimate"]) and row["release_note"]
    period = released[released["term"] == "period[from 2020-11-01]"].iloc[0]
    assert not np.isnan(period["estimate"])
