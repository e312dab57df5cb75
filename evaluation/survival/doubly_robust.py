"""Doubly robust (augmented IPW) difference in restricted mean survival time.

The outcome of each row is its RMST pseudo-observation up to ``tau``: the
cohort's RMST plus ``n`` times the row's infinitesimal-jackknife influence, as
R ``pseudo(survfit(Surv(time, status) ~ 1), times = tau, type = "rmst")``,
computed within each cohort (so censoring may differ between cohorts). With a
logistic propensity ``e(x)`` of the comparison cohort and a linear outcome
model ``m_a(x)`` of the pseudo-observations fitted within each cohort ``a``,
the augmented IPW estimate of the difference (comparison − reference) is the
mean over both cohorts' rows of

    m1(x) - m0(x) + A (Y - m1(x)) / e(x) - (1 - A) (Y - m0(x)) / (1 - e(x)),

consistent if either model is right (Bang & Robins 2005; pseudo-observations:
Andersen, Hansen & Klein 2004). With ``n_boot > 0`` the confidence limits are
percentiles of a cluster (family) bootstrap that refits everything,
pseudo-observations included; with ``n_boot = 0`` they are normal limits from
the cluster-robust variance of the estimator's terms above (summed within
families; the estimation of the nuisance models is ignored, which is usually
conservative for AIPW). The bootstrap costs about 0.3 s per resample per
10,000 rows on a shared machine. Checked against R in
tests/test_target_trial_aipw.py.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival._data import survival_data
from evaluation.survival.rmst import fit_rmst


def rmst_pseudo_observations(df: pd.DataFrame, duration: str, event: str, tau: float,
                             entry: str | None = None) -> np.ndarray:
    """RMST pseudo-observations ``theta + n * influence`` (IJ) of the rows of ``df``."""
    fit = fit_rmst(survival_data(df, duration, event, entry=entry), tau)
    return fit.estimate + len(df) * fit.influence


def _logistic_fit(design: np.ndarray, y: np.ndarray, tol: float = 1e-12, max_iter: int = 50) -> np.ndarray:
    """Fitted probabilities of a logistic regression (Newton-Raphson, as R ``glm``'s IRLS)."""
    beta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(design @ beta)))
        w = p * (1 - p)
        step = np.linalg.pinv(design.T @ (design * w[:, None])) @ (design.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return 1 / (1 + np.exp(-(design @ beta)))


def _estimates(df, duration, event, treated, x, taus, entry, terms: list | None = None) -> list[float]:
    """The AIPW difference at each tau (one propensity model for all); ``terms`` collects each
    row's contribution per tau when given."""
    for arm in (False, True):
        rows = treated == arm
        if rows.sum() < 2 or df.loc[rows, event].sum() == 0:
            raise NotEstimable("a cohort without events or rows")
    design = np.column_stack([np.ones(len(x)), x])
    e = _logistic_fit(design, treated.astype(float))
    if np.any((e < 1e-8) | (e > 1 - 1e-8)):
        raise NotEstimable("propensity of 0 or 1: the cohorts are separated by the covariates")
    a = treated.astype(float)
    out = []
    for tau in taus:
        y = np.empty(len(df))
        m = {}
        for arm in (False, True):
            rows = treated == arm
            y[rows] = rmst_pseudo_observations(df[rows], duration, event, tau, entry)
            # least squares through the normal equations (pinv: a column constant in one cohort is fine)
            xr = design[rows]
            m[arm] = design @ (np.linalg.pinv(xr.T @ xr) @ (xr.T @ y[rows]))
        contributions = m[True] - m[False] + a * (y - m[True]) / e - (1 - a) * (y - m[False]) / (1 - e)
        out.append(float(contributions.mean()))
        if terms is not None:
            terms.append(contributions)
    return out


def aipw_rmst_difference(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    covariates: Sequence[str],
    tau: Sequence[float],
    reference: str,
    comparison: str,
    cluster: str,
    n_boot: int,
    seed: int,
    entry: str | None = None,
    conf_level: float = 0.95,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Augmented IPW RMST difference (comparison − reference) at each ``tau``, tidy rows
    (``analysis="rmst_aipw"``, ``term="rmst_difference"``) with cluster-bootstrap percentile limits."""
    data = df[df[group].isin([reference, comparison]).to_numpy()].reset_index(drop=True)
    treated = (data[group] == comparison).to_numpy()
    if treated.all() or not treated.any():
        raise NotEstimable(f"needs rows in both {reference} and {comparison}")
    x = data[list(covariates)].to_numpy(dtype=float)
    taus = [float(t) for t in (tau if not np.isscalar(tau) else [tau])]
    terms: list[np.ndarray] = []
    estimates = _estimates(data, duration, event, treated, x, taus, entry, terms)
    clusters, codes = np.unique(data[cluster].astype(str).to_numpy(), return_inverse=True)
    if n_boot == 0:
        z = stats.norm.ppf(1 - (1 - conf_level) / 2)
        out = []
        for t, estimate, contribution in zip(taus, estimates, terms):
            se = float(np.sqrt(np.sum(np.bincount(codes, weights=contribution - estimate) ** 2)) / len(data))
            out.append({
                "outcome": outcome, "analysis": "rmst_aipw", "contrast": f"{comparison} vs {reference}",
                "combination": "all", "term": "rmst_difference", "time": t, "estimate": estimate,
                "ci_lower": estimate - z * se, "ci_upper": estimate + z * se, "se": se,
                "statistic": estimate / se if se > 0 else np.nan,
                "p_value": float(2 * stats.norm.sf(abs(estimate / se))) if se > 0 else np.nan,
                "n": len(data), "events": int(data[event].sum()),
                "method": ("doubly robust (augmented IPW) RMST difference: RMST pseudo-observations per "
                           "cohort, logistic propensity, linear outcome model per cohort; "
                           f"{cluster}-clustered influence-function SE")})
        return tidy(out)

    members = [np.flatnonzero(codes == k) for k in range(len(clusters))]
    rng = np.random.default_rng(seed)
    draws = np.full((n_boot, len(taus)), np.nan)
    for b in range(n_boot):
        picked = rng.integers(0, len(clusters), len(clusters))
        rows = np.concatenate([members[k] for k in picked])
        sample = data.iloc[rows].reset_index(drop=True)
        try:
            draws[b] = _estimates(sample, duration, event, treated[rows], x[rows], taus, entry)
        except (NotEstimable, np.linalg.LinAlgError, ValueError):
            continue   # a resample without events in a cohort, or separated: left out (counted below)
    alpha = (1 - conf_level) / 2
    out = []
    for j, t in enumerate(taus):
        good = draws[:, j][np.isfinite(draws[:, j])]
        if len(good) < 0.9 * n_boot:
            raise NotEstimable(f"only {len(good)} of {n_boot} bootstrap resamples could be fitted")
        lower, upper = np.quantile(good, [alpha, 1 - alpha])
        out.append({
            "outcome": outcome, "analysis": "rmst_aipw", "contrast": f"{comparison} vs {reference}",
            "combination": "all", "term": "rmst_difference", "time": t, "estimate": estimates[j],
            "ci_lower": lower, "ci_upper": upper, "se": float(np.std(good, ddof=1)),
            "n": len(data), "events": int(data[event].sum()),
            "method": ("doubly robust (augmented IPW) RMST difference: RMST pseudo-observations per cohort, "
                       "logistic propensity, linear outcome model per cohort; "
                       f"{cluster} bootstrap ({len(good)} resamples) percentile CI")})
    return tidy(out)


__all__ = ["aipw_rmst_difference", "rmst_pseudo_observations"]
