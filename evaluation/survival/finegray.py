"""Regression for competing exits: Fine–Gray subdistribution hazards and cause-specific Cox.

Two questions, two models:

* *Does FSP change how many children leave by a given route?* — the
  Fine–Gray model of the subdistribution hazard, whose coefficients act on the
  cumulative incidence. :func:`fine_gray` fits it two ways, whose coefficients
  agree (exactly, with Breslow ties, unless a censoring ties with an exit):

  - ``variance="crr"``: the estimating equations of Fine & Gray (1999) with
    their sandwich variance, which allows for the estimated censoring
    distribution — R ``cmprsk::crr``. Right-censored data only, no clusters.
  - ``variance="robust"``: the model of the ``survival::finegray`` data
    expansion (children who left by another route stay in the risk set with
    inverse-probability-of-censoring weights, with left-truncation weights
    under delayed entry) fitted as a weighted Cox model with a cluster-robust
    sandwich — R ``coxph(Surv(fgstart, fgstop, fgstatus) ~ x, weights = fgwt,
    cluster = id)``. Use this with delayed entry or family clusters.

  Both are fitted by a scan over sorted times
  (:mod:`evaluation.survival.finegray_scan`) from one row per child: the
  expansion grows as competing exits × event days (hundreds of millions of
  rows for a million children), the scan as the children. The expansion
  itself (:func:`finegray_expand`, ``algorithm="expand"``) stays as the test
  oracle: the two agree to ~1e-12.

* *Does FSP change the rate of a route among children still open?* — the
  cause-specific Cox model (:func:`cause_specific_cox`), a Cox model in which
  the other routes are censored, fitted by :func:`evaluation.survival.cox.cox_ph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival.competing import is_censored
from evaluation.survival.cox import TOLER_INF, CoxResult, _usable_columns, cox_ph
from evaluation.survival.finegray_scan import scan_fit


# --------------------------------------------------------------------------------------
# survival::finegray data expansion
# --------------------------------------------------------------------------------------


class ExpansionTooLarge(ValueError):
    """The finegray expansion would hold more rows than allowed (``max_rows``)."""


def _finegray_weight_steps(stop, start, censored, delayed):
    """The step function of ``survival::finegray``'s weights: interval ``j`` ends at
    ``cut_end[j]`` (intervals are ``(cut_end[j-1], cut_end[j]]``) and has probability
    ``cut_weight[j]`` (censoring Kaplan–Meier, times the reverse-time Kaplan–Meier of
    entry under delayed entry). A competing exit at ``T`` carries ``W(s) / W(T)`` at a
    later ``s``, where ``W(t) = cut_weight[searchsorted(cut_end, t, "left")]``."""
    # censoring distribution; exits tied with a censoring come first
    # at risk of censoring at c: start < c <= stop, less the exits at c
    censor_times, c_events = np.unique(stop[censored], return_counts=True)
    sorted_start, sorted_stop = np.sort(start), np.sort(stop)
    exits = np.sort(stop[~censored])
    c_at_risk = (
        np.searchsorted(sorted_start, censor_times, side="left")
        - np.searchsorted(sorted_stop, censor_times, side="left")
        - (np.searchsorted(exits, censor_times, side="right") - np.searchsorted(exits, censor_times, side="left"))
    )
    g_surv = np.cumprod(1 - c_events / c_at_risk)

    delayed = bool(delayed and np.any(start > stop.min()))
    if delayed:
        # reverse-time Kaplan–Meier of entry: prob(entered by t) at each entry time
        entry_times, e_events = np.unique(start, return_counts=True)
        e_at_risk = np.searchsorted(sorted_start, entry_times, side="right") - np.searchsorted(
            sorted_stop, entry_times, side="right"
        )  # start <= s < stop
        factors = 1 - e_events / e_at_risk
        entered = np.append(np.cumprod(factors[::-1])[::-1][1:], 1.0)  # product over later entry times
        cuts = np.union1d(entry_times, censor_times)
        i_entry = np.searchsorted(entry_times, cuts, side="right") - 1
        i_censor = np.searchsorted(censor_times, cuts, side="right")
        cut_prob = entered[i_entry] * np.concatenate([[1.0], g_surv])[i_censor]
    else:
        cuts = censor_times
        cut_prob = g_surv
    cut_end = np.append(cuts, stop.max())  # interval j ends at cut_end[j]
    cut_weight = np.concatenate([[1.0], cut_prob])  # and has probability cut_weight[j]
    return cut_end, cut_weight


def finegray_expand(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    cause_of_interest,
    entry: str | None = None,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """Expand one-row-per-child data for a Fine–Gray fit, as R ``survival::finegray``.

    Children who left by the cause of interest or were censored keep their
    row. Children who left by a competing route stay in the risk set after
    their exit, on further rows over the intervals between censoring times
    (only those holding an event of interest), with weight G(t)/G(exit) where
    G is the Kaplan–Meier curve of the censoring distribution (censorings at a
    tied time count after the exits). Under delayed entry the weight also
    carries the reverse-time Kaplan–Meier of entry times (R's left-truncation
    weight), as ``finegray`` does when some entry follows the first exit.

    Returns the input columns plus ``fgstart, fgstop, fgstatus, fgwt`` and
    ``fgrow`` (the input row position), in R's row order. Each competing exit
    gets a row per later interval holding an event of interest, so the
    expansion grows as (competing exits × event days); with ``max_rows`` a
    larger one raises :class:`ExpansionTooLarge` before any row is built.
    """
    stop = df[duration].to_numpy(dtype=float)
    n = len(stop)
    start = df[entry].to_numpy(dtype=float) if entry is not None else np.zeros(n)
    if entry is None and stop.min() <= 0:
        start = np.full(n, 2 * stop.min() - 1)
    if np.any(start >= stop):
        raise ValueError("every row needs entry < duration")
    censored = is_censored(df[cause])
    interest = (df[cause] == cause_of_interest).to_numpy() & ~censored
    competing = ~censored & ~interest
    if not interest.any():
        raise NotEstimable(f"no exits by {cause_of_interest!r}")

    cut_end, cut_weight = _finegray_weight_steps(stop, start, censored, delayed=entry is not None)
    event_times = np.unique(stop[interest])
    keep = np.zeros(len(cut_end), dtype=bool)
    keep[0] = True
    keep[np.searchsorted(cut_end, event_times, side="left")] = True  # interval holding an event

    first_cut = np.searchsorted(cut_end, stop, side="left")  # interval holding each exit
    kept = np.flatnonzero(keep)
    extra_from = np.searchsorted(kept, first_cut, side="right")
    n_extra = np.where(competing, len(kept) - extra_from, 0)
    if max_rows is not None and n + int(n_extra.sum()) > max_rows:
        raise ExpansionTooLarge(
            f"the Fine–Gray (finegray) expansion would need {n + int(n_extra.sum()):,} rows, more than "
            f"the {max_rows:,} allowed; the cause-specific Cox models and cumulative incidence stand")

    row_end = np.where(competing, cut_end[np.minimum(first_cut, len(cut_end) - 1)], stop)
    rows = [np.arange(n)]
    starts, ends, wts, order_key = [start], [row_end], [np.ones(n)], [np.zeros(n)]
    who = np.repeat(np.arange(n), n_extra)
    if len(who):
        position = np.arange(len(who)) - np.repeat(np.cumsum(n_extra) - n_extra, n_extra)
        j = kept[extra_from[who] + position]
        rows.append(who)
        starts.append(cut_end[j - 1])
        ends.append(cut_end[j])
        wts.append(cut_weight[j] / cut_weight[first_cut[who]])
        order_key.append(position + 1.0)
    row = np.concatenate(rows)
    order = np.lexsort((np.concatenate(order_key), row))
    out = df.iloc[row[order]].reset_index(drop=True)
    out["fgstart"] = np.concatenate(starts)[order]
    out["fgstop"] = np.concatenate(ends)[order]
    out["fgstatus"] = interest[row[order]].astype(int)
    out["fgwt"] = np.concatenate(wts)[order]
    out["fgrow"] = row[order]
    return out


# --------------------------------------------------------------------------------------
# Fine–Gray fits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineGrayFit:
    """Fine–Gray fit for one cause of interest."""

    cause_of_interest: object
    terms: tuple[str, ...]
    coef: np.ndarray
    var: np.ndarray
    method: str
    n: int
    events: int
    naive_var: np.ndarray | None = None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.var))

    def tidy(self, outcome: str | None = None, conf_level: float = 0.95) -> pd.DataFrame:
        """One row per covariate: subdistribution hazard ratio exp(coef), its CI, SE of coef, Wald z and p."""
        z = stats.norm.ppf(1 - (1 - conf_level) / 2)
        rows = []
        for name, b, s in zip(self.terms, self.coef, self.se):
            # A zero standard error is a covariate the data carry no information on: no interval
            # and no test, rather than infinite ones.
            s = s if s > 0 else np.nan
            rows.append(
                {
                    "outcome": outcome,
                    "analysis": "fine_gray",
                    "combination": "all",
                    "term": name,
                    "estimate": np.exp(b),
                    "ci_lower": np.exp(b - z * s),
                    "ci_upper": np.exp(b + z * s),
                    "se": s,
                    "statistic": b / s,
                    "p_value": 2 * stats.norm.sf(abs(b / s)),
                    "n": self.n,
                    "events": self.events,
                    "method": f"{self.method}; subdistribution HR for {self.cause_of_interest}, se of log HR",
                }
            )
        return tidy(rows)


def fine_gray(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    cause_of_interest,
    covariates: Sequence[str],
    entry: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    variance: str = "robust",
    ties: str = "breslow",
    max_rows: int | None = None,
    algorithm: str = "auto",
) -> FineGrayFit:
    """Fine–Gray subdistribution-hazard regression for ``cause_of_interest``.

    ``variance="crr"`` reproduces ``cmprsk::crr`` (coefficients and its own
    sandwich SE; no entry, cluster or weights). ``variance="robust"`` reproduces
    ``survival::finegray`` + ``coxph(..., weights = fgwt, cluster = <cluster or
    child>)``; with ``ties="breslow"`` its coefficients equal crr's when there is
    no delayed entry and no censoring falls on an exit time (at such ties crr
    keeps the exit in the censoring risk set, finegray does not, so the two
    censoring curves differ slightly). ``ties="efron"`` matches coxph's default.

    ``algorithm``: ``"scan"`` (and ``"auto"``) fits without building the
    expansion (:mod:`evaluation.survival.finegray_scan`; Breslow or Efron ties;
    O(n log n) sort, O(n p^2) per Newton step, O(n p) memory); ``"expand"``
    builds the finegray rows and fits them with
    :func:`~evaluation.survival.cox.cox_ph` — the test oracle, bounded by
    ``max_rows`` (see :func:`finegray_expand`), which does not apply to the scan.
    """
    covariates = list(covariates)
    data = df.reset_index(drop=True)
    n = len(data)
    events = int(((data[cause] == cause_of_interest).to_numpy() & ~is_censored(data[cause])).sum())
    if algorithm not in ("auto", "scan", "expand"):
        raise ValueError("algorithm must be 'auto', 'scan' or 'expand'")
    if variance == "crr":
        if entry is not None or cluster is not None or weights is not None:
            raise ValueError("variance='crr' is for right-censored, unclustered, unweighted data")
        if algorithm == "expand":
            raise ValueError("variance='crr' is fitted by the scan (algorithm 'auto' or 'scan')")
        x = data[covariates].to_numpy(dtype=float)
        coef, info, var = _crr(data[duration].to_numpy(dtype=float), data[cause], cause_of_interest, x)
        method = "Fine-Gray (cmprsk::crr estimating equations and sandwich SE)"
        return FineGrayFit(cause_of_interest, tuple(covariates), coef, var, method, n, events, np.linalg.inv(info))
    if variance != "robust":
        raise ValueError("variance must be 'crr' or 'robust'")
    if ties not in ("breslow", "efron"):
        raise ValueError("ties must be 'breslow' or 'efron'")
    scan = algorithm in ("scan", "auto")
    where = f"clustered by {cluster or 'child'}" + (", delayed entry" if entry else "")
    if scan:
        coef, var_robust, var_naive = _finegray_scan(data, duration, cause, cause_of_interest, covariates,
                                                     entry, cluster, weights, ties)
        method = (f"Fine-Gray (finegray-weighted Cox by a scan over sorted times, {ties} ties, robust SE "
                  f"{where})")
        return FineGrayFit(cause_of_interest, tuple(covariates), coef, var_robust, method, n, events, var_naive)
    needed = list(dict.fromkeys([c for c in (duration, cause, entry, cluster, weights) if c] + covariates))
    expanded = finegray_expand(data[needed], duration, cause, cause_of_interest, entry=entry,
                               max_rows=max_rows)
    expanded["_fg_weight"] = expanded["fgwt"] * (expanded[weights] if weights is not None else 1.0)
    fit = cox_ph(
        expanded, "fgstop", "fgstatus", covariates, entry="fgstart", cluster=cluster or "fgrow",
        weights="_fg_weight", ties=ties, robust=True,
    )
    method = f"Fine-Gray (finegray expansion, weighted Cox, {ties} ties, robust SE {where})"
    return FineGrayFit(cause_of_interest, tuple(covariates), fit.coef, fit.var_robust, method, n, events, fit.var_naive)


def _finegray_scan(data, duration, cause, cause_of_interest, covariates, entry, cluster, weights, ties):
    """The weighted Cox fit of the finegray expansion (Breslow or Efron ties, cluster-robust
    sandwich), computed from one row per child: coef, robust var, naive var."""
    stop = data[duration].to_numpy(dtype=float)
    n = len(stop)
    start = data[entry].to_numpy(dtype=float) if entry is not None else None
    if start is not None and np.any(start >= stop):
        raise ValueError("every row needs entry < duration")
    censored = is_censored(data[cause])
    interest = (data[cause] == cause_of_interest).to_numpy() & ~censored
    if not interest.any():
        raise NotEstimable(f"no exits by {cause_of_interest!r}")
    status = np.where(censored, 0, np.where(interest, 1, 2))
    cut_end, cut_weight = _finegray_weight_steps(stop, start if start is not None else np.full(n, -np.inf),
                                                 censored, delayed=start is not None)
    w_grid = cut_weight[np.searchsorted(cut_end, np.unique(stop), side="left")]
    case_weight = data[weights].to_numpy(dtype=float) if weights is not None else None
    if case_weight is not None and np.any(case_weight <= 0):
        raise ValueError("case weights must be positive")

    x_all = data[covariates].to_numpy(dtype=float, copy=True)  # own memory: centred in place below
    keep, dropped = _usable_columns(x_all, covariates)
    x = x_all[:, keep] if len(keep) < x_all.shape[1] else x_all
    del x_all
    x -= x.mean(axis=0)
    fit = scan_fit(stop, status, x, w_grid, start=start, case_weight=case_weight, ties=ties)
    p = x.shape[1]
    var = np.linalg.pinv(fit.information) if p else np.empty((0, 0))
    coef_kept = fit.beta.copy()
    if p:
        step = var @ fit.score
        infinite = (~np.isfinite(coef_kept)) | (np.abs(step) > TOLER_INF * (1 + np.abs(coef_kept))) \
            | (np.abs(coef_kept) > 50) | (not fit.converged)
        coef_kept[infinite] = np.nan
    groups = np.arange(n) if cluster is None else pd.factorize(data[cluster], sort=True)[0]
    summed = np.zeros((groups.max() + 1 if n else 0, p))
    for j in range(p):
        summed[:, j] = np.bincount(groups, fit.residuals[:, j], minlength=summed.shape[0])
    dfbeta = summed @ var
    var_rob = dfbeta.T @ dfbeta

    p_all = len(covariates)
    coef = np.full(p_all, np.nan)
    coef[keep] = coef_kept
    full_rob = np.full((p_all, p_all), np.nan)
    full_naive = np.full((p_all, p_all), np.nan)
    full_rob[np.ix_(keep, keep)] = var_rob
    full_naive[np.ix_(keep, keep)] = var
    return coef, full_rob, full_naive


def _crr(time: np.ndarray, cause: pd.Series, cause_of_interest, x: np.ndarray):
    """Fine & Gray (1999) estimates and sandwich variance, as ``cmprsk::crr``.

    Weight of child i in the risk set at failure time s: 1 while still open
    (T_i >= s); G(s-)/G(T_i-) after leaving by a competing route; 0 after
    censoring. G is the Kaplan–Meier curve of the censoring times. The
    variance is H^-1 (sum_i (eta_i + psi_i)(eta_i + psi_i)') H^-1, where eta_i is
    the score residual and psi_i the term for the estimated G. The fit and eta
    come from the scan of :mod:`evaluation.survival.finegray_scan` (W = G(s-));
    psi is a few running sums: O(n p) memory.
    """
    censored = is_censored(cause)
    status = np.where(censored, 0, np.where((cause == cause_of_interest).to_numpy(), 1, 2))
    if not (status == 1).any():
        raise NotEstimable(f"no exits by {cause_of_interest!r}")
    order = np.argsort(time, kind="stable")
    time, status, x = time[order], status[order], x[order]
    n, p = x.shape
    x = x - x.mean(axis=0)  # centring leaves estimates unchanged

    # Kaplan–Meier of censoring, evaluated just before each time
    uniq, inverse = np.unique(time, return_inverse=True)
    n_at = len(time) - np.searchsorted(time, uniq, side="left")
    n_cens = np.bincount(inverse, weights=(status == 0).astype(float), minlength=len(uniq))
    g_after = np.cumprod(1 - n_cens / n_at)
    g_before = np.concatenate([[1.0], g_after[:-1]])
    g_minus = g_before[inverse]  # G(T_i-)

    fit = scan_fit(time, status, x, g_before)
    if not fit.converged:
        raise NotEstimable("the Fine-Gray fit did not converge")
    beta, info, r, eta = fit.beta, fit.information, fit.r, fit.residuals
    fail_at = fit.d > 0
    fail_times, fail_count = uniq[fail_at], fit.d[fail_at]
    s0, xbar = fit.s0[fail_at], fit.xbar[fail_at]
    g_fail = g_before[fail_at]  # G(s-)

    # psi: influence of the estimated censoring distribution
    competing = status == 2
    a0 = np.concatenate([[0.0], np.cumsum(np.where(competing, r / g_minus, 0.0))])  # over T_j < u
    a1 = np.vstack([np.zeros((1, p)), np.cumsum(np.where(competing[:, None], (r / g_minus)[:, None] * x, 0.0), axis=0)])
    b_terms0 = fail_count * g_fail / s0
    b0 = np.append(np.cumsum(b_terms0[::-1])[::-1], 0.0)  # over failure times >= u
    b1 = np.vstack([np.cumsum((b_terms0[:, None] * xbar)[::-1], axis=0)[::-1], np.zeros((1, p))])
    cens_times = uniq[n_cens > 0]
    before = np.searchsorted(time, cens_times, side="left")  # children with T < u
    from_fail = np.searchsorted(fail_times, cens_times, side="left")
    q = a1[before] * b0[from_fail][:, None] - a0[before][:, None] * b1[from_fail]
    pi = (len(time) - before).astype(float)
    nc = n_cens[n_cens > 0]
    compensator = np.cumsum(q * (nc / pi**2)[:, None], axis=0)
    upto = np.searchsorted(cens_times, time, side="right") - 1  # censoring times <= T_i
    psi = np.where(upto[:, None] >= 0, -compensator[np.maximum(upto, 0)], 0.0)
    own = status == 0
    psi[own] += q[upto[own]] / pi[upto[own]][:, None]

    u = eta + psi
    info_inv = np.linalg.inv(info)
    var = info_inv @ (u.T @ u) @ info_inv
    return beta, info, var


# --------------------------------------------------------------------------------------
# Cause-specific Cox
# --------------------------------------------------------------------------------------


def cause_specific_cox(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    cause_of_interest,
    covariates: Sequence[str],
    entry: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    ties: str = "efron",
) -> CoxResult:
    """Cox model for the hazard of ``cause_of_interest``, other exits censored.

    R ``coxph(Surv(entry, duration, cause == k) ~ covariates, cluster = cluster)``.
    Returns the :class:`~evaluation.survival.cox.CoxResult` of
    :func:`~evaluation.survival.cox.cox_ph`; ``.tidy(outcome, analysis="cause_specific_cox")``
    gives the result table.
    """
    event_column = "_exit_by_cause_of_interest"
    data = df.assign(
        **{event_column: ((df[cause] == cause_of_interest).to_numpy() & ~is_censored(df[cause])).astype(int)}
    )
    return cox_ph(
        data, duration, event_column, list(covariates), entry=entry, strata=strata, cluster=cluster,
        weights=weights, ties=ties,
    )
