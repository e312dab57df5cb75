"""Interrupted time series (segmented regression with Newey–West SEs), against R.

Reference: tests/reference/timeseries/make_reference.R (stats::glm, MASS::glm.nb,
sandwich::NeweyWest(lag = L, prewhite = FALSE, adjust = TRUE)) on monthly.csv.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from evaluation import timeseries as ts
from evaluation.results import RESULT_COLUMNS

HERE = Path(__file__).resolve().parent / "reference" / "timeseries"
REFERENCE = json.loads((HERE / "reference.json").read_text())
KIND = {
    "poisson": dict(family="poisson"),
    "negative_binomial": dict(family="negative_binomial"),
    "gaussian": dict(family="gaussian"),
    "placebo_poisson": dict(family="poisson", placebo_shift_months=12),
    "poisson_lag6": dict(family="poisson"),
}


@pytest.fixture(scope="module")
def monthly() -> pd.DataFrame:
    return pd.read_csv(HERE / "monthly.csv")


def _series(monthly, la, series):
    return monthly[(monthly["la_code"] == la) & (monthly["series"] == series)]


@pytest.mark.parametrize("key", sorted(REFERENCE["fits"]))
def test_coefficients_and_newey_west_ses_match_r(monthly, key):
    la, series, kind = key.split("|")
    ref = REFERENCE["fits"][key]
    fit = ts.fit_segmented(_series(monthly, la, series), hac_lags=ref["lag"], **KIND[kind])
    assert list(fit.terms) == ref["terms"]
    assert fit.n_months == ref["n"]
    np.testing.assert_allclose(fit.params, ref["coef"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-4)
    np.testing.assert_allclose(fit.cov, ref["vcov"], rtol=1e-4, atol=1e-14)
    if ref["theta"] is not None:
        assert fit.theta == pytest.approx(ref["theta"], rel=1e-6)
    else:
        assert fit.theta is None


def test_design_columns():
    months = pd.date_range("2020-01-01", "2021-04-01", freq="MS")
    x = ts.its_design(months, "2020-11-01")
    assert list(x.columns) == ["intercept", "time", "post", "months_since_go_live",
                               "sin1", "cos1", "sin2", "cos2", "lockdown_1", "lockdown_2"]
    by_month = x.set_index(months.strftime("%Y-%m"))
    assert by_month.loc["2020-03", "lockdown_1"] == pytest.approx(9 / 31)
    assert by_month.loc[["2020-04", "2020-05", "2020-06"], "lockdown_1"].eq(1).all()
    assert by_month.loc["2020-07", "lockdown_1"] == 0
    assert by_month.loc["2021-01", "lockdown_2"] == pytest.approx(27 / 31)
    assert by_month.loc["2021-03", "lockdown_2"] == pytest.approx(8 / 31)
    assert list(by_month.loc["2020-10":"2021-01", "post"]) == [0, 1, 1, 1]
    assert list(by_month.loc["2020-10":"2021-01", "months_since_go_live"]) == [0, 0, 1, 2]
    assert list(x["time"]) == list(range(len(months)))
    # December and January seasonal terms: cos1 is 1 in December
    assert by_month.loc["2020-12", "cos1"] == pytest.approx(1.0)


def test_newey_west_lag_rule():
    assert ts.newey_west_lag(96) == 3
    assert ts.newey_west_lag(100) == 4


def test_lag_zero_is_the_small_sample_corrected_hc0(monthly):
    part = _series(monthly, "E10000025", "referrals")
    fit = ts.fit_segmented(part, hac_lags=0)
    x = ts.its_design(pd.to_datetime(part["month"]))
    glm = sm.GLM(part["count"].to_numpy(), x.to_numpy(), family=sm.families.Poisson(),
                 offset=np.log(part["exposure"].to_numpy())).fit(cov_type="HC0")
    n, k = x.shape
    np.testing.assert_allclose(fit.cov, glm.cov_params() * n / (n - k), rtol=1e-8)


def test_tidy_table_reports_rate_ratios_with_hac_cis(monthly):
    table = ts.segmented_regression(monthly, family="poisson", hac_lags=3)
    assert tuple(table.columns) == RESULT_COLUMNS
    # 2 LAs x 2 series x (trend, level, slope, 2 lockdowns)
    assert len(table) == 2 * 2 * 5
    level = table[(table["term"] == "level_change") & (table["outcome"] == "referrals")
                  & (table["cohort"] == "E10000025")].iloc[0]
    ref = REFERENCE["fits"]["E10000025|referrals|poisson"]
    i = ref["terms"].index("post")
    b, se = ref["coef"][i], ref["se"][i]
    assert level["estimate"] == pytest.approx(np.exp(b), rel=1e-6)
    assert level["ci_lower"] == pytest.approx(np.exp(b - 1.959963984540054 * se), rel=1e-4)
    assert level["ci_upper"] == pytest.approx(np.exp(b + 1.959963984540054 * se), rel=1e-4)
    assert level["statistic"] == pytest.approx(b / se, rel=1e-4)
    # the planted 15% drop at go-live is found in both authorities
    levels = table[(table["term"] == "level_change") & (table["outcome"] == "referrals")]
    assert (levels["ci_upper"] < 1).all()
    assert (levels["estimate"].between(0.75, 0.95)).all()
    assert (table["analysis"] == "its_segmented").all()
    assert table["events"].gt(0).all()


def test_placebo_drops_the_later_lockdown_and_finds_no_planted_change(monthly):
    table = ts.segmented_regression(monthly, placebo_shift_months=12, hac_lags=3)
    assert (table["analysis"] == "its_placebo").all()
    assert "lockdown_2" not in set(table["term"])
    assert table["contrast"].str.contains("2019-11-01").all()
    assert (table["n"] == 67).all()  # April 2015 to October 2020


def test_gaussian_reports_differences_not_ratios(monthly):
    table = ts.segmented_regression(monthly[monthly["series"] == "cp_starts"], family="gaussian", hac_lags=3)
    level = table[(table["term"] == "level_change") & (table["cohort"] == "E10000016")].iloc[0]
    ref = REFERENCE["fits"]["E10000016|cp_starts|gaussian"]
    assert level["estimate"] == pytest.approx(ref["coef"][ref["terms"].index("post")], rel=1e-6)
    assert level["estimate"] < 0


def test_bad_inputs_are_rejected(monthly):
    part = _series(monthly, "E10000025", "referrals")
    with pytest.raises(ValueError, match="family"):
        ts.fit_segmented(part, family="binomial")
    with pytest.raises(ValueError, match="both sides"):
        ts.fit_segmented(part[pd.to_datetime(part["month"]) < "2020-11-01"])
