"""The analysis dataset: one row per child × outcome, on hand-built timelines."""

from __future__ import annotations

from functools import partial

import datetime as dt

import pandas as pd
import pytest

from evaluation.cohorts.analysis_dataset import ANALYSIS_COLUMNS, OUTCOMES, analysis_dataset
from evaluation.study import StudyConfig
from test_spells_builder import D, Timeline, pid

#: The earlier design (first referral from the study start, family cohort, followed to the end of
#: the data), now a sensitivity analysis: the rules these tests pin down. The primary design's
#: entry rule is tested in tests/test_target_trial_entry.py.
Legacy = partial(StudyConfig, entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False)

CONFIG = Legacy()


def days(a: str, b: str) -> float:
    return float((D(b) - D(a)).days)


@pytest.fixture(scope="module")
def county() -> pd.DataFrame:
    t = Timeline(last_year=2024)
    # amy: full journey, pre-FSP; her brother ben is first referred after go-live
    t.child("amy", family="smith", birth="2012-05-01")
    t.child("ben", family="smith", birth="2016-01-01", sex="M")
    e = t.episode("amy", "2019-06-03", "2020-08-01", source="2A", need="N4")
    t.assessment("amy", e, "2019-06-04", "2019-07-01", ["3B", "4B"])
    t.cin_plan("amy", e, "2019-07-01", "2019-08-10")
    t.cp_plan("amy", e, "2019-08-10", "2020-01-10")
    t.cin_plan("amy", e, "2020-01-12", "2020-08-01")                 # step-down, then closure
    t.episode("amy", "2021-02-01", "2021-02-01", reason="RC8")       # re-referral, same-day NFA
    t.episode("ben", "2021-01-15")                                   # open at the extract
    t.care("ben", "2022-03-01", "2022-09-01", "E4A")
    # cat: turns 18 while in need; transition cohort
    t.child("cat", family="jones", birth="2002-10-01")
    t.episode("cat", "2020-06-15", "2021-03-01")
    # dan: transferred out (RC5), so no re-referral row
    t.child("dan", family="brown", birth="2015-01-01")
    t.episode("dan", "2020-12-01", "2021-01-01", reason="RC5")
    return analysis_dataset(t.tables(), CONFIG)


def rows_of(frame, name):
    return frame[frame["child_id"] == pid(name)].set_index("outcome")


def test_columns_and_one_row_per_child_and_outcome(county):
    assert list(county.columns) == list(ANALYSIS_COLUMNS)
    assert not county.duplicated(["la_code", "child_id", "outcome"]).any()
    assert set(county["outcome"]) <= set(OUTCOMES)
    assert (county["entry"] < county["duration"]).all()
    assert set(county.loc[county["event"] == 0, "cause"]) == {"censored"}
    assert "censored" not in set(county.loc[county["event"] == 1, "cause"])


def test_full_journey(county):
    amy = rows_of(county, "amy")
    # her CIN plans ended before CIN plan dates were collected (2021-22): not observable
    # (no period of care, so no re-entry to care either)
    assert set(amy.index) == set(OUTCOMES) - {"time_in_care", "time_on_cin_plan", "care_re_entry"}
    expect = {
        "time_in_need": (days("2019-06-03", "2020-08-01"), 1, "closure"),
        "time_in_protection": (days("2019-08-10", "2020-01-10"), 1, "step_down"),
        "time_to_protection": (days("2019-06-03", "2019-08-10"), 1, "protection"),
        "time_to_care": (days("2019-06-03", "2024-03-31"), 0, "censored"),
        "re_referral": (days("2020-08-01", "2021-02-01"), 1, "re_referral"),
    }
    for outcome, (duration, event, cause) in expect.items():
        row = amy.loc[outcome]
        assert (row["duration"], row["event"], row["cause"]) == (duration, event, cause), outcome
    first = amy.iloc[0]
    assert (first["cohort"], first["time_zero"], first["combination"]) == (
        "pre_fsp", D("2019-06-03"), "Domestic abuse + mental health")
    assert (first["age_band"], first["family_size"], first["referral_source_group"], first["primary_need"]) == (
        "5-9", 2, "Education", "N4")
    assert not first["lockdown_period"]


