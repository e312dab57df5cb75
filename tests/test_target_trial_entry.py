"""The primary design's entry rule (a new referral, once per cohort period) and its labels."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from evaluation.cohorts.analysis_dataset import analysis_dataset
from evaluation.cohorts.cohorts import child_eligibility, family_cohorts, index_episodes
from evaluation.cohorts.flow import cohort_flow
from evaluation.study import DESIGN_FIELDS, StudyConfig
from test_spells_builder import D, Timeline, pid

PRIMARY = StudyConfig()


def entries(t: Timeline, config: StudyConfig = PRIMARY) -> pd.DataFrame:
    e = child_eligibility(t.tables(), config)
    e["name"] = e["child_id"]
    return e


def test_primary_design_is_the_default_and_sensitivities_are_named():
    assert PRIMARY.entry_rule == "new_referral" and PRIMARY.lookback_months == 12
    assert PRIMARY.censor_earlier_cohorts_at_go_live and PRIMARY.design == "primary"
    old = StudyConfig(entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)
    assert old.design == "sensitivity: entry_rule=first_referral; censor_earlier_cohorts_at_go_live=False"
    assert StudyConfig(go_live=dt.date(2021, 1, 1)).design == "primary"   # a council's date, not a design
    assert set(DESIGN_FIELDS) <= {f for f in StudyConfig.__dataclass_fields__}
    for bad in ({"entry_rule": "first"}, {"lookback_months": 0}, {"risk_factor_source": "later"}):
        with pytest.raises(ValueError):
            StudyConfig(**bad)


def test_a_child_enters_once_in_each_period_at_its_first_new_referral():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2018-06-01", "2018-09-01")     # pre-FSP entry (nothing in the 12 months before)
    t.episode("amy", "2019-12-01", "2020-01-10")     # pre-FSP again: new, but one entry per period
    t.episode("amy", "2020-05-01", "2020-06-01")     # transition: episode closed 2020-01-10 in look-back
    t.episode("amy", "2021-03-01")                   # post-FSP: last episode closed 2020-06-01, in look-back
    t.episode("amy", "2021-07-01")                   # ... and a still-open episode blocks this one
    e = entries(t).set_index("cohort")
    assert e.loc["pre_fsp", "time_zero"] == D("2018-06-01") and pd.isna(e.loc["pre_fsp", "excluded_reason"])
    assert e.loc["transition", "excluded_reason"] == "no_new_referral"
    assert e.loc["post_fsp", "excluded_reason"] == "no_new_referral"

    t.episode("amy", "2022-09-01")                   # 2021-07-01 is still open: blocked
    assert entries(t).set_index("cohort").loc["post_fsp", "excluded_reason"] == "no_new_referral"
    u = Timeline()
    u.child("amy")
    u.episode("amy", "2018-06-01", "2018-09-01")
    u.episode("amy", "2021-03-01", "2021-06-01")     # the look-back (from 2020-03-01) is clear
    idx = index_episodes(u.tables(), PRIMARY)
    assert idx["cohort"].tolist() == ["pre_fsp", "post_fsp"]
    assert idx["time_zero"].tolist() == [D("2018-06-01"), D("2021-03-01")]


def test_look_back_is_a_fixed_window_and_must_be_observed():
    t = Timeline()
    t.child("amy")
    t.episode("amy", "2017-05-01", "2017-06-10")     # closed 2017-06-10
    t.episode("amy", "2018-06-05", "2018-08-01")     # look-back from 2017-06-05: the 2017 episode is in it
    t.episode("amy", "2018-06-20")                   # from 2017-06-20: clear of the first, but the
    e = entries(t).set_index("cohort")               # 2018-06-05 episode was open: blocked
    assert e.loc["pre_fsp", "excluded_reason"] == "no_new_referral"
    shorter = StudyConfig(lookback_months=11)        # from 2017-07-05: the 2017 episode is outside
    assert entries(t, shorter).set_index("cohort").loc["pre_fsp", "time_zero"] == D("2018-06-05")

    late = Timeline(first_year=2019)                 # CIN data from 2018-04-01
    late.child("bob")
    late.episode("bob", "2018-06-01")                # look-back from 2017-06-01: not in the data
    late.episode("bob", "2019-06-01", "2019-07-01")  # (2018 still open: blocked anyway)
    late.child("cat")
    late.episode("cat", "2019-05-01")                # look-back from 2018-05-01: observed, clear
    e = entries(late).set_index("child_id")
    assert e.loc[pid("bob"), "excluded_reason"] == "look_back_not_observed"
    assert pd.isna(e.loc[pid("cat"), "excluded_reason"])


def test_siblings_take_their_own_period_and_families_count_per_cohort():
    t = Timeline()
    t.child("amy", family="smith")
    t.child("ben", family="smith", birth="2016-02-01")
    t.episode("amy", "2020-02-10", "2020-06-01")     # pre-FSP
    t.episode("ben", "2021-01-15")                   # post go-live: its own cohort now
    idx = index_episodes(t.tables(), PRIMARY).set_index("child_id")
    assert (idx.loc[pid("amy"), "cohort"], idx.loc[pid("ben"), "cohort"]) == ("pre_fsp", "post_fsp")
    fam = family_cohorts(t.tables(), PRIMARY)
    assert fam["cohort"].tolist() == ["pre_fsp", "post_fsp"] and fam["children"].tolist() == [1, 1]
    flow = cohort_flow(t.tables(), PRIMARY)
    analysed = flow[flow["stage"] == "analysed"].set_index("cohort")
    assert analysed.loc["all", "children"] == 2
    assert (analysed.loc["pre_fsp", "children"], analysed.loc["post_fsp", "children"]) == (1, 1)


def test_two_entries_of_one_child_are_two_trials_and_the_earlier_stops_at_go_live():
    t = Timeline()
    t.child("amy", family="a")
    e1 = t.episode("amy", "2019-03-01", "2019-10-01")
    t.cp_plan("amy", e1, "2019-04-01", "2019-09-01")
    e2 = t.episode("amy", "2021-02-01", "2021-08-01")
    t.cp_plan("amy", e2, "2021-03-01", "2021-07-01")
    data = analysis_dataset(t.tables(), PRIMARY)
    need = data[data["outcome"] == "time_in_need"].set_index("cohort")
    assert need.loc["pre_fsp", "time_zero"] == D("2019-03-01") and need.loc["pre_fsp", "event"] == 1
    assert need.loc["post_fsp", "time_zero"] == D("2021-02-01")
    # the pre-FSP entry's time to protection is its own plan; the post-FSP plan is not its outcome
    to_plan = data[data["outcome"] == "time_to_protection"].set_index("cohort")
    assert to_plan.loc["pre_fsp", "duration"] == (D("2019-04-01") - D("2019-03-01")).days
    assert to_plan.loc["post_fsp", "duration"] == (D("2021-03-01") - D("2021-02-01")).days
    # pre-FSP time to care (none) stops at go-live in the primary design, not at the extract
    to_care = data[data["outcome"] == "time_to_care"].set_index("cohort")
    assert to_care.loc["pre_fsp", "duration"] == (D("2020-11-01") - D("2019-03-01")).days
    assert to_care.loc["pre_fsp", "event"] == 0
    assert not data.duplicated(["child_id", "time_zero", "outcome"]).any()


def test_risk_factors_from_earlier_assessments_are_a_baseline_sensitivity():
    """``risk_factor_source="earlier_assessments"``: flags from assessments of episodes referred
    before time zero and dated before it; the index assessment's factors are then not used."""
    from evaluation.cohorts.risk_factors import risk_factors

    t = Timeline()
    t.child("amy")
    old = t.episode("amy", "2017-02-01", "2017-09-01")
    t.assessment("amy", old, "2017-02-05", "2017-03-01", ["4B"])          # earlier: used
    t.assessment("amy", old, "2017-02-06", None, ["1B"])                   # dated by start: used
    index = t.episode("amy", "2019-01-10")
    t.assessment("amy", index, "2019-01-11", "2019-01-20", ["3B"])          # index assessment
    tables = t.tables()
    earlier = StudyConfig(risk_factor_source="earlier_assessments")
    row = risk_factors(tables, index_episodes(tables, earlier), earlier).set_index("child_id").loc[pid("amy")]
    assert (row["domestic_abuse"], row["mental_health"], row["substance_misuse"]) == (False, True, True)
    assert row["assessments_used"] == 2
    usual = risk_factors(tables, index_episodes(tables, PRIMARY), PRIMARY).set_index("child_id").loc[pid("amy")]
    assert (usual["domestic_abuse"], usual["mental_health"], usual["substance_misuse"]) == (True, False, False)
    strict = StudyConfig(risk_factor_source="earlier_assessments", unauthorised_assessments="exclude")
    row = risk_factors(tables, index_episodes(tables, strict), strict).set_index("child_id").loc[pid("amy")]
    assert (row["mental_health"], row["substance_misuse"]) == (True, False)


