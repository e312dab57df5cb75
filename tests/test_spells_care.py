"""Periods of care from SSDA903 episodes, on hand-built timelines."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.study import StudyConfig
from evaluation.spells import care_periods
from test_spells_builder import D, Timeline

CONFIG = StudyConfig()


def periods(t: Timeline) -> pd.DataFrame:
    return care_periods(t.tables(), CONFIG)


def test_x1_chain_across_collection_years_is_one_period():
    t = Timeline()
    t.child("amy")
    t.care("amy", "2017-11-01", "2018-06-10", "X1")                 # placement change, year 2018→2019
    t.care("amy", "2018-06-10", "2019-08-01", "X1", rne="P")
    t.care("amy", "2019-08-01", "2020-02-03", "E12", rne="L", ls="E1")
    p = periods(t)
    assert len(p) == 1
    row = p.iloc[0]
    assert (row["start_date"], row["end_date"]) == (D("2017-11-01"), D("2020-02-03"))
    assert row["exit_type"] == "permanence" and row["end_reason"] == "E12" and row["start_observed"]


def test_exit_code_then_new_start_makes_two_periods_and_same_day_continuity_joins():
    t = Timeline()
    t.child("amy")
    t.care("amy", "2018-01-01", "2018-03-01", "E4B")
    t.care("amy", "2018-03-01", "2018-05-01", None)                  # no REC, next starts same day
    t.care("amy", "2018-05-01", "2018-09-01", "E13", rne="T")
    p = periods(t)
    assert p["start_date"].tolist() == [D("2018-01-01"), D("2018-03-01")]
    assert p["exit_type"].tolist() == ["return_home", "other"]
    assert p["end_date"].tolist() == [D("2018-03-01"), D("2018-09-01")]


def test_short_breaks_only_are_not_care():
    t = Timeline()
    t.child("amy")
    t.care("amy", "2018-01-01", "2018-01-03", "X1", ls="V3")
    t.care("amy", "2018-01-03", "2018-01-05", "E4A", ls="V4", rne="L")
    t.care("amy", "2018-03-01", "2018-03-02", "E8", ls="V3")
    p = periods(t)
    assert p.empty and p.attrs["short_break_only_periods"] == 2


def test_short_break_inside_a_chain_breaks_the_period():
    t = Timeline()
    t.child("amy")
    t.care("amy", "2018-01-01", "2018-06-01", "X1", ls="V3")         # short breaks first
    t.care("amy", "2018-06-01", "2019-01-01", "X1", ls="C2", rne="L")  # comes into care
    t.care("amy", "2019-01-01", "2019-04-01", "X1", ls="V4", rne="L")  # back to short breaks
    t.care("amy", "2019-04-01", "2019-09-01", "E4A", ls="V2", rne="L")  # care again
    p = periods(t)
    assert p["start_date"].tolist() == [D("2018-06-01"), D("2019-04-01")]
    assert p["end_reason"].tolist() == ["V4", "E4A"]
    assert p["exit_type"].tolist() == ["other", "return_home"]
    assert p["start_observed"].tolist() == [True, True]
    assert p.attrs["periods_ended_by_short_break"] == 1 and p.attrs["short_break_only_periods"] == 0


@pytest.mark.parametrize("rec, why", [("E2", "death"), ("E3", "transfer_out")])
def test_death_and_transfer_exits_censor(rec, why):
    t = Timeline()
    t.child("amy")
    t.care("amy", "2018-01-01", "2018-05-01", rec)
    row = periods(t).iloc[0]
    assert row["censored"] and row["censor_date"] == D("2018-05-01") and row["censor_reason"] == why


def test_broken_x1_chain_censors_at_its_end():
    t = Timeline()
    t.child("amy")
    t.care("amy", "2018-01-01", "2018-05-01", "X1")
    t.care("amy", "2018-08-01", "2018-09-01", "E4A")
    p = periods(t)
    assert p["censored"].tolist() == [True, False]
    assert p.iloc[0]["censor_reason"] == "unknown_exit" and p.iloc[0]["censor_date"] == D("2018-05-01")


def test_open_period_and_period_started_before_the_data():
    t = Timeline(first_year=2017, last_year=2023)
    t.child("amy", birth="2012-01-01")
    t.care("amy", "2015-06-01", "2017-02-01", "X1", rne="P")   # the period began before this episode
    t.care("amy", "2017-02-01", None, None, rne="P")
    row = periods(t).iloc[0]
    assert not row["start_observed"] and row["entry_days"] == (D("2016-04-01") - D("2015-06-01")).days
    assert row["censored"] and row["censor_date"] == D("2023-03-31")


def test_care_ends_at_18_as_censoring():
    t = Timeline()
    t.child("amy", birth="2001-07-01")
    t.care("amy", "2016-01-01", "2019-07-15", "E17")
    row = periods(t).iloc[0]
    assert row["censored"] and row["censor_date"] == D("2019-07-01") and row["censor_reason"] == "age"