def test_sibling_keeps_the_family_cohort_and_own_time_zero(county):
    ben = rows_of(county, "ben")
    assert set(ben["cohort"]) == {"pre_fsp"} and set(ben["time_zero"]) == {D("2021-01-15")}
    assert ben.loc["time_in_need", "event"] == 0
    assert ben.loc["time_in_need", "duration"] == days("2021-01-15", "2024-03-31")
    assert ben.loc["time_to_care", ["duration", "event"]].tolist() == [days("2021-01-15", "2022-03-01"), 1]
    assert ben.loc["time_in_care", ["duration", "event", "cause"]].tolist() == [
        days("2022-03-01", "2022-09-01"), 1, "return_home"]
    assert "re_referral" not in ben.index
    assert ben.loc["time_in_need", "lockdown_period"]            # 2021-01-15 in third lockdown
    assert ben.loc["time_in_need", "sex"] == "M" and ben.loc["time_in_need", "age_band"] == "5-9"


def test_turning_18_censors_every_outcome(county):
    cat = rows_of(county, "cat")
    assert set(cat["cohort"]) == {"transition"}
    for outcome in ("time_in_need", "time_to_protection", "time_to_care"):
        assert cat.loc[outcome, ["duration", "event"]].tolist() == [days("2020-06-15", "2020-10-01"), 0]


def test_transfer_out_censors_and_gives_no_re_referral(county):
    dan = rows_of(county, "dan")
    assert dan.loc["time_in_need", ["duration", "event"]].tolist() == [31.0, 0]
    assert dan.loc["time_to_care", ["duration", "event"]].tolist() == [31.0, 0]
    assert "re_referral" not in dan.index and set(dan["cohort"]) == {"post_fsp"}


def test_same_day_spell_gets_half_a_day():
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2019-06-03", "2019-06-03", reason="RC8")
    t.cp_plan("amy", e, "2019-06-03", "2019-07-01")
    a = rows_of(analysis_dataset(t.tables(), CONFIG), "amy")
    assert a.loc["time_in_need", ["duration", "event"]].tolist() == [0.5, 1]
    assert a.loc["time_to_protection", ["duration", "event"]].tolist() == [0.5, 1]
    other = analysis_dataset(t.tables(), Legacy(same_day_days=0.25))
    assert rows_of(other, "amy").loc["time_in_need", "duration"] == 0.25


def test_re_referral_window_and_boundary():
    t = Timeline()
    for name, second in (("amy", "2020-01-31"), ("bea", "2020-02-01"), ("cal", None)):
        t.child(name, family=name)
        t.episode(name, "2018-06-01", "2019-02-01")
        if second:
            t.episode(name, second)
    a = analysis_dataset(t.tables(), CONFIG)
    rr = a[a["outcome"] == "re_referral"].set_index("child_id")
    assert rr.loc[pid("amy"), ["duration", "event"]].tolist() == [364.0, 1]
    assert rr.loc[pid("bea"), ["duration", "event"]].tolist() == [365.0, 1]
    assert rr.loc[pid("cal"), ["duration", "event"]].tolist() == [365.0, 0]
    short = analysis_dataset(t.tables(), Legacy(re_referral_days=364))
    rr = short[short["outcome"] == "re_referral"].set_index("child_id")
    assert rr.loc[pid("bea"), ["duration", "event"]].tolist() == [364.0, 0]


def test_delayed_entry_when_the_data_start_inside_the_study_window():
    t = Timeline(first_year=2020)                       # data window opens 2019-04-01
    t.child("amy")
    e = t.episode("amy", "2018-09-01", "2019-10-01")
    t.cp_plan("amy", e, "2018-10-01", "2019-04-01")     # ended the day observation began
    a = rows_of(analysis_dataset(t.tables(), CONFIG), "amy")
    entry = days("2018-09-01", "2019-04-01")
    assert a.loc["time_in_need", ["entry", "duration", "event"]].tolist() == [
        entry, days("2018-09-01", "2019-10-01"), 1]
    protection = a.loc["time_in_protection"]
    assert protection["entry"] == days("2018-10-01", "2019-04-01")
    assert protection["duration"] == protection["entry"] + 0.5


