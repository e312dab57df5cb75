"""E-values (VanderWeele & Ding 2017, Ann Intern Med 167:268-74) on the paper's worked example,
on the defining property of the E-value, and on the paper's conversions of HRs and mean differences.

The R package EValue is not packaged for Debian here, so the references are the published formulas
and the paper's worked example: breastfeeding and respiratory death in infants, RR 3.9 (95% CI 1.8
to 8.7), E-value 7.2 for the estimate and 3.0 for the confidence limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.survival.evalue import (
    evalue_hazard_ratio, evalue_mean_difference, evalue_risk_ratio, evalue_rr, hazard_ratio_as_risk_ratio,
    restricted_time_sd,
)


def bias_factor(e: float) -> float:
    """Ding & VanderWeele's bounding factor when both confounder associations equal ``e``."""
    return e * e / (2 * e - 1)


def test_the_papers_worked_example():
    result = evalue_risk_ratio(3.9, 1.8, 8.7)
    assert result.estimate == pytest.approx(7.26, abs=0.005)      # "E-value = 7.2" in the paper
    assert result.ci == pytest.approx(3.0, abs=1e-12)             # 1.8 + sqrt(1.8 * 0.8) = 3.0 exactly


@pytest.mark.parametrize("rr", [1.01, 1.5, 2.0, 3.9, 10.0])
def test_the_evalue_is_where_the_bounding_factor_reaches_the_estimate(rr):
    e = evalue_rr(rr)
    assert bias_factor(e) == pytest.approx(rr, rel=1e-12)
    assert evalue_rr(1 / rr) == pytest.approx(e, rel=1e-12)       # protective estimates: invert


def test_interval_including_one_has_evalue_one_and_protective_interval_uses_upper_limit():
    assert evalue_risk_ratio(1.3, 0.9, 1.8).ci == 1.0
    protective = evalue_risk_ratio(0.5, 0.35, 0.7)
    assert protective.ci == pytest.approx(evalue_rr(1 / 0.7), rel=1e-12)
    assert np.isnan(evalue_rr(float("nan"))) and np.isnan(evalue_rr(0.0))


def test_hazard_ratios_rare_and_common():
    assert hazard_ratio_as_risk_ratio(0.6, rare=True) == 0.6
    common = hazard_ratio_as_risk_ratio(0.6, rare=False)
    assert common == pytest.approx((1 - 0.5 ** np.sqrt(0.6)) / (1 - 0.5 ** np.sqrt(1 / 0.6)), rel=1e-15)
    assert 0.6 < common < 1                                         # a common outcome's RR is nearer 1
    assert hazard_ratio_as_risk_ratio(1.0, rare=False) == pytest.approx(1.0)
    assert hazard_ratio_as_risk_ratio(2.0, rare=False) == pytest.approx(1 / hazard_ratio_as_risk_ratio(0.5, False))
    result = evalue_hazard_ratio(0.6, 0.45, 0.8, rare=False)
    assert result.estimate == pytest.approx(evalue_rr(common), rel=1e-12)
    assert result.ci == pytest.approx(evalue_rr(hazard_ratio_as_risk_ratio(0.8, rare=False)), rel=1e-12)


def test_mean_difference_via_the_standardised_difference():
    # d = -30 / 100 = -0.3: RR = exp(-0.273); interval exp(-0.273 -/+ 1.7836 * 0.1)
    result = evalue_mean_difference(-30.0, 10.0, 100.0)
    assert result.risk_ratio == pytest.approx(np.exp(0.91 * -0.3), rel=1e-12)
    assert result.estimate == pytest.approx(evalue_rr(np.exp(-0.273)), rel=1e-12)
    assert result.ci == pytest.approx(evalue_rr(np.exp(-0.273 + 0.91 * 1.96 * 0.1)), rel=1e-12)
    assert evalue_mean_difference(-5.0, 10.0, 100.0).ci == 1.0
    assert np.isnan(evalue_mean_difference(1.0, 1.0, 0.0).estimate)


def test_restricted_time_sd_without_censoring_is_the_plain_sd():
    rng = np.random.default_rng(4)
    t = np.ceil(rng.exponential(300, 500))
    df = pd.DataFrame({"t": t, "e": 1})
    for tau in (100.0, 365.0, 5000.0):
        assert restricted_time_sd(df, "t", "e", tau) == pytest.approx(np.minimum(t, tau).std(ddof=0), rel=1e-10)
    # weights: duplicating rows is the same as weight 2
    w = df.assign(w=np.where(np.arange(500) < 100, 2.0, 1.0))
    doubled = pd.concat([df, df.iloc[:100]], ignore_index=True)
    assert restricted_time_sd(w, "t", "e", 365.0, weights="w") == pytest.approx(
        restricted_time_sd(doubled, "t", "e", 365.0), rel=1e-12)
