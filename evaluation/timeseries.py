"""Interrupted time series of monthly counts around go-live (segmented regression).

Did monthly referrals (or plan starts, care entries...) in a local authority
change in level or trend when the programme went live? The model, fitted to
each (local authority, series) separately, is the standard segmented
regression

    log E[count] = log(exposure) + b0 + b1·time + b2·post + b3·months_since_go_live
                   + seasonality + lockdown terms

* ``time``: months since the first month of the series (0, 1, 2, ...);
* ``post``: 1 from the go-live month on (level change; ``exp(b2)`` is a rate ratio);
* ``months_since_go_live``: 0 before go-live, then 0, 1, 2, ... (slope change;
  ``exp(b3)`` is the change in the monthly rate ratio);
* seasonality: ``harmonics`` Fourier pairs ``sin(2πk·m/12), cos(2πk·m/12)``
  of the calendar month m = 1..12 (k = 1..harmonics; 2 pairs by default —
  fewer parameters than 11 month dummies with 8 years of data);
* one term per Covid lockdown: the fraction of the month's days inside the
  lockdown window, so a lockdown starting on the 23rd counts for 9/31.

Families: Poisson (log link, ``exposure`` as offset), negative binomial
(NB2, theta by maximum likelihood alternating with IRLS exactly like R's
``MASS::glm.nb``, then SEs with theta held fixed as R does) or Gaussian
(identity link on the rate ``count / exposure``).

Standard errors are Newey–West (HAC), matched to R's
``sandwich::NeweyWest(fit, lag = L, prewhite = FALSE, adjust = TRUE)``:

=========================  ================================================
R sandwich::NeweyWest       statsmodels ``fit(cov_type="HAC", cov_kwds=...)``
=========================  ================================================
Bartlett kernel, weights    ``kernel="bartlett"`` (weights 1 − j/(L+1))
1 − j/(lag + 1)
``lag = L``                 ``maxlags=L``
``prewhite = FALSE``        statsmodels never prewhitens (R's default is TRUE:
                            always pass FALSE)
``adjust = TRUE``           ``use_correction=True``: both scale by n/(n − k)
bread = (X'WX)⁻¹ (IRLS,     the same matrix for canonical links (Poisson log,
expected information)       Gaussian identity); for the NB log link, which is
                            not canonical, refit with ``method="newton",
                            optim_hessian="eim"`` or statsmodels uses the
                            observed information (SEs 2–4% off)
=========================  ================================================

When ``hac_lags`` is None the lag is Newey & West's (1994) rule
floor(4·(n/100)^(2/9)), which is 3 for 96 months.

Placebo (``placebo_shift_months=k``): the same model fitted only to the months
before the real go-live, with a pretend go-live k months earlier; lockdown
terms with no lockdown days in that window are dropped. A "level change" there
is a warning sign for the main estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from evaluation.errors import NotEstimable, estimable
from evaluation.results import tidy

#: The national Covid lockdowns in England (first and third); the second
#: (November 2020) coincides with go-live and is left to the level term.
DEFAULT_LOCKDOWNS: tuple[tuple[str, str], ...] = (("2020-03-23", "2020-06-30"), ("2021-01-05", "2021-03-08"))

FAMILIES = ("poisson", "negative_binomial", "gaussian")


def newey_west_lag(n: int) -> int:
    """Newey & West (1994) automatic lag, floor(4·(n/100)^(2/9))."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def its_design(
    months: Sequence,
    go_live: str = "2020-11-01",
    lockdowns: Sequence[tuple[str, str]] = DEFAULT_LOCKDOWNS,
    harmonics: int = 2,
) -> pd.DataFrame:
    """Covariates of the segmented regression for the given months (first-of-month dates).

    Columns: intercept, time, post, months_since_go_live, sin1, cos1, ...,
    lockdown_1, ...; one row per month, in the order given.
    """
    month = pd.DatetimeIndex(pd.to_datetime(months)).to_period("M")
    first = month.min()
    time = np.asarray([(m - first).n for m in month], dtype=float)
    live = pd.Timestamp(go_live).to_period("M")
    since = np.asarray([(m - live).n for m in month], dtype=float)
    post = (since >= 0).astype(float)
    design = {"intercept": np.ones(len(month)), "time": time, "post": post, "months_since_go_live": since * post}
    calendar = np.asarray(month.month, dtype=float)
    for k in range(1, harmonics + 1):
        design[f"sin{k}"] = np.sin(2 * np.pi * k * calendar / 12)
        design[f"cos{k}"] = np.cos(2 * np.pi * k * calendar / 12)
    month_start = month.to_timestamp(how="start")
    month_end = month.to_timestamp(how="end").normalize()
    days = np.asarray(month.days_in_month, dtype=float)
    for i, (begin, end) in enumerate(lockdowns, start=1):
        lo = np.maximum(month_start.values, np.datetime64(pd.Timestamp(begin)))
        hi = np.minimum(month_end.values, np.datetime64(pd.Timestamp(end)))
        overlap = (hi - lo).astype("timedelta64[D]").astype(float) + 1
        design[f"lockdown_{i}"] = np.clip(overlap, 0, None) / days
    return pd.DataFrame(design)


