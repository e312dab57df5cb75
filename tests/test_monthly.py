"""Monthly counts per local authority, on hand-built tables, and into the segmented regression."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from evaluation.study import StudyConfig
from evaluation.monthly import MONTHLY_COLUMNS, SERIES, monthly_counts
from evaluation.results import RESULT_COLUMNS
from evaluation.timeseries import segmented_regression
from test_spells_builder import D, Timeline, combine

CONFIG = StudyConfig()


def counts(monthly: pd.DataFrame, series: str, la: str = "931") -> pd.Series:
    part = monthly[(monthly["series"] == series) & (monthly["la_code"] == la)]
    return part.set_index("month")["count"]


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """Two years of data (2018-04-01 .. 2020-03-31) with a few records."""
    t = Timeline(first_year=2019, last_year=2020)
    t.child("amy", birth="2010-01-01")
    t.child("ben", birth="2010-01-01")
    t.child("cat", birth="2001-06-01")           # 18 on 2019-06-01
    t.child("dan", birth="2010-01-01")
    a = t.episode("amy", "2019-01-03", "2019-04-30")
    t.episode("amy", "2019-06-10", "2019-06-20")
    b = t.episode("ben", "2019-01-31")
    c = t.episode("cat", "2019-03-01")
    t.episode("dan", "2018-03-15", "2018-04-20")  # referred before the window
    t.cin_plan("amy", a, "2019-01-10", "2019-01-15")
    t.cp_plan("amy", a, "2019-01-15", "2019-03-31")   # ends on a month end: not in March's stock
    t.cp_plan("ben", b, "2019-01-31")                 # open at the extract
    t.cp_plan("cat", c, "2019-03-05")                 # censored at the 18th birthday
    t.care("amy", "2017-01-01", "2018-06-15", "E4A")  # entered before the window
    t.care("dan", "2018-05-01", "2018-07-20", "E4A", rne="P")  # start not observed
    t.care("amy", "2019-04-30", "2019-05-31", "E4A")
    return monthly_counts(t.tables(), CONFIG)


def test_complete_grid_of_months_and_series(small):
    assert list(small.columns) == list(MONTHLY_COLUMNS)
    assert str(small["month"].dtype) == "datetime64[ns]"
    months = pd.date_range("2018-04-01", "2020-03-01", freq="MS")
    assert len(small) == len(months) * len(SERIES)
    for series in SERIES:
        assert counts(small, series).index.tolist() == months.tolist()
    assert (small["month"].dt.day == 1).all()


def test_flows_counted_by_hand(small):
    referrals = counts(small, "referrals")
    assert referrals[D("2019-01-01")] == 2 and referrals[D("2019-03-01")] == 1
    assert referrals[D("2019-06-01")] == 1 and referrals.sum() == 4  # dan's 2018-03 referral is outside
    assert counts(small, "cin_plan_starts")[D("2019-01-01")] == 1
    cp = counts(small, "cp_plan_starts")
    assert cp[D("2019-01-01")] == 2 and cp[D("2019-03-01")] == 1 and cp.sum() == 3
    care = counts(small, "care_entries")
    assert care[D("2019-04-01")] == 1 and care.sum() == 1  # no entry for periods started before the data


def test_month_end_stocks_counted_by_hand(small):
    cp = counts(small, "on_cp_plan_month_end")
    assert cp[D("2018-12-01")] == 0
    assert cp[D("2019-01-01")] == 2          # amy (from the 15th) and ben (from the 31st)
    assert cp[D("2019-02-01")] == 2
    assert cp[D("2019-03-01")] == 2          # amy's ended on 31 March; cat's started
    assert cp[D("2019-05-01")] == 2          # ben and cat
    assert cp[D("2019-06-01")] == 1          # cat turned 18 on 1 June
    assert cp[D("2020-03-01")] == 1          # ben's plan still open at the extract
    care = counts(small, "in_care_month_end")
    assert care[D("2018-04-01")] == 1 and care[D("2018-05-01")] == 2   # amy (since 2017), dan
    assert care[D("2018-06-01")] == 1 and care[D("2018-07-01")] == 0
    assert care[D("2019-04-01")] == 1 and care[D("2019-05-01")] == 0


def test_zero_months_and_exposure(small):
    assert counts(small, "referrals")[D("2019-02-01")] == 0
    assert (counts(small, "care_entries").drop(D("2019-04-01")) == 0).all()
    flows = small[small["series"] == "referrals"].set_index("month")["exposure"]
    assert flows[D("2019-02-01")] == 28 and flows[D("2020-02-01")] == 29 and flows[D("2019-01-01")] == 31
    assert (small.loc[small["series"].str.endswith("month_end"), "exposure"] == 1).all()


def test_window_cut_per_local_authority_and_arguments():
    a = Timeline(la_code="931", first_year=2019, last_year=2022)
    b = Timeline(la_code="919", first_year=2021, last_year=2022)
    for t in (a, b):
        t.child("amy", birth="2010-01-01")
        t.episode("amy", "2021-05-31")
        t.episode("amy", "2021-06-01")      # after study_end's last complete month
    config = StudyConfig(study_end=dt.date(2021, 6, 15))
    monthly = monthly_counts(combine(a, b), config)
    assert counts(monthly, "referrals", "931").index.min() == D("2018-04-01")
    assert counts(monthly, "referrals", "919").index.min() == D("2020-04-01")
    for la in ("931", "919"):
        referrals = counts(monthly, "referrals", la)
        assert referrals.index.max() == D("2021-05-01") and referrals.sum() == 1
    cut = monthly_counts(combine(a, b), config, start="2021-02-10", end="2021-04-30")
    assert sorted(cut["month"].unique()) == list(pd.date_range("2021-02-01", "2021-04-01", freq="MS"))
    assert len(cut) == 2 * 3 * len(SERIES)


def test_feeds_the_segmented_regression():
    rng = np.random.default_rng(7)
    t = Timeline(first_year=2018, last_year=2023)   # 2017-04 .. 2023-03
    days = pd.date_range("2017-01-01", "2023-03-31", freq="D")
    for i, day in enumerate(rng.choice(days, size=700)):
        day = pd.Timestamp(day)
        name = f"child{i}"
        t.child(name, birth="2012-01-01", family=name)
        end = day + pd.Timedelta(days=int(rng.integers(20, 400)))
        e = t.episode(name, str(day.date()), str(end.date()) if end < D("2023-03-31") else None)
        draw = rng.random()
        plan_start = day + pd.Timedelta(days=10)
        plan_end = plan_start + pd.Timedelta(days=int(rng.integers(30, 200)))
        if draw < 0.4:
            t.cin_plan(name, e, str(plan_start.date()), str(plan_end.date()))
        elif draw < 0.6:
            t.cp_plan(name, e, str(plan_start.date()), str(plan_end.date()))
        elif draw < 0.7:
            t.care(name, str(plan_start.date()), str(plan_end.date()), "E4A")
    monthly = monthly_counts(t.tables(), CONFIG)
    assert monthly.groupby("series")["count"].sum().gt(0).all()
    result = segmented_regression(monthly, go_live="2020-11-01", family="poisson")
    assert list(result.columns) == list(RESULT_COLUMNS)
    level = result[result["term"] == "level_change"]
    assert sorted(level["outcome"]) == sorted(SERIES)
    assert (level["n"] == 72).all()
    assert np.isfinite(level[["estimate", "ci_lower", "ci_upper", "se"]].to_numpy()).all()


def test_no_records_gives_all_zero_months():
    t = Timeline(first_year=2019, last_year=2020)
    t.child("amy")
    monthly = monthly_counts(t.tables(), CONFIG)
    assert len(monthly) == 24 * len(SERIES) and (monthly["count"] == 0).all()
