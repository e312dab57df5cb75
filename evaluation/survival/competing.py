"""Competing exits: Aalen–Johansen cumulative incidence and Gray's K-sample test.

A child leaves a protection plan by one of several routes (step-down to a CIN
plan, closure, escalation into care, other). The probability of having left by
a given route by day t is the cumulative incidence function (CIF), estimated by
Aalen–Johansen, never by 1 − Kaplan–Meier of that route alone.

* :func:`cumulative_incidence` — tie-exact, deterministic Aalen–Johansen with
  delayed entry. Standard errors are the infinitesimal jackknife (IJ) of R's
  multi-state ``survfit(Surv(entry, duration, state) ~ 1, id = id)``, summed
  within ``cluster`` when given (R's ``cluster =``), so that siblings are not
  treated as independent. Confidence limits are R's default ``conf.type = "log"``.
  (``cmprsk::cuminc`` gives the same estimates without delayed entry but a
  different, Aalen/delta-type variance; the IJ variance is the one reported.)
  lifelines' ``AalenJohansenFitter`` breaks tied times with random jitter, which
  biases the estimate and changes it from run to run; this estimator does not.
* :func:`gray_test` — Gray's (1988) test that the CIF of each cause is the same
  in all groups, optionally stratified, as in ``cmprsk::cuminc(...)$Tests``.
* :func:`cif_table` — CIFs at fixed days per cohort and risk-factor
  combination as a tidy result table (:mod:`evaluation.results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable, estimable
from evaluation.results import tidy

#: Cause codes that mean "still in the spell when last seen".
CENSORED_CODES: tuple = (0, "0", "censored")

#: Default days at which CIFs are reported (3 months, 6 months, 1 year, 2 years).
REPORT_DAYS: tuple[int, ...] = (91, 182, 365, 730)


def is_censored(values: pd.Series) -> np.ndarray:
    """True where a cause code means censored (0, "0", "censored")."""
    return values.isin(CENSORED_CODES).to_numpy()


def cause_labels(values: pd.Series) -> list:
    """Distinct non-censored cause codes in sorted order (R's factor-level order)."""
    observed = values[~is_censored(values)].dropna().unique()
    return sorted(observed, key=str)


@dataclass(frozen=True)
class CumulativeIncidence:
    """Aalen–Johansen fit: the step table plus what is needed to read it.

    ``steps`` has one row per distinct exit time (event or censoring) with
    ``time, n_risk, n_censor`` and, for each cause ``c``, ``n_event_c, cif_c,
    se_c, lower_c, upper_c``. ``n`` is the number of children.
    """

    steps: pd.DataFrame
    causes: tuple
    conf_level: float
    n: int

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """CIF of every cause at ``times`` (long format).

        Before the first exit the CIF is 0 with SE 0; after the last observed
        time it is unknown and returned as NaN (no extrapolation).
        """
        steps = self.steps
        grid = np.asarray(times, dtype=float)
        row = np.searchsorted(steps["time"].to_numpy(), grid, side="right") - 1
        last = steps["time"].iloc[-1] if len(steps) else -np.inf
        rows = []
        for cause in self.causes:
            events = steps[f"n_event_{cause}"].cumsum().to_numpy()
            for t, r in zip(grid, row):
                if t > last:
                    values = dict(cif=np.nan, se=np.nan, lower=np.nan, upper=np.nan, events=np.nan, n_risk=np.nan)
                elif r < 0:
                    values = dict(cif=0.0, se=0.0, lower=np.nan, upper=np.nan, events=0, n_risk=np.nan)
                else:
                    values = dict(
                        cif=steps[f"cif_{cause}"].iat[r],
                        se=steps[f"se_{cause}"].iat[r],
                        lower=steps[f"lower_{cause}"].iat[r],
                        upper=steps[f"upper_{cause}"].iat[r],
                        events=events[r],
                        n_risk=steps["n_risk"].iat[r],
                    )
                rows.append({"cause": cause, "time": t, **values})
        return pd.DataFrame(rows)


def log_confidence_limits(p: np.ndarray, se: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """R survfit's ``conf.type = "log"`` limits: exp(log p ± z se/p), upper capped at 1, NaN where p = 0."""
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_safe = np.where(p > 0, p, np.nan)
        width = z * np.where(se == 0, 0.0, se / p_safe)
        lower = p_safe * np.exp(-width)
        upper = np.minimum(p_safe * np.exp(width), 1.0)
    return lower, upper


def cumulative_incidence(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    entry: str | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    causes: Sequence | None = None,
    weights: str | None = None,
) -> CumulativeIncidence:
    """Aalen–Johansen CIF of every cause with infinitesimal-jackknife SEs.

    Children are at risk on (entry, duration]; ``cause`` holds the exit route
    (0 / "censored" = still open). ``causes`` fixes the causes and their order
    (default: those observed, sorted), so that per-group fits share columns.
    ``weights`` are positive case weights (e.g. inverse-probability weights).
    Matches R ``survfit(Surv(entry, duration, state) ~ 1, id = id,
    weights = weights)``: estimates, IJ standard errors and log-type limits;
    as in R, ``n_risk`` and ``n_event_*`` stay unweighted counts.
    """
    data = df[list(dict.fromkeys(c for c in (duration, cause, entry, cluster, weights) if c is not None))]
    for column in (duration, entry):
        if column is not None and data[column].isna().any():
            raise ValueError(f"{column} has missing values")
    stop = data[duration].to_numpy(dtype=float)
    start = data[entry].to_numpy(dtype=float) if entry is not None else np.full(len(data), -np.inf)
    if np.any(start >= stop):
        raise ValueError("every row needs entry < duration")
    labels = list(causes) if causes is not None else cause_labels(data[cause])
    censored = is_censored(data[cause])
    code = np.zeros(len(data), dtype=int)  # 0 censored, k = 1..K cause index
    for k, label in enumerate(labels, start=1):
        code[(data[cause] == label).to_numpy() & ~censored] = k
    unknown = (code == 0) & ~censored
    if unknown.any():
        raise ValueError(f"causes not in {labels}: {sorted(data[cause][unknown].unique(), key=str)}")
    if cluster is not None:
        if data[cluster].isna().any():
            raise ValueError(f"{cluster} has missing values")
        cluster_index = pd.factorize(data[cluster])[0]
    else:
        cluster_index = np.arange(len(data))

    if weights is not None:
        case_weight = data[weights].to_numpy(dtype=float)
        if not np.all(np.isfinite(case_weight) & (case_weight > 0)):
            raise ValueError(f"{weights} must be positive and finite")
    else:
        case_weight = np.ones(len(data))

    times = np.unique(stop)
    n_times, n_causes = len(times), len(labels)
    exit_step = np.searchsorted(times, stop)
    enter_step = np.searchsorted(times, start, side="right")  # first step with time > entry
    n_risk = np.bincount(enter_step, minlength=n_times + 1)[:n_times].cumsum() - np.concatenate(
        [[0], np.bincount(exit_step, minlength=n_times)[:-1].cumsum()]
    )
    n_event = np.zeros((n_times, n_causes))
    np.add.at(n_event, (exit_step[code > 0], code[code > 0] - 1), 1)
    n_censor = np.bincount(exit_step[code == 0], minlength=n_times)
    weighted_risk = np.bincount(enter_step, weights=case_weight, minlength=n_times + 1)[:n_times].cumsum() - (
        np.concatenate([[0], np.bincount(exit_step, weights=case_weight, minlength=n_times)[:-1].cumsum()])
    )
    weighted_event = np.zeros((n_times, n_causes))
    np.add.at(weighted_event, (exit_step[code > 0], code[code > 0] - 1), case_weight[code > 0])

    hazard = weighted_event / weighted_risk[:, None]
    all_hazard = hazard.sum(axis=1)
    surv = np.cumprod(1 - all_hazard)
    surv_before = np.concatenate([[1.0], surv[:-1]])
    cif = np.cumsum(surv_before[:, None] * hazard, axis=0)

    variance = _ij_variance(
        enter_step, exit_step, code, case_weight, cluster_index, weighted_risk, hazard, surv_before, n_causes
    )
    se = np.sqrt(variance)
    table = {"time": times, "n_risk": n_risk, "n_censor": n_censor}
    for k, label in enumerate(labels):
        lower, upper = log_confidence_limits(cif[:, k], se[:, k], conf_level)
        table.update(
            {
                f"n_event_{label}": n_event[:, k].astype(int),
                f"cif_{label}": cif[:, k],
                f"se_{label}": se[:, k],
                f"lower_{label}": lower,
                f"upper_{label}": upper,
            }
        )
    return CumulativeIncidence(pd.DataFrame(table), tuple(labels), conf_level, len(data))


def _ij_variance(enter_step, exit_step, code, case_weight, cluster_index, n_risk, hazard, surv_before, n_causes):
    """Infinitesimal-jackknife variance of each CIF at each step.

    The influence of child i is the derivative of the estimate with respect to
    i's case weight. It follows the Aalen–Johansen recursion
    S(t) = S(t-)(1 - λ(t)), F_k(t) = F_k(t-) + S(t-) λ_k(t), with
    dλ_k(t)/dw_i = (dN_ik(t) - Y_i(t) λ_k(t)) / Y(t), Y the weighted number at
    risk. As in R, each influence is multiplied by the case weight; influences
    are linear, so they are summed within clusters before squaring (R's
    ``cluster =``).
    """
    n_times = len(n_risk)
    n_clusters = cluster_index.max() + 1 if len(cluster_index) else 0
    at_risk = np.zeros(n_clusters)  # weighted children of each cluster at risk at this step
    d_surv = np.zeros(n_clusters)
    d_cif = np.zeros((n_clusters, n_causes))
    variance = np.zeros((n_times, n_causes))
    order_in = np.argsort(enter_step, kind="stable")
    order_out = np.argsort(exit_step, kind="stable")
    bounds_in = np.searchsorted(enter_step[order_in], np.arange(n_times + 1))
    bounds_out = np.searchsorted(exit_step[order_out], np.arange(n_times + 1))
    current = np.zeros(n_causes)
    for j in range(n_times):
        entering = order_in[bounds_in[j] : bounds_in[j + 1]]
        np.add.at(at_risk, cluster_index[entering], case_weight[entering])
        leaving = order_out[bounds_out[j] : bounds_out[j + 1]]
        events = leaving[code[leaving] > 0]
        if len(events):
            y = n_risk[j]
            lam_k = hazard[j]
            lam = lam_k.sum()
            # derivative of the cause hazards and of the all-cause hazard
            d_lam_k = -np.outer(at_risk, lam_k) / y
            np.add.at(d_lam_k, (cluster_index[events], code[events] - 1), case_weight[events] / y)
            d_lam = d_lam_k.sum(axis=1)
            d_cif += d_surv[:, None] * lam_k[None, :] + surv_before[j] * d_lam_k
            d_surv = d_surv * (1 - lam) - surv_before[j] * d_lam
            current = np.einsum("ck,ck->k", d_cif, d_cif)
        variance[j] = current
        np.add.at(at_risk, cluster_index[leaving], -case_weight[leaving])
    return variance


def cumulative_incidence_by(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    by: str,
    entry: str | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    weights: str | None = None,
) -> dict:
    """One :func:`cumulative_incidence` fit per value of ``by``, all with the same causes."""
    labels = cause_labels(df[cause])
    return {
        level: cumulative_incidence(part, duration, cause, entry, cluster, conf_level, labels, weights)
        for level, part in df.groupby(by, sort=True, observed=True)
    }


def cif_table(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    entry: str | None = None,
    cluster: str | None = None,
    cohort: str | None = None,
    combination: str | None = None,
    times: Sequence[float] = REPORT_DAYS,
    outcome: str | None = None,
    conf_level: float = 0.95,
    weights: str | None = None,
) -> pd.DataFrame:
    """Tidy table of CIFs at ``times``: overall, by cohort, and by cohort × combination.

    One row per (cohort, combination, cause, time). ``n`` is the number of
    children in the fit, ``events`` the exits by that cause up to ``time``.
    """
    labels = cause_labels(df[cause])
    method = (
        "Aalen-Johansen CIF, infinitesimal-jackknife SE"
        + (f" clustered by {cluster}" if cluster else "")
        + (", delayed entry" if entry else "")
        + (f", weighted by {weights}" if weights else "")
        + ", log CI"
    )
    groups: list[tuple[object, object, pd.DataFrame]] = [(None, "all", df)]
    if cohort is not None:
        groups += [(level, "all", part) for level, part in df.groupby(cohort, sort=True, observed=True)]
    if combination is not None:
        keys = [cohort, combination] if cohort is not None else [combination]
        for key, part in df.groupby(keys, sort=True, observed=True):
            key = key if isinstance(key, tuple) else (key,)
            groups.append((key[0] if cohort is not None else None, key[-1], part))
    rows = []
    for cohort_level, combination_level, part in groups:
        fit = cumulative_incidence(part, duration, cause, entry, cluster, conf_level, labels, weights)
        for record in fit.at(times).itertuples(index=False):
            rows.append(
                {
                    "outcome": outcome,
                    "analysis": "cumulative_incidence",
                    "cohort": cohort_level,
                    "combination": combination_level,
                    "term": record.cause,
                    "time": record.time,
                    "estimate": record.cif,
                    "ci_lower": record.lower,
                    "ci_upper": record.upper,
                    "se": record.se,
                    "n": fit.n,
                    "events": record.events,
                    "method": method,
                }
            )
    return tidy(rows)


@dataclass(frozen=True)
class GrayTest:
    """Gray's test for one cause: score vector, its variance, chi-square statistic."""

    cause: object
    statistic: float
    df: int
    p_value: float
    score: np.ndarray
    variance: np.ndarray


def gray_test(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    group: str,
    strata: str | None = None,
    rho: float = 0.0,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Gray's K-sample test of equal CIFs across ``group``, for every cause.

    Same statistic, p-value and degrees of freedom as ``cmprsk::cuminc(ftime,
    fstatus, group, strata, rho)$Tests`` (no delayed entry: Gray's test is
    defined for right-censored data). Returns a tidy table, one row per cause,
    ``statistic`` chi-square on ``K - 1`` df (in ``method``).
    """
    results = gray_tests(df, duration, cause, group, strata, rho)
    groups = sorted(df[group].dropna().unique(), key=str)
    rows = [
        {
            "outcome": outcome,
            "analysis": "gray_test",
            "contrast": " vs ".join(map(str, groups)),
            "combination": "all",
            "term": result.cause,
            "statistic": result.statistic,
            "p_value": result.p_value,
            "n": len(df),
            "events": int((df[cause] == result.cause).sum()),
            "method": f"Gray's test (rho={rho:g}), chi-square on {result.df} df"
            + (f", stratified by {strata}" if strata else ""),
        }
        for result in results
    ]
    return tidy(rows)


@estimable()  # a singular matrix on these data: NotEstimable, in our words
def gray_tests(
    df: pd.DataFrame,
    duration: str,
    cause: str,
    group: str,
    strata: str | None = None,
    rho: float = 0.0,
) -> list[GrayTest]:
    """Gray's test per cause with its score vector and variance matrix (see :func:`gray_test`)."""
    data = df[[c for c in (duration, cause, group, strata) if c is not None]].dropna()
    time = data[duration].to_numpy(dtype=float)
    censored = is_censored(data[cause])
    group_index, group_levels = pd.factorize(data[group], sort=True)
    n_groups = len(group_levels)
    if n_groups < 2:
        raise NotEstimable(f"{group} needs at least two groups")
    stratum = pd.factorize(data[strata])[0] if strata is not None else np.zeros(len(data), dtype=int)
    results = []
    for label in cause_labels(data[cause]):
        status = np.where(censored, 0, np.where((data[cause] == label).to_numpy(), 1, 2))
        score = np.zeros(n_groups - 1)
        variance = np.zeros((n_groups - 1, n_groups - 1))
        for s in np.unique(stratum):
            keep = stratum == s
            s_score, s_var = _gray_score(time[keep], status[keep], group_index[keep], n_groups, rho)
            score += s_score
            variance += s_var
        if np.linalg.matrix_rank(variance) == n_groups - 1:
            statistic = float(score @ np.linalg.solve(variance, score))
            p_value = float(stats.chi2.sf(statistic, n_groups - 1))
        else:
            statistic = p_value = np.nan
        results.append(GrayTest(label, statistic, n_groups - 1, p_value, score, variance))
    return results


def _gray_score(time, status, group, n_groups, rho):
    """Score and variance of Gray's test within one stratum.

    Follows Gray (1988, Ann. Statist. 16:1141) as implemented in cmprsk's
    ``crstm``: at each time, groups are weighted by R_k = n_k (1 - F_k(t-)) / S_k(t-),
    the score compares each group's events of the cause with its share of
    all of them, and the variance adds the contributions of events of the
    cause (status 1) and of the other causes (status 2). Only the first
    ``n_groups - 1`` groups enter the score (the last is redundant).
    """
    g1 = n_groups - 1
    order = np.argsort(time, kind="stable")
    time, status, group = time[order], status[order], group[order]
    at_risk = np.bincount(group, minlength=n_groups).astype(float)
    cif_before = np.zeros(n_groups)
    surv_before = np.ones(n_groups)
    pooled_before = 0.0
    c = np.zeros((n_groups, n_groups))
    v1 = np.zeros(n_groups)  # variance terms, as v3, v2, v in crstm
    v2 = np.zeros((g1, n_groups))
    v = np.zeros((g1, g1))
    score = np.zeros(g1)
    unique_times, first = np.unique(time, return_index=True)
    bounds = np.append(first, len(time))
    for j in range(len(unique_times)):
        rows = slice(bounds[j], bounds[j + 1])
        counts = np.zeros((3, n_groups))
        np.add.at(counts, (status[rows], group[rows]), 1.0)
        d1, d2 = counts[1], counts[2]
        nd1, nd2 = d1.sum(), d2.sum()
        if nd1 > 0 or nd2 > 0:
            live = at_risk > 0
            surv = surv_before.copy()
            cif = cif_before.copy()
            surv[live] = surv_before[live] * (at_risk[live] - d1[live] - d2[live]) / at_risk[live]
            cif[live] = cif_before[live] + surv_before[live] * d1[live] / at_risk[live]
            ratio = np.where(live, at_risk / np.where(live, surv_before, 1.0), 0.0)  # n_k / S_k(t-)
            total_r = ratio.sum()
            total_q = (ratio * (1 - cif_before)).sum()
            pooled = pooled_before + nd1 / total_r
            weight = (1 - pooled_before) ** rho
            a = weight * (np.diag(ratio) - np.outer(ratio, ratio) / total_r)
            if nd1 > 0 and pooled_before < 1:
                c += a * nd1 / (total_r * (1 - pooled_before))
            score += np.where(
                live[:g1], weight * (d1[:g1] - nd1 * ratio[:g1] * (1 - cif_before[:g1]) / total_q), 0.0
            )
            if nd1 > 0:
                for k in np.flatnonzero(live):
                    t4 = 1 - (1 - pooled) / surv[k] if surv[k] > 0 else 1.0
                    t5 = 1 - (nd1 - 1) / (total_r * surv_before[k] - 1) if nd1 > 1 else 1.0
                    t3 = t5 * surv_before[k] * nd1 / (total_r * at_risk[k])
                    v1[k] += t4 * t4 * t3
                    t1 = a[:g1, k] - t4 * c[:g1, k]
                    v2[:, k] += t1 * t4 * t3
                    v += np.outer(t1, t1) * t3
            if nd2 > 0:
                for k in np.flatnonzero((surv > 0) & (d2 > 0)):
                    t4 = (1 - pooled) / surv[k]
                    t5 = 1 - (d2[k] - 1) / (at_risk[k] - 1) if d2[k] > 1 else 1.0
                    t3 = t5 * surv_before[k] ** 2 * d2[k] / at_risk[k] ** 2
                    v1[k] += t4 * t4 * t3
                    t1 = t4 * c[:g1, k]
                    v2[:, k] -= t1 * t4 * t3
                    v += np.outer(t1, t1) * t3
            pooled_before, cif_before, surv_before = pooled, cif, surv
        at_risk -= counts.sum(axis=0)
    cg = c[:g1]
    v += (cg * v1) @ cg.T + cg @ v2.T + v2 @ cg.T
    return score, v