@dataclass(frozen=True)
class SegmentedFit:
    """One fitted interrupted time series: coefficients on the link scale and their HAC covariance."""

    terms: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    family: str
    hac_lags: int
    n_months: int
    total_count: float
    theta: float | None      # negative binomial size (R's theta), else None
    go_live: pd.Timestamp

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def coefficient(self, term: str) -> tuple[float, float]:
        """(estimate, HAC SE) of one term on the link scale."""
        i = self.terms.index(term)
        return float(self.params[i]), float(self.se[i])


def _theta_ml(y: np.ndarray, mu: np.ndarray, theta: float, tol: float = 1e-12, limit: int = 50) -> float:
    """Maximum-likelihood NB size given the means, by Newton's method (as ``MASS::theta.ml``)."""
    for _ in range(limit):
        score = np.sum(special.digamma(theta + y) - special.digamma(theta) + np.log(theta) + 1
                       - np.log(theta + mu) - (y + theta) / (mu + theta))
        info = np.sum(-special.polygamma(1, theta + y) + special.polygamma(1, theta) - 1 / theta
                      + 2 / (mu + theta) - (y + theta) / (mu + theta) ** 2)
        step = score / info
        theta = theta + step
        if theta <= 0:
            raise NotEstimable("not fitted: the negative binomial model did not converge "
                               "(the counts look under-dispersed)")
        if abs(step) < tol * max(1.0, theta):
            break
    return float(theta)