def test_repeat_involvement_a_second_plan_within_two_years_and_re_entry_to_care_within_a_year():
    t = Timeline()
    t.child("amy", family="a")
    e = t.episode("amy", "2021-01-10", "2022-12-01")
    t.cp_plan("amy", e, "2021-02-01", "2021-07-01")
    t.cp_plan("amy", e, "2022-03-01", "2022-06-01")          # 243 days after the first ended
    t.care("amy", "2021-03-01", "2021-06-01", "E4A")
    t.care("amy", "2022-09-01", "2022-10-01", "E4A")           # 457 days after leaving: not within a year
    t.child("ben", family="b")
    t.episode("ben", "2021-01-10", "2021-12-01")
    data = analysis_dataset(t.tables(), PRIMARY)
    amy = data[data["child_id"] == pid("amy")].set_index("outcome")
    assert amy.loc["repeat_protection", ["duration", "event", "cause"]].tolist() == [
        (D("2022-03-01") - D("2021-07-01")).days, 1, "protection"]
    assert amy.loc["care_re_entry", ["duration", "event", "cause"]].tolist() == [365, 0, "censored"]
    ben = data[data["child_id"] == pid("ben")]
    assert not ben["outcome"].isin(["repeat_protection", "care_re_entry"]).any()   # no first plan


def test_journeys_of_the_earlier_cohorts_stop_at_go_live_in_the_primary_design():
    from evaluation.journeys import state_intervals

    t = Timeline()
    t.child("amy", family="a")
    e = t.episode("amy", "2020-01-10", "2021-06-01")
    t.cp_plan("amy", e, "2020-03-01", "2021-03-01")
    primary = state_intervals(t.tables(), PRIMARY)
    assert primary["tstop"].max() == (D("2020-11-01") - D("2020-01-10")).days
    assert primary["to_state"].iloc[-1] == "censored"
    followed = state_intervals(t.tables(), StudyConfig(censor_earlier_cohorts_at_go_live=False))
    assert followed["tstop"].max() > primary["tstop"].max()
