"""Regression for competing exits: Fine–Gray subdistribution hazards and cause-specific Cox.

Two questions, two models:

* *Does FSP change how many children leave by a given route?* — the
  Fine–Gray model of the subdistribution hazard, whose coefficients act on the
  cumulative incidence. :func:`fine_gray` fits it two ways, whose coefficients
  agree (exactly, with Breslow ties, unless a censoring ties with an exit):

  - ``variance="crr"``: the estimating equations of Fine & Gray (1999) with
    their sandwich variance, which allows for the estimated censoring
    distribution — R ``cmprsk::crr``. Right-censored data only, no clusters.
  - ``variance="robust"``: the ``survival::finegray`` data expansion (children
    who left by another route stay in the risk set with inverse-probability-
    of-censoring weights, with left-truncation weights under delayed entry)
    then a weighted Cox fit with a cluster-robust sandwich —
    R ``coxph(Surv(fgstart, fgstop, fgstatus) ~ x, weights = fgwt, cluster = id)``.
    Use this with delayed entry or family clusters.

* *Does FSP change the rate of a route among children still open?* — the
  cause-specific Cox model (:func:`cause_specific_cox`), a Cox model in which
  the other routes are censored.

Both Cox fits use the project's :func:`evaluation.survival.cox.cox_ph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.results import tidy
from evaluation.survival.competing import is_censored
from evaluation.survival.cox import CoxResult, cox_ph


# --------------------------------------------------------------------------------------
# survival::finegray data expansion
# --------------------------------------------------------------------------------------


class ExpansionTooLarge(ValueError):
    """The finegray expansion would hold more rows than allowed (``max_rows``)."""


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
        raise ValueError(f"no exits by {cause_of_interest!r}")

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

    delayed = bool(np.any(start > stop.min())) if entry is not None else False
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
) -> FineGrayFit:
    """Fine–Gray subdistribution-hazard regression for ``cause_of_interest``.

    ``variance="crr"`` reproduces ``cmprsk::crr`` (coefficients and its own
    sandwich SE; no entry, cluster or weights). ``variance="robust"`` reproduces
    ``survival::finegray`` + ``coxph(..., weights = fgwt, cluster = <cluster or
    child>)``; with ``ties="breslow"`` its coefficients equal crr's when there is
    no delayed entry and no censoring falls on an exit time (at such ties crr
    keeps the exit in the censoring risk set, finegray does not, so the two
    censoring curves differ slightly). ``ties="efron"`` matches coxph's default.
    ``max_rows`` bounds the expansion (see :func:`finegray_expand`).
    """
    covariates = list(covariates)
    data = df.reset_index(drop=True)
    x = data[covariates].to_numpy(dtype=float)
    n = len(data)
    events = int(((data[cause] == cause_of_interest).to_numpy() & ~is_censored(data[cause])).sum())
    if variance == "crr":
        if entry is not None or cluster is not None or weights is not None:
            raise ValueError("variance='crr' is for right-censored, unclustered, unweighted data")
        coef, info, var = _crr(data[duration].to_numpy(dtype=float), data[cause], cause_of_interest, x)
        method = "Fine-Gray (cmprsk::crr estimating equations and sandwich SE)"
        return FineGrayFit(cause_of_interest, tuple(covariates), coef, var, method, n, events, np.linalg.inv(info))
    if variance != "robust":
        raise ValueError("variance must be 'crr' or 'robust'")
    needed = list(dict.fromkeys([c for c in (duration, cause, entry, cluster, weights) if c] + covariates))
    expanded = finegray_expand(data[needed], duration, cause, cause_of_interest, entry=entry,
                               max_rows=max_rows)
    expanded["_fg_weight"] = expanded["fgwt"] * (expanded[weights] if weights is not None else 1.0)
    fit = cox_ph(
        expanded, "fgstop", "fgstatus", covariates, entry="fgstart", cluster=cluster or "fgrow",
        weights="_fg_weight", ties=ties, robust=True,
    )
    method = (
        f"Fine-Gray (finegray expansion, weighted Cox, {ties} ties, robust SE clustered by "
        f"{cluster or 'child'}" + (", delayed entry" if entry else "") + ")"
    )
    return FineGrayFit(cause_of_interest, tuple(covariates), fit.coef, fit.var_robust, method, n, events, fit.var_naive)


def _crr(time: np.ndarray, cause: pd.Series, cause_of_interest, x: np.ndarray):
    """Fine & Gray (1999) estimates and sandwich variance, as ``cmprsk::crr``.

    Weight of child i in the risk set at failure time s: 1 while still open
    (T_i >= s); G(s-)/G(T_i-) after leaving by a competing route; 0 after
    censoring. G is the Kaplan–Meier curve of the censoring times. The
    variance is H^-1 (sum_i (eta_i + psi_i)(eta_i + psi_i)') H^-1, where eta_i is
    the score residual and psi_i the term for the estimated G. Memory is
    O(n × distinct failure times).
    """
    censored = is_censored(cause)
    status = np.where(censored, 0, np.where((cause == cause_of_interest).to_numpy(), 1, 2))
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

    fail_times, fail_count = np.unique(time[status == 1], return_counts=True)
    g_fail = g_before[np.searchsorted(uniq, fail_times)]  # G(s-)
    still_open = time[:, None] >= fail_times[None, :]
    after_competing = (status == 2)[:, None] & (time[:, None] < fail_times[None, :])
    w = np.where(still_open, 1.0, 0.0) + np.where(after_competing, g_fail[None, :] / g_minus[:, None], 0.0)
    is_fail = status == 1

    xx = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)

    def sums(beta):
        r = np.exp(x @ beta)
        s0 = w.T @ r
        s1 = w.T @ (r[:, None] * x)
        s2 = (w.T @ (r[:, None] * xx)).reshape(-1, p, p)
        return r, s0, s1, s2

    def objective(beta):
        r, s0, s1, s2 = sums(beta)
        loglik = np.sum(x[is_fail] @ beta) - np.sum(fail_count * np.log(s0))
        xbar = s1 / s0[:, None]
        score = x[is_fail].sum(axis=0) - (fail_count[:, None] * xbar).sum(axis=0)
        info = np.einsum("d,djk->jk", fail_count / s0, s2) - np.einsum("d,dj,dk->jk", fail_count, xbar, xbar)
        return loglik, score, info, r, s0, xbar

    beta = np.zeros(p)
    loglik, score, info, r, s0, xbar = objective(beta)
    for _ in range(50):
        step = np.linalg.solve(info, score)
        new = objective(beta + step)
        halvings = 0
        while new[0] < loglik - 1e-12 and halvings < 30:
            step /= 2
            new = objective(beta + step)
            halvings += 1
        beta = beta + step
        change = new[0] - loglik
        loglik, score, info, r, s0, xbar = new
        if abs(change) < 1e-12 * max(1.0, abs(loglik)) and np.max(np.abs(step)) < 1e-9:
            break
    else:
        raise RuntimeError("Fine-Gray fit did not converge")

    # eta: score residuals
    hazard = fail_count / s0
    m = w * hazard[None, :]
    fail_index = np.searchsorted(fail_times, time)
    eta = -r[:, None] * (x * m.sum(axis=1)[:, None] - m @ xbar)
    eta[is_fail] += x[is_fail] - xbar[fail_index[is_fail]]

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
