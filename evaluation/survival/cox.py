"""Cox proportional hazards with delayed entry, strata, case weights and family-clustered SEs.

:func:`cox_ph` maximises the Efron (default) or Breslow partial likelihood by
Newton–Raphson, exactly as R's

    coxph(Surv(entry, duration, event) ~ x + strata(s), cluster = family,
          weights = w, ties = "efron")

and reports the same numbers: coefficients, the naive variance (inverse
information), the robust sandwich variance ``D'D`` from weighted dfbeta
residuals summed within family, Wald / score / likelihood-ratio tests.
The robust variance is correct with tied times and delayed entry (lifelines'
is not: see domain.md §3). R's rule for which variance is *the* variance is
kept: robust when a cluster or non-integer weights are given.

Everything is vectorised over sorted risk sets: each subject is at risk at the
event times in a contiguous index range ``[lo, hi)`` of its stratum's sorted
event times (``lo`` skips those at or before its entry), so risk-set sums are
difference arrays and per-subject sums over its at-risk times are differences
of prefix sums. Efron's tie correction is computed per tied group.

Coefficients whose likelihood has no maximum (monotone likelihood, e.g. no
events in a cell) are flagged as not estimable instead of being reported as
huge numbers; constant and collinear columns are dropped (R reports ``NA``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable, estimable
from evaluation.results import tidy

#: Convergence: relative change in log partial likelihood (R's ``eps`` is 1e-9;
#: we go further so that estimates are the maximiser to ~1e-10, not R's stopping point).
EPS = 1e-12
MAX_ITER = 50
#: A coefficient is "infinite" when the Newton step at convergence is still this
#: large relative to (1 + |beta|): the likelihood is flat, not maximised.
TOLER_INF = 1e-3
#: Relative size of a QR pivot under which a column is treated as collinear.
TOLER_COLLINEAR = 1e-8


def dummy_columns(
    df: pd.DataFrame, column: str, reference: object, levels: Sequence | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Add 0/1 columns ``column[level]`` for each non-reference level of ``column``.

    Returns the widened frame and the new column names (in level order), ready to
    pass as Cox covariates. ``reference`` must be one of the levels, e.g. "pre_fsp".
    """
    values = df[column]
    if levels is None:
        levels = sorted(values.dropna().unique(), key=str)
    levels = list(levels)
    if reference not in levels:
        raise ValueError(f"reference level {reference!r} not among levels of {column!r}: {levels}")
    out = df.copy()
    names = []
    for level in levels:
        if level == reference:
            continue
        name = f"{column}[{level}]"
        out[name] = (values == level).astype(float)
        names.append(name)
    return out, names


# --------------------------------------------------------------------------------------
# Risk-set structure (depends on times, strata and events only: built once per fit)
# --------------------------------------------------------------------------------------


