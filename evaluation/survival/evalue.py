"""E-values: how strong unmeasured confounding would have to be to explain an estimate away.

VanderWeele & Ding (2017), "Sensitivity analysis in observational research:
introducing the E-value", Ann Intern Med 167:268-74. For a risk ratio RR > 1
the E-value is ``RR + sqrt(RR (RR - 1))`` (for RR < 1, that of 1/RR): the
minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder would need with both the exposure and the outcome, conditional on
the measured covariates, to fully explain away the estimate. The E-value of
the confidence interval is that of the limit closer to 1, or 1 when the
interval includes 1. Other measures are first converted to approximate risk
ratios as in the paper's Table:

* hazard ratio, outcome rare (under 15% by the end of follow-up): RR = HR;
  outcome common: ``RR = (1 - 0.5**sqrt(HR)) / (1 - 0.5**sqrt(1/HR))``;
* difference in means (here in restricted mean days): the standardised
  difference ``d = difference / sd`` gives ``RR = exp(0.91 d)``, and its
  interval ``exp(0.91 d -/+ 1.78 se_d)``.

The paper's worked example (breastfeeding and infant respiratory death,
RR 3.9, 95% CI 1.8 to 8.7: E-values 7.2 and 3.0) is in tests/test_evalue.py.
:func:`restricted_time_sd` gives the ``sd`` of the restricted time
``min(T, tau)`` from a Kaplan–Meier curve: ``E[min(T, tau)^2] = 2 * integral
of t S(t) dt`` from 0 to tau.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.survival._data import survival_data
from evaluation.survival.kaplan_meier import curve_steps

#: An outcome reached by fewer than this share counts as rare (HR read as RR).
RARE_OUTCOME_SHARE = 0.15
#: exp(0.91 d) converts a standardised mean difference to a risk ratio; 1.78 = 0.91 * 1.96.
SMD_TO_LOG_RR = 0.91


@dataclass(frozen=True)
class EValue:
    """E-value of the point estimate and of the confidence limit closer to the null."""

    estimate: float
    ci: float
    risk_ratio: float


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (NaN for a missing or non-positive one)."""
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    rr = rr if rr >= 1 else 1 / rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def _ci_evalue(lower: float, upper: float) -> float:
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return float("nan")
    if lower <= 1 <= upper:
        return 1.0
    return evalue_rr(lower if lower > 1 else upper)


def evalue_risk_ratio(estimate: float, lower: float = np.nan, upper: float = np.nan) -> EValue:
    """E-values of a risk ratio and its confidence interval."""
    return EValue(evalue_rr(estimate), _ci_evalue(lower, upper), float(estimate))


def hazard_ratio_as_risk_ratio(hr: float, rare: bool) -> float:
    """Approximate risk ratio of a hazard ratio (VanderWeele & Ding 2017, Table)."""
    if not np.isfinite(hr) or hr <= 0:
        return float("nan")
    if rare:
        return float(hr)
    return float((1 - 0.5 ** np.sqrt(hr)) / (1 - 0.5 ** np.sqrt(1 / hr)))


def evalue_hazard_ratio(estimate: float, lower: float, upper: float, rare: bool) -> EValue:
    """E-values of a hazard ratio and its interval (rare or common outcome)."""
    rr = hazard_ratio_as_risk_ratio(estimate, rare)
    return EValue(evalue_rr(rr), _ci_evalue(hazard_ratio_as_risk_ratio(lower, rare),
                                            hazard_ratio_as_risk_ratio(upper, rare)), rr)


def evalue_mean_difference(difference: float, se: float, sd: float) -> EValue:
    """E-values of a difference in means with standard error ``se``, outcome SD ``sd``."""
    if not (np.isfinite(sd) and sd > 0):
        return EValue(float("nan"), float("nan"), float("nan"))
    d, se_d = difference / sd, se / sd
    rr = float(np.exp(SMD_TO_LOG_RR * d))
    half = 1.96 * SMD_TO_LOG_RR * se_d   # 1.78 se_d in the paper
    lower, upper = np.exp(SMD_TO_LOG_RR * d - half), np.exp(SMD_TO_LOG_RR * d + half)
    return EValue(evalue_rr(rr), _ci_evalue(lower, upper), rr)


def restricted_time_sd(df: pd.DataFrame, duration: str, event: str, tau: float,
                       entry: str | None = None, weights: str | None = None) -> float:
    """SD of ``min(T, tau)`` from the (weighted, delayed-entry) Kaplan–Meier curve of the rows."""
    steps = curve_steps(survival_data(df, duration, event, entry=entry, weights=weights))
    times, surv = steps["time"], steps["survival"]
    keep = times < tau
    knots = np.concatenate(([0.0], times[keep], [tau]))
    heights = np.concatenate(([1.0], surv[keep]))
    first = float(np.sum(np.diff(knots) * heights))                         # RMST
    second = float(np.sum(heights * (knots[1:] ** 2 - knots[:-1] ** 2)))    # 2 * integral t S(t) dt
    return float(np.sqrt(max(second - first**2, 0.0)))


__all__ = ["EValue", "RARE_OUTCOME_SHARE", "evalue_hazard_ratio", "evalue_mean_difference", "evalue_risk_ratio",
           "evalue_rr", "hazard_ratio_as_risk_ratio", "restricted_time_sd"]
