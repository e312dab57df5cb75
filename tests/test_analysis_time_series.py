"""time_series_results: one segmented regression per LA x series, Poisson for flows, Gaussian for stocks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.time_series import family_of, lockdowns_for, time_series_results
from evaluation.results import RESULT_COLUMNS
from evaluation.study import StudyConfig
from evaluation.timeseries import segmented_regression

CONFIG = StudyConfig()


def simulated_monthly(months: int = 96, seed: int = 2) -> pd.DataFrame:
    """Two LAs: a referral flow that drops 20% at go-live and a month-end stock."""
    rng = np.random.default_rng(seed)
    month = pd.date_range("2016-04-01", periods=months, freq="MS")
    rows = []
    for la, size in (("931", 1.0), ("825", 0.6)):
        post = month >= pd.Timestamp("2020-11-01")
        days = month.days_in_month.to_numpy(dtype=float)
        rate = size * 12 * np.where(post, 0.8, 1.0) * (1 + 0.1 * np.sin(2 * np.pi * month.month / 12))
        rows.append(pd.DataFrame({"month": month, "la_code": la, "series": "referrals",
                                  "count": rng.poisson(rate * days), "exposure": days}))
        stock = np.round(size * (500 + np.cumsum(rng.normal(0, 5, months)) - 30 * post))
        rows.append(pd.DataFrame({"month": month, "la_code": la, "series": "on_cp_plan_month_end",
                                  "count": stock.astype(int), "exposure": 1.0}))
    out = pd.concat(rows, ignore_index=True)
    out["la_code"] = out["la_code"].astype("string")
    out["series"] = out["series"].astype("string")
    return out


@pytest.fixture(scope="module")
def monthly():
    return simulated_monthly()


@pytest.fixture(scope="module")
def results(monthly):
    return time_series_results(monthly, CONFIG)


def test_family_and_lockdowns():
    assert family_of("referrals") == "poisson" and family_of("care_entries") == "poisson"
    assert family_of("on_cp_plan_month_end") == "gaussian" and family_of("in_care_month_end") == "gaussian"
    assert lockdowns_for(CONFIG) == (("2020-03-23", "2020-06-30"), ("2021-01-05", "2021-03-08"))
    later = StudyConfig(go_live=dt.date(2021, 2, 1))
    assert ("2021-01-05", "2021-03-08") not in lockdowns_for(later)


def test_each_series_equals_a_direct_segmented_regression(monthly, results):
    for (la, series), part in monthly.groupby(["la_code", "series"]):
        family = family_of(series)
        for name, shift in (("segmented", None), ("placebo", 12)):
            direct = segmented_regression(part, go_live="2020-11-01", lockdowns=lockdowns_for(CONFIG),
                                          placebo_shift_months=shift, family=family)
            ours = results[name]
            ours = ours[(ours["cohort"] == la) & (ours["outcome"] == series)].reset_index(drop=True)
            pd.testing.assert_frame_equal(ours, direct)
    assert all(list(t.columns) == list(RESULT_COLUMNS) for t in results.values())


def test_planted_level_change_is_recovered(results):
    level = results["segmented"]
    flow = level[(level["term"] == "level_change") & (level["outcome"] == "referrals")]
    assert ((flow["ci_lower"] < 0.8) & (0.8 < flow["ci_upper"])).all()
    assert flow["method"].str.contains("rate ratio").all()
    stock = level[(level["term"] == "level_change") & (level["outcome"] == "on_cp_plan_month_end")]
    assert stock["method"].str.contains("gaussian").all()
    placebo = results["placebo"]
    assert placebo["analysis"].eq("its_placebo").all()
    assert placebo["contrast"].str.contains("2019-11-01").all()


def test_short_or_empty_series_are_not_estimable():
    short = simulated_monthly(months=58)  # ends 2021-01: 3 months after go-live
    short.loc[short["series"] == "referrals", "count"] = 0
    out = time_series_results(short, CONFIG)
    rows = out["segmented"]
    assert len(rows) == 4 and rows["method"].str.contains("need 6 on each side").all()
    placebo = out["placebo"]
    flows = placebo[placebo["outcome"] == "referrals"]
    assert flows["method"].eq("not estimable: no events in the series").all()
    stocks = placebo[placebo["outcome"] == "on_cp_plan_month_end"]
    assert stocks["estimate"].notna().any()