def test_spell_ended_before_observation_is_dropped():
    t = Timeline(first_year=2020)
    t.child("amy")
    e = t.episode("amy", "2018-09-01", "2019-10-01")
    t.cp_plan("amy", e, "2018-10-01", "2019-01-01")
    a = analysis_dataset(t.tables(), CONFIG)
    # the plan, and so the step into protection, both ended before the data window opened
    assert not {"time_in_protection", "time_to_protection"} & set(a["outcome"])
    assert a.attrs["dropped_before_observation"] == 2


def test_study_end_censors_every_outcome():
    t = Timeline()
    t.child("amy", birth="2015-01-01")
    t.episode("amy", "2021-01-10", "2022-06-01")
    a = rows_of(analysis_dataset(t.tables(), Legacy(study_end=dt.date(2021, 12, 31))), "amy")
    assert (a["event"] == 0).all()
    assert set(a["duration"]) == {days("2021-01-10", "2021-12-31")}


def test_cin_plan_before_2021_22_enters_late_and_later_plans_are_not_taken_as_first():
    t = Timeline()
    t.child("amy", family="a")
    e = t.episode("amy", "2020-06-01")
    t.cin_plan("amy", e, "2020-07-01", "2021-06-01")          # open on 2021-04-01: seen, late entry
    t.child("bea", family="b")
    e = t.episode("bea", "2020-06-01", "2020-12-01")
    e2 = t.episode("bea", "2021-09-01")
    t.cin_plan("bea", e2, "2021-10-01", "2021-12-01")         # an earlier unseen plan may exist
    t.child("cal", family="c")
    e = t.episode("cal", "2021-05-01")
    t.cin_plan("cal", e, "2021-05-10", "2021-08-01")          # time zero inside the window
    a = analysis_dataset(t.tables(), CONFIG)
    plans = a[a["outcome"] == "time_on_cin_plan"].set_index("child_id")
    assert set(plans.index) == {pid("amy"), pid("cal")}
    assert plans.loc[pid("amy"), ["entry", "duration", "event"]].tolist() == [
        days("2020-07-01", "2021-04-01"), days("2020-07-01", "2021-06-01"), 0 + 1]
    assert plans.loc[pid("cal"), ["entry", "duration"]].tolist() == [0.0, days("2021-05-10", "2021-08-01")]


def test_cp_plan_routes_are_told_apart_only_from_cin_plan_dates():
    """route_entry: a step-down needs CIN plan dates (from 2021-04-01), so CP plans enter there
    for the routes that need it; every other outcome and later plan has route_entry = entry."""
    t = Timeline()
    t.child("amy", family="a")
    e = t.episode("amy", "2020-06-01")
    t.cp_plan("amy", e, "2020-08-01", "2021-06-01")          # open when CIN plan dates begin
    t.cin_plan("amy", e, "2021-06-01", "2021-09-01")          # its step-down, seen
    t.child("bea", family="b")
    e = t.episode("bea", "2019-06-01")
    t.cp_plan("bea", e, "2019-07-01", "2020-05-01")          # ended before: route unknown
    t.child("cal", family="c")
    e = t.episode("cal", "2021-05-01", "2021-12-01")
    t.cp_plan("cal", e, "2021-06-01", "2021-12-01")          # wholly after: route_entry = entry
    a = analysis_dataset(t.tables(), CONFIG)
    cp = a[a["outcome"] == "time_in_protection"].set_index("child_id")
    assert cp.loc[pid("amy"), ["entry", "route_entry", "cause"]].tolist() == [
        0.0, days("2020-08-01", "2021-04-01"), "step_down"]
    assert cp.loc[pid("bea"), "cause"] == "step_down_or_other"
    assert cp.loc[pid("bea"), "route_entry"] > cp.loc[pid("bea"), "duration"]
    assert cp.loc[pid("cal"), "route_entry"] == cp.loc[pid("cal"), "entry"] == 0.0
    others = a[a["outcome"] != "time_in_protection"]
    assert (others["route_entry"] == others["entry"]).all()
    assert (a["route_entry"] >= a["entry"]).all()