def fit_segmented(
    series: pd.DataFrame,
    go_live: str = "2020-11-01",
    lockdowns: Sequence[tuple[str, str]] = DEFAULT_LOCKDOWNS,
    family: str = "poisson",
    hac_lags: int | None = None,
    harmonics: int = 2,
    placebo_shift_months: int | None = None,
) -> SegmentedFit:
    """Fit the segmented regression to one monthly series (columns month, count, optional exposure)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    data = series.sort_values("month").reset_index(drop=True)
    months = pd.to_datetime(data["month"])
    live = pd.Timestamp(go_live)
    if placebo_shift_months:
        keep = months.dt.to_period("M") < live.to_period("M")
        data, months = data[keep.to_numpy()].reset_index(drop=True), months[keep].reset_index(drop=True)
        live = live - pd.DateOffset(months=placebo_shift_months)
    design = its_design(months, live, lockdowns, harmonics)
    if design["post"].nunique() < 2:
        raise NotEstimable("no months on both sides of go-live")
    empty = [c for c in design.columns if c.startswith("lockdown_") and not design[c].any()]
    design = design.drop(columns=empty)  # lockdowns outside the window of months
    y = data["count"].to_numpy(dtype=float)
    exposure = data["exposure"].to_numpy(dtype=float) if "exposure" in data else np.ones(len(data))
    lags = newey_west_lag(len(y)) if hac_lags is None else int(hac_lags)
    hac = {"maxlags": lags, "kernel": "bartlett", "use_correction": True}
    x = design.to_numpy()
    theta = None
    with estimable(PerfectSeparationError):  # a singular design or a failed fit: no estimate
        if family == "gaussian":
            model = sm.GLM(y / exposure, x, family=sm.families.Gaussian())
            result = model.fit(cov_type="HAC", cov_kwds=hac)
        else:
            offset = np.log(exposure)
            poisson = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset).fit(tol=1e-12)
            if family == "poisson":
                result = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset).fit(
                    start_params=poisson.params, tol=1e-12, cov_type="HAC", cov_kwds=hac)
            else:
                result, theta = _fit_negative_binomial(y, x, offset, poisson, hac)
        cov = np.asarray(result.cov_params())
    return SegmentedFit(
        terms=tuple(design.columns), params=np.asarray(result.params), cov=cov,
        family=family, hac_lags=lags, n_months=len(y), total_count=float(y.sum()), theta=theta, go_live=live,
    )


def _fit_negative_binomial(y, x, offset, poisson, hac, tol: float = 1e-10, limit: int = 100):
    """Alternate IRLS for the coefficients with ML for theta until both settle (``MASS::glm.nb``)."""
    mu = poisson.fittedvalues
    theta = _theta_ml(y, mu, len(y) / np.sum((y / mu - 1) ** 2))
    params = poisson.params
    for _ in range(limit):
        nb = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=1 / theta), offset=offset)
        fitted = nb.fit(start_params=params, tol=1e-13)
        new_theta = _theta_ml(y, fitted.fittedvalues, theta)
        converged = abs(new_theta - theta) < tol * theta and np.max(np.abs(fitted.params - params)) < tol
        params, theta = fitted.params, new_theta
        if converged:
            break
    # R's bread is the expected information (IRLS weights); the NB log link is not canonical, so
    # statsmodels must be told (optim_hessian="eim"), otherwise its sandwich uses the observed one.
    nb = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=1 / theta), offset=offset)
    result = nb.fit(start_params=params, method="newton", optim_hessian="eim", tol=1e-13,
                    cov_type="HAC", cov_kwds=hac, disp=False)
    if np.max(np.abs(result.params - params)) > 1e-8:
        raise NotEstimable("not fitted: the negative binomial model did not converge")
    return result, float(theta)


def segmented_regression(
    monthly: pd.DataFrame,
    go_live: str = "2020-11-01",
    lockdowns: Sequence[tuple[str, str]] = DEFAULT_LOCKDOWNS,
    placebo_shift_months: int | None = None,
    family: str = "poisson",
    hac_lags: int | None = None,
    harmonics: int = 2,
    level: float = 0.95,
) -> pd.DataFrame:
    """Level and slope change at go-live per local authority and series, as a tidy result table.

    ``monthly`` has columns month (any date in the month), la_code, series,
    count and optionally exposure (child population, days in month...). Rows:
    terms "level_change", "slope_change", "trend" and each lockdown, with
    estimate and CI as rate ratios (exp of the coefficient) for Poisson and
    negative binomial, on the rate scale for Gaussian; ``se``, ``statistic``
    (z) and ``p_value`` refer to the coefficient, with Newey–West SEs. The
    local authority goes in ``cohort`` (the population the estimate is about).
    """
    names = {"post": "level_change", "months_since_go_live": "slope_change", "time": "trend"}
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for (la, series), part in monthly.groupby(["la_code", "series"], sort=True):
        fit = fit_segmented(part, go_live, lockdowns, family, hac_lags, harmonics, placebo_shift_months)
        ratio = family != "gaussian"
        analysis = "its_placebo" if placebo_shift_months else "its_segmented"
        scale = "rate ratio" if ratio else "difference in rate"
        method = (f"segmented {family} regression, {harmonics} seasonal harmonics, lockdown fractions; "
                  f"Newey–West SE (Bartlett, lag {fit.hac_lags}, no prewhitening, n/(n-k)); {scale}")
        if fit.theta is not None:
            method += f"; theta {fit.theta:.4g}"
        for term in fit.terms:
            if term == "intercept" or term.startswith(("sin", "cos")):
                continue
            est, se = fit.coefficient(term)
            lower, upper = est - z * se, est + z * se
            transform = np.exp if ratio else (lambda v: v)
            rows.append({
                "outcome": series, "analysis": analysis, "cohort": la,
                "contrast": f"after vs before go-live {fit.go_live.date()}", "combination": "all",
                "term": names.get(term, term), "estimate": transform(est), "ci_lower": transform(lower),
                "ci_upper": transform(upper), "se": se, "statistic": est / se,
                "p_value": 2 * stats.norm.sf(abs(est / se)), "n": fit.n_months, "events": int(fit.total_count),
                "method": method,
            })
    return tidy(rows)