@dataclass
class RiskSets:
    """Sorted event times per stratum and each subject's at-risk index range.

    ``lo[i], hi[i]``: subject i is at risk at event times ``lo[i] .. hi[i]-1``
    (global index over all strata's event times, each stratum a contiguous block).
    ``death_time[i]``: index of subject i's event time (events only), else -1.
    """

    n_times: int
    lo: np.ndarray
    hi: np.ndarray
    is_event: np.ndarray
    death_time: np.ndarray
    event_time: np.ndarray  # the time value of each event-time index
    event_stratum: np.ndarray  # stratum code of each event-time index
    n_deaths: np.ndarray  # number of events (unweighted) at each event time
    weighted_deaths: np.ndarray  # sum of case weights of events at each event time
    event_rows: np.ndarray  # row numbers of the events
    event_index: np.ndarray  # event-time index of each of those rows
    # Efron's sub-steps: one entry per event, grouped by event time, frac = k/d (k = 0..d-1)
    efron_group: np.ndarray
    efron_frac: np.ndarray
    # every row an event, at risk from the origin (no delayed entry, one stratum): lo is all 0 and
    # each row's event time is its own last at-risk time, so the risk sets' sums can share the
    # event sums (:func:`_risk_and_event_sums`); e.g. the censoring model of a fully observed time
    all_events_from_origin: bool = False

    @classmethod
    def build(cls, stop, event, entry, strata, weights) -> "RiskSets":
        stop = np.asarray(stop, dtype=float)
        is_event = np.asarray(event) == 1
        n = stop.size
        strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
        # Exact integer ranks of all time values (stop and entry) so that strata
        # can be folded into one sortable key without floating-point offsets.
        if entry is None:
            all_times = np.unique(stop)
        else:
            all_times = np.unique(np.concatenate([stop, entry]))
        m = all_times.size + 1
        stop_rank = np.searchsorted(all_times, stop) + 1
        entry_rank = np.zeros(n, dtype=np.int64) if entry is None else np.searchsorted(all_times, entry) + 1
        stop_key = strata * m + stop_rank
        entry_key = strata * m + entry_rank
        grid = np.unique(stop_key[is_event])
        hi = np.searchsorted(grid, stop_key, side="right")
        lo = np.searchsorted(grid, entry_key, side="right")
        death_time = np.where(is_event, hi - 1, -1)
        t = grid.size
        n_deaths = np.bincount(death_time[is_event], minlength=t).astype(float)
        weighted_deaths = np.bincount(death_time[is_event], weights=weights[is_event], minlength=t)
        d = n_deaths.astype(np.int64)
        efron_group = np.repeat(np.arange(t), d)
        first = np.concatenate([[0], np.cumsum(d)[:-1]])
        efron_frac = (np.arange(efron_group.size) - first[efron_group]) / d[efron_group]
        event_rows = np.flatnonzero(is_event)
        return cls(
            n_times=t,
            lo=lo,
            hi=hi,
            is_event=is_event,
            death_time=death_time,
            event_time=all_times[grid % m - 1] if t else np.empty(0),
            event_stratum=grid // m,
            n_deaths=n_deaths,
            weighted_deaths=weighted_deaths,
            event_rows=event_rows,
            event_index=death_time[event_rows],
            efron_group=efron_group,
            efron_frac=efron_frac,
            all_events_from_origin=bool(n and is_event.all() and not lo.any()),
        )