def test_earlier_cohorts_censored_at_go_live_as_a_sensitivity_analysis():
    """censor_earlier_cohorts_at_go_live: pre-FSP and transition follow-up stops at go-live (an
    exit that day is censored); rows with no time before it are dropped and counted."""
    t = Timeline(last_year=2024)
    t.child("amy", family="a", birth="2012-05-01")
    e = t.episode("amy", "2019-06-03", "2022-01-10")           # pre-FSP, open across go-live
    t.cp_plan("amy", e, "2020-09-01", "2021-03-01")           # ends after go-live: censored
    t.care("amy", "2021-06-01", "2021-09-01", "E4A")          # starts after go-live: dropped
    t.child("bea", family="b", birth="2014-01-01")
    e = t.episode("bea", "2020-06-01", "2020-12-15")           # transition cohort
    t.cp_plan("bea", e, "2020-07-01", "2020-11-01")           # exit on go-live day: censored
    t.child("cal", family="c", birth="2013-01-01")
    e = t.episode("cal", "2019-01-10", "2019-09-01")           # closed before go-live: unchanged
    t.cp_plan("cal", e, "2019-02-01", "2019-09-01")            # (but no care: time_to_care stops)
    t.child("dee", family="d", birth="2015-01-01")
    e = t.episode("dee", "2021-01-10", "2021-12-01")           # post-FSP: unchanged
    t.cp_plan("dee", e, "2021-02-01", "2021-12-01")
    tables = t.tables()
    default = analysis_dataset(tables, CONFIG)
    censored = analysis_dataset(tables, Legacy(censor_earlier_cohorts_at_go_live=True))

    amy = rows_of(censored, "amy")
    for outcome in ("time_in_need", "time_to_care"):
        assert amy.loc[outcome, ["duration", "event", "cause"]].tolist() == [
            days("2019-06-03", "2020-11-01"), 0, "censored"], outcome
    assert amy.loc["time_in_protection", ["duration", "event"]].tolist() == [days("2020-09-01", "2020-11-01"), 0]
    assert amy.loc["time_to_protection", ["duration", "event"]].tolist() == [days("2019-06-03", "2020-09-01"), 1]
    assert "time_in_care" not in amy.index and "time_in_care" in rows_of(default, "amy").index
    assert rows_of(default, "amy").loc["time_to_care", "event"] == 1

    bea = rows_of(censored, "bea")
    assert set(bea["cohort"]) == {"transition"}
    assert bea.loc["time_in_protection", ["duration", "event", "cause"]].tolist() == [
        days("2020-07-01", "2020-11-01"), 0, "censored"]
    assert rows_of(default, "bea").loc["time_in_protection", "event"] == 1
    assert "re_referral" not in bea.index                      # its window opens after go-live

    cal = rows_of(censored, "cal")
    assert cal.loc["time_to_care", ["duration", "event"]].tolist() == [days("2019-01-10", "2020-11-01"), 0]
    # cal's rows are unchanged but for the planned censoring day they now carry (days to go-live)
    assert cal["go_live_day"].tolist() == [days(start, "2020-11-01") for start in (
        "2019-01-10", "2019-02-01", "2019-01-10", "2019-01-10", "2019-09-01", "2019-09-01")]
    assert cal.loc["repeat_protection", ["duration", "event"]].tolist() == [days("2019-09-01", "2020-11-01"), 0]
    followed_past = ["time_to_care", "repeat_protection"]   # their windows run past go-live
    pd.testing.assert_frame_equal(cal.drop(index=followed_past, columns="go_live_day"),
                                  rows_of(default, "cal").drop(index=followed_past, columns="go_live_day"))
    assert (rows_of(default, "cal")["go_live_day"] == float("inf")).all()
    pd.testing.assert_frame_equal(rows_of(censored, "dee"), rows_of(default, "dee"))
    assert default.attrs["dropped_after_go_live"] == 0
    dropped = len(default) - len(censored)
    assert censored.attrs["dropped_after_go_live"] == dropped > 0
    assert (censored["entry"] < censored["duration"]).all()
    from_time_zero = censored[(censored["cohort"] != "post_fsp")
                              & censored["outcome"].isin(["time_in_need", "time_to_care", "time_to_protection"])]
    ends = from_time_zero["time_zero"] + pd.to_timedelta(from_time_zero["duration"], unit="D")
    assert (ends <= D("2020-11-01")).all()