def _range_sum(values_at_times: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each subject, sum of ``values_at_times[lo:hi]`` (prefix-sum difference)."""
    prefix = np.concatenate([np.zeros((1,) + values_at_times.shape[1:]), np.cumsum(values_at_times, axis=0)])
    out = prefix[hi]
    out -= prefix[lo]   # in place: one n-row temporary fewer, the same differences
    return out


def _risk_sum(values: np.ndarray, rs: RiskSets) -> np.ndarray:
    """Sum of per-subject ``values`` over each event time's risk set (difference array)."""
    t = rs.n_times
    if values.ndim == 1:
        diff = np.bincount(rs.lo, weights=values, minlength=t + 1) - np.bincount(rs.hi, weights=values, minlength=t + 1)
        return np.cumsum(diff[:t])
    out = np.empty((t, values.shape[1]))
    for k in range(values.shape[1]):
        out[:, k] = _risk_sum(values[:, k], rs)
    return out


def _risk_and_event_sums(values: np.ndarray, rs: RiskSets) -> tuple[np.ndarray, np.ndarray]:
    """``(_risk_sum(values, rs), _event_sum(values, rs))``, bit for bit. When every row is an event
    at risk from the origin (``rs.all_events_from_origin``), ``_risk_sum``'s count at the rows'
    ``hi`` is the event sum shifted by one time (``hi`` is the event time's index + 1, the rows added
    in the same order) and its count at ``lo`` (all 0) only the running total of every row: the
    same difference array from one count per column fewer, and no copy of the events' rows."""
    if not rs.all_events_from_origin:
        return _risk_sum(values, rs), _event_sum(values, rs)
    if values.ndim == 2:
        risk = np.empty((rs.n_times, values.shape[1]))
        event = np.empty((rs.n_times, values.shape[1]))
        for k in range(values.shape[1]):
            risk[:, k], event[:, k] = _risk_and_event_sums(values[:, k], rs)
        return risk, event
    t = rs.n_times
    event = np.bincount(rs.event_index, weights=values, minlength=t)
    at_lo = np.zeros(t)
    at_lo[0] = np.bincount(rs.lo, weights=values, minlength=1)[0]   # the rows in order, from 0.0
    at_hi = np.empty(t)
    at_hi[0] = 0.0
    at_hi[1:] = event[:-1]
    return np.cumsum(at_lo - at_hi), event


def _event_sum(values: np.ndarray, rs: RiskSets) -> np.ndarray:
    """Sum of per-subject ``values`` over the events at each event time."""
    idx = rs.event_index
    v = values[rs.event_rows]
    if v.ndim == 1:
        return np.bincount(idx, weights=v, minlength=rs.n_times)
    out = np.zeros((rs.n_times, v.shape[1]))
    for k in range(v.shape[1]):
        out[:, k] = np.bincount(idx, weights=v[:, k], minlength=rs.n_times)
    return out


@dataclass
class _TieTerms:
    """Per-event-time sums over Efron's sub-steps k = 0..d-1 (frac = k/d).

    With c = (mean weight of the events) and den_k = S0 - frac*D:
    ``h = sum c/den``, ``hf = sum c*frac/den``, ``h2 = sum c/den^2``, ``hf2 = sum c*frac/den^2``,
    ``hff2 = sum c*frac^2/den^2``, ``inv = mean 1/den``, ``finv = mean frac/den``, ``logden = sum c*log(den)``.
    """

    h: np.ndarray
    hf: np.ndarray
    h2: np.ndarray
    hf2: np.ndarray
    hff2: np.ndarray
    inv: np.ndarray
    finv: np.ndarray
    logden: np.ndarray


def _tie_terms(s0: np.ndarray, d_risk: np.ndarray, rs: RiskSets, efron: bool, time_weight=None) -> _TieTerms:
    t = rs.n_times
    if efron:
        group, frac = rs.efron_group, rs.efron_frac
        c = (rs.weighted_deaths / rs.n_deaths)[group]
    else:  # Breslow: one step per event time with the whole weighted count
        group = np.arange(t)
        frac = np.zeros(t)
        c = rs.weighted_deaths.copy()
    if time_weight is not None:
        c = c * time_weight[group]
    den = s0[group] - frac * d_risk[group]
    inv = 1.0 / den

    def per_time(v):
        return np.bincount(group, weights=v, minlength=t)

    counts = rs.n_deaths if efron else np.ones(t)
    return _TieTerms(
        h=per_time(c * inv),
        hf=per_time(c * frac * inv),
        h2=per_time(c * inv * inv),
        hf2=per_time(c * frac * inv * inv),
        hff2=per_time(c * frac * frac * inv * inv),
        inv=per_time(inv) / counts,
        finv=per_time(frac * inv) / counts,
        logden=per_time(c * np.log(den)),
    )


@dataclass
class _Derivatives:
    loglik: float
    score: np.ndarray
    information: np.ndarray


def _derivatives(beta, x, w, rs: RiskSets, efron: bool, time_weight=None, x_events=None) -> _Derivatives:
    """Log partial likelihood, score and information at ``beta``.

    ``time_weight`` (one value per event time) multiplies each event time's
    contribution, as used by the cox.zph test. ``x_events``: ``x[rs.event_rows]`` if the caller
    has it (the Newton iterations take it once per fit, not once per step).
    """
    eta = x @ beta
    wr = w * np.exp(eta)
    s0, d_risk = _risk_and_event_sums(wr, rs)
    tie = _tie_terms(s0, d_risk, rs, efron, time_weight)
    ev = rs.event_rows
    every = rs.all_events_from_origin     # ev is every row in order: the same values, ungathered
    ev_w = w if every else w[ev]
    if time_weight is not None:
        ev_w = ev_w * time_weight[rs.event_index]
    loglik = float(np.sum(ev_w * (eta if every else eta[ev])) - np.sum(tie.logden))
    wrx = wr[:, None] * x
    s1, d1 = _risk_and_event_sums(wrx, rs)
    del wrx
    # x[ev] (a C-ordered copy) as before: the layout decides BLAS's order of sums
    score = ev_w @ (x[ev] if x_events is None else x_events) - (tie.h @ s1 - tie.hf @ d1)
    # second moments: sum_j h_j S2_j = X' diag(wr * sum_{j at risk} h_j) X, and the
    # Efron removal of the events' own share at their death time.
    at_risk_h = _range_sum(tie.h, rs.lo, rs.hi)
    weight = wr * at_risk_h
    if every:
        weight -= wr * tie.hf[rs.event_index]
    else:
        weight[ev] -= wr[ev] * tie.hf[rs.event_index]
    info = (x * weight[:, None]).T @ x
    info -= (s1 * tie.h2[:, None]).T @ s1
    cross = (s1 * tie.hf2[:, None]).T @ d1
    info += cross + cross.T
    info -= (d1 * tie.hff2[:, None]).T @ d1
    return _Derivatives(loglik, score, info)


def _score_residuals(beta, x, w, rs: RiskSets, efron: bool) -> np.ndarray:
    """Unweighted score residuals (R ``residuals(fit, type = "score")``), n × p."""
    eta = x @ beta
    r = np.exp(eta)
    wr = w * r
    s0, d_risk = _risk_and_event_sums(wr, rs)
    tie = _tie_terms(s0, d_risk, rs, efron)
    wrx = wr[:, None] * x
    s1, d1 = _risk_and_event_sums(wrx, rs)
    del wrx
    # cumulative hazard and hazard-weighted mean covariate over each subject's at-risk times
    xhaz_t = s1 * tie.h2[:, None] - d1 * tie.hf2[:, None]
    cumhaz = _range_sum(tie.h, rs.lo, rs.hi)
    xhaz = _range_sum(xhaz_t, rs.lo, rs.hi)
    resid = x * cumhaz[:, None]   # -r (x cumhaz - xhaz), written in place: the same products
    resid -= xhaz
    del xhaz
    np.multiply(-r[:, None], resid, out=resid)
    ev = rs.event_rows
    j = rs.event_index
    xbar_mean = s1[j] * tie.inv[j, None] - d1[j] * tie.finv[j, None]  # mean of Efron's xbar_k
    down_h = tie.hf[j]  # sum_k h_k * k/d : events are only partly in the later sub-steps
    down_xh = s1[j] * tie.hf2[j, None] - d1[j] * tie.hff2[j, None]
    resid[ev] += (x[ev] - xbar_mean) + r[ev, None] * (x[ev] * down_h[:, None] - down_xh)
    return resid


def _sum_by_group(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Column sums of ``values`` within each distinct value of ``groups`` (one row per group)."""
    inverse = pd.factorize(groups)[0]
    size = inverse.max() + 1 if inverse.size else 0
    out = np.zeros((size, values.shape[1]))
    for k in range(values.shape[1]):
        out[:, k] = np.bincount(inverse, weights=values[:, k], minlength=size)
    return out


def _quadratic_test(u: np.ndarray, var: np.ndarray) -> float:
    """Chi-square statistic u' var^{-1} u (NaN when there is nothing to test)."""
    if u.size == 0:
        return np.nan
    return float(u @ np.linalg.solve(var, u))


# --------------------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------------------


@dataclass
class CoxResult:
    """A fitted Cox model. Arrays are indexed like ``covariates``.

    ``coef`` is NaN for columns that were dropped (constant or collinear) and for
    coefficients flagged as infinite (``not_estimable`` says why). ``var`` is the
    variance R reports (robust if ``robust``), ``var_naive`` the inverse
    information, ``var_robust`` the sandwich (per subject when no cluster).
    """

    covariates: list[str]
    coef: np.ndarray
    se_naive: np.ndarray
    se_robust: np.ndarray
    robust: bool
    var_naive: np.ndarray
    var_robust: np.ndarray
    loglik_null: float
    loglik: float
    score_test: float
    robust_score_test: float
    n: int
    events: int
    n_clusters: int
    iterations: int
    converged: bool
    ties: str
    not_estimable: dict[str, str] = field(default_factory=dict)
    strata: str | None = None
    cluster: str | None = None
    weighted: bool = False
    delayed_entry: bool = False
    # internals needed by cox_zph
    _fit_columns: np.ndarray | None = field(default=None, repr=False)
    _beta: np.ndarray | None = field(default=None, repr=False)
    _x: np.ndarray | None = field(default=None, repr=False)
    _w: np.ndarray | None = field(default=None, repr=False)
    _rs: RiskSets | None = field(default=None, repr=False)
    _entry: np.ndarray | None = field(default=None, repr=False)
    _stop: np.ndarray | None = field(default=None, repr=False)

    @property
    def var(self) -> np.ndarray:
        return self.var_robust if self.robust else self.var_naive

    @property
    def se(self) -> np.ndarray:
        return self.se_robust if self.robust else self.se_naive

    @property
    def hazard_ratio(self) -> np.ndarray:
        return np.exp(self.coef)

    def confidence_interval(self, level: float = 0.95) -> np.ndarray:
        """Wald limits for the coefficients (log-hazard scale), p × 2."""
        z = stats.norm.ppf(0.5 + level / 2)
        return np.column_stack([self.coef - z * self.se, self.coef + z * self.se])

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p_value(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.z))

    @property
    def df(self) -> int:
        return int(self._fit_columns.size)

    @property
    def lr_test(self) -> float:
        return 2 * (self.loglik - self.loglik_null)

    def _fitted_var(self, var: np.ndarray) -> np.ndarray:
        idx = self._fit_columns
        return var[np.ix_(idx, idx)]

    @property
    def wald_test(self) -> float:
        """Wald chi-square for all estimable coefficients, with R's variance (robust if robust)."""
        return _quadratic_test(self._beta, self._fitted_var(self.var))

    @property
    def wald_test_naive(self) -> float:
        return _quadratic_test(self._beta, self._fitted_var(self.var_naive))

    def summary(self) -> pd.DataFrame:
        """One row per covariate: coef, exp(coef), se, robust se, z, p, CI of the HR."""
        ci = np.exp(self.confidence_interval())
        return pd.DataFrame(
            {
                "coef": self.coef,
                "exp_coef": self.hazard_ratio,
                "se": self.se_naive,
                "robust_se": self.se_robust,
                "z": self.z,
                "p": self.p_value,
                "lower_95": ci[:, 0],
                "upper_95": ci[:, 1],
            },
            index=pd.Index(self.covariates, name="term"),
        )

    def method(self) -> str:
        parts = [f"Cox, {self.ties.capitalize()} ties"]
        if self.delayed_entry:
            parts.append("delayed entry")
        if self.strata:
            parts.append(f"stratified by {self.strata}")
        if self.weighted:
            parts.append("weighted")
        if self.robust:
            parts.append(f"{self.cluster}-clustered robust SE" if self.cluster else "robust SE")
        return ", ".join(parts)

    def tidy(
        self, outcome: str, analysis: str = "cox", cohort=None, contrast=None, combination: str = "all",
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Hazard ratios as :func:`evaluation.results.tidy` rows (one per covariate).

        ``estimate``/``ci_*`` are hazard ratios; ``se`` is the SE of the log HR;
        ``statistic`` is the Wald z. Not-estimable terms are NaN with the reason in ``method``.
        """
        ci = np.exp(self.confidence_interval(level))
        method = self.method()
        if not self.converged:
            method += f"; warning: not converged after {self.iterations} iterations"
        rows = []
        for k, name in enumerate(self.covariates):
            why = self.not_estimable.get(name)
            rows.append(
                {
                    "outcome": outcome,
                    "analysis": analysis,
                    "cohort": cohort,
                    "contrast": contrast,
                    "combination": combination,
                    "term": name,
                    "estimate": np.nan if why else self.hazard_ratio[k],
                    "ci_lower": np.nan if why else ci[k, 0],
                    "ci_upper": np.nan if why else ci[k, 1],
                    "se": np.nan if why else self.se[k],
                    "statistic": np.nan if why else self.z[k],
                    "p_value": np.nan if why else self.p_value[k],
                    "n": self.n,
                    "events": self.events,
                    "method": f"{method}; not estimable: {why}" if why else method,
                }
            )
        return tidy(rows)


# --------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------


def _as_codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, sort=True)[0].astype(np.int64)


def _usable_columns(x: np.ndarray, names: list[str]) -> tuple[np.ndarray, dict[str, str]]:
    """Indices of columns kept for fitting; constant and collinear ones are reported."""
    dropped: dict[str, str] = {}
    keep = []
    for k, name in enumerate(names):
        if np.ptp(x[:, k]) == 0:
            dropped[name] = "no variation in this column"
        else:
            keep.append(k)
    if keep:
        xc = x[:, keep]            # a copy, centred and scaled in place (the same operations)
        xc -= xc.mean(axis=0)
        scale = np.sqrt((xc**2).sum(axis=0))
        xc /= scale
        collinear = np.zeros(len(keep), dtype=bool)
        if not _clearly_full_rank(xc):     # else the QR's pivots are all far above the tolerance
            r = np.linalg.qr(xc, mode="r")
            diag = np.abs(np.diag(r))
            collinear = diag < TOLER_COLLINEAR
        for k, bad in zip(list(keep), collinear):
            if bad:
                dropped[names[k]] = "collinear with other covariates"
        keep = [k for k, bad in zip(keep, collinear) if not bad]
    return np.asarray(keep, dtype=np.int64), dropped


#: :func:`_clearly_full_rank`'s bound on the smallest eigenvalue of the scaled columns' Gram matrix.
_FULL_RANK_EIGENVALUE = 1e-6


def _clearly_full_rank(xc: np.ndarray) -> bool:
    """Whether the centred, unit-norm columns ``xc`` (n x p) are so far from collinear that the QR
    of :func:`_usable_columns` cannot find a pivot under ``TOLER_COLLINEAR``: true when the smallest
    eigenvalue of their Gram matrix (a p x p product, a fraction of the QR's cost) is at least
    ``_FULL_RANK_EIGENVALUE``. Why that settles it (worst-case bounds, u = 2^-53, n p u <= 1e-8):
    the computed Gram matrix is within ``n p u`` of the exact one in norm and its computed smallest
    eigenvalue within ``~p^2 u`` of its own, so the smallest singular value of ``xc`` is at least
    ``sqrt(1e-6 - 2e-8) > 9e-4``. Householder QR gives the exact R of ``xc + E`` with each column
    of ``E`` under ``~n p u`` in norm, so the smallest singular value of ``xc + E`` is above
    ``9e-4 - 1e-7``; and every pivot ``|r_kk|`` (an eigenvalue of the triangular R) is at least
    that. So the QR would keep every column: the same decision, without it. Anything nearer to
    collinear (or fewer rows than columns) goes to the QR itself."""
    n, p = xc.shape
    if n <= p or n * p * np.finfo(float).eps > 1e-8 or not np.all(np.isfinite(xc)):
        return False
    gram = xc.T @ xc
    return bool(np.linalg.eigvalsh(gram)[0] >= _FULL_RANK_EIGENVALUE)


def _standard_errors(var: np.ndarray) -> np.ndarray:
    """Square roots of the variances; NaN where a degenerate fit left a negative one."""
    diagonal = np.diag(var).astype(float)
    return np.sqrt(np.where(diagonal >= 0, diagonal, np.nan))


def _newton_raphson(x, w, rs, efron, init=None):
    """Newton–Raphson with step halving when the likelihood gets worse (as R's coxph).

    A trial step may overshoot to where exp(x·beta) overflows and the likelihood is not finite:
    that is expected, tested (``np.isfinite``) and answered by halving the step, so numpy's
    warnings about it are silenced here, and only here."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _newton_raphson_steps(x, w, rs, efron, init)


def _newton_raphson_steps(x, w, rs, efron, init=None):
    p = x.shape[1]
    beta = np.zeros(p) if init is None else np.asarray(init, dtype=float).copy()
    x_events = x[rs.event_rows]     # the events' covariates, gathered once for every step
    cur = _derivatives(beta, x, w, rs, efron, x_events=x_events)
    null = cur
    converged = False
    iterations = 0
    for iterations in range(1, MAX_ITER + 1):
        try:
            step = np.linalg.solve(cur.information, cur.score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(cur.information, cur.score, rcond=None)[0]
        new = _derivatives(beta + step, x, w, rs, efron, x_events=x_events)
        halvings = 0
        while (not np.isfinite(new.loglik) or new.loglik < cur.loglik - 1e-12 * abs(cur.loglik)) and halvings < 60:
            step = step / 2
            halvings += 1
            new = _derivatives(beta + step, x, w, rs, efron, x_events=x_events)
        prev_loglik = cur.loglik
        beta = beta + step
        cur = new
        small_step = np.max(np.abs(step) / (1 + np.abs(beta)), initial=0.0) < 1e-9
        # a log partial likelihood of exactly 0 (every event alone at risk) settles when it stays 0
        settled = prev_loglik == 0 if cur.loglik == 0 else abs(1 - prev_loglik / cur.loglik) <= EPS
        if settled or small_step:
            converged = True
            break
    return beta, cur, null, iterations, converged


def _prepare(df, duration, event, covariates, entry, strata, cluster, weights):
    columns = [duration, event, *covariates] + [c for c in (entry, strata, cluster, weights) if c is not None]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    nan_cols = [c for c in columns if df[c].isna().any()]
    if nan_cols:
        raise ValueError(f"missing values in {nan_cols}: drop or impute them before fitting")
    stop = df[duration].to_numpy(dtype=float)
    ev = df[event].to_numpy()
    if not np.isin(ev, (0, 1)).all():
        raise ValueError(f"{event!r} must be 0/1")
    ev = ev.astype(np.int64)
    start = None if entry is None else df[entry].to_numpy(dtype=float)
    if start is not None and np.any(start >= stop):
        raise ValueError(f"{entry!r} must be < {duration!r} on every row (at risk on (entry, duration])")
    w = np.ones(len(df)) if weights is None else df[weights].to_numpy(dtype=float)
    if np.any(w <= 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"{weights!r} must be positive and finite")
    x = df[list(covariates)].to_numpy(dtype=float) if covariates else np.empty((len(df), 0))
    return stop, ev, start, w, x


@estimable()  # a singular matrix on these data: NotEstimable, in our words
def cox_ph(
    df: pd.DataFrame,
    duration: str,
    event: str,
    covariates: Sequence[str],
    entry: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    ties: str = "efron",
    robust: bool | None = None,
) -> CoxResult:
    """Fit a Cox model as R ``coxph(Surv(entry, duration, event) ~ covariates + strata(strata),
    cluster = cluster, weights = weights, ties = ties)``.

    ``robust=None`` follows R: robust variance when ``cluster`` is given or weights are
    not all integers. Covariates must be numeric columns (see :func:`dummy_columns`).
    """
    if ties not in ("efron", "breslow"):
        raise ValueError("ties must be 'efron' or 'breslow'")
    covariates = list(covariates)
    stop, ev, start, w, x_all = _prepare(df, duration, event, covariates, entry, strata, cluster, weights)
    n = len(df)
    if ev.sum() == 0:
        raise NotEstimable("no events: a Cox model cannot be fitted")
    strata_codes = None if strata is None else _as_codes(df[strata])
    rs = RiskSets.build(stop, ev, start, strata_codes, w)
    efron = ties == "efron"
    if robust is None:
        robust = cluster is not None or (weights is not None and np.any(w != np.floor(w)))

    keep, not_estimable = _usable_columns(x_all, covariates)
    p_all = len(covariates)
    x = x_all[:, keep]      # a copy (keep is a list), centred in place: the same differences
    del x_all
    x -= x.mean(axis=0)  # centring (as R) for numerical stability; estimates unchanged
    p = x.shape[1]
    # each cluster's code by first appearance, found once (the sandwich's sums below, the count)
    cluster_ids = np.arange(n) if cluster is None else pd.factorize(df[cluster].to_numpy())[0]

    beta, final, null, iterations, converged = _newton_raphson(x, w, rs, efron)
    var = np.linalg.pinv(final.information) if p else np.empty((0, 0))

    # no information: the covariate never varies within the risk set of an event (e.g. every
    # event alone at risk), so the likelihood does not depend on it and no SE exists
    if p:
        spread = final.information.diagonal()
        scale = float(w @ ev) * np.maximum(x.var(axis=0), np.finfo(float).tiny)
        for k in np.flatnonzero(~(spread > 1e-10 * scale)):
            not_estimable[covariates[keep[k]]] = "no information: it never varies among those at risk at an event"

    # monotone likelihood: the Newton step is still large where the likelihood is flat
    if p:
        step = var @ final.score
        infinite = (~np.isfinite(beta)) | (np.abs(step) > TOLER_INF * (1 + np.abs(beta))) | (np.abs(beta) > 50)
        for k in np.flatnonzero(infinite):
            not_estimable[covariates[keep[k]]] = (
                "coefficient diverges (monotone likelihood: too few events in a group)"
            )

    # robust sandwich: weighted dfbeta summed within cluster
    if p:
        resid = _score_residuals(beta, x, w, rs, efron)
        resid *= w[:, None]
        grouped = _sum_by_group(resid, cluster_ids)
        del resid   # one n x p array at a time
        dfbeta = grouped @ var
        var_rob = dfbeta.T @ dfbeta
        resid0 = _score_residuals(np.zeros(p), x, w, rs, efron)
        resid0 *= w[:, None]
        g0 = _sum_by_group(resid0, cluster_ids)
        del resid0
        try:
            robust_score = _quadratic_test(null.score, g0.T @ g0)
        except np.linalg.LinAlgError:
            robust_score = np.nan
        try:
            score_test = _quadratic_test(null.score, null.information)
        except np.linalg.LinAlgError:
            score_test = np.nan
    else:
        var_rob = np.empty((0, 0))
        score_test = robust_score = np.nan

    def expand_vec(v):
        out = np.full(p_all, np.nan)
        out[keep] = v
        return out

    def expand_mat(m):
        out = np.full((p_all, p_all), np.nan)
        out[np.ix_(keep, keep)] = m
        return out

    coef = expand_vec(beta)
    for name in not_estimable:
        coef[covariates.index(name)] = np.nan
    var_full = expand_mat(var)
    var_rob_full = expand_mat(var_rob)
    return CoxResult(
        covariates=covariates,
        coef=coef,
        se_naive=_standard_errors(var_full),
        se_robust=_standard_errors(var_rob_full),
        robust=bool(robust),
        var_naive=var_full,
        var_robust=var_rob_full,
        loglik_null=null.loglik,
        loglik=final.loglik,
        score_test=score_test,
        robust_score_test=robust_score,
        n=n,
        events=int(ev.sum()),
        n_clusters=int(cluster_ids.max()) + 1 if n else 0,
        iterations=iterations,
        converged=converged,
        ties=ties,
        not_estimable=not_estimable,
        strata=strata,
        cluster=cluster,
        weighted=weights is not None,
        delayed_entry=entry is not None,
        _fit_columns=keep,
        _beta=beta,
        _x=x,
        _w=w,
        _rs=rs,
        _entry=start,
        _stop=stop,
    )
