"""Restricted mean survival time (RMST): mean days in the spell up to day tau.

RMST(tau) is the area under the Kaplan–Meier curve from day 0 to ``tau``,
the mean number of days (of the first ``tau``) that a child stays in the spell.
Unlike a mean of observed durations it uses censored spells correctly.

* :func:`rmst` — the estimate and its standard error exactly as R
  ``summary(survfit(...), rmean = tau)$table[, c("rmean", "se(rmean)")]``:
  ``se^2 = sum over times t <= tau of A(t)^2 d / (n (n - d))`` with
  ``A(t)`` the area under the curve from t to tau, ``d``/``n`` the (weighted)
  events and number at risk. This is the delta-method (Greenwood-type)
  variance of the estimator itself; for unweighted right-censored data it
  equals the infinitesimal-jackknife (IJ) variance R gives from
  ``residuals(fit, times = tau, type = "rmst")``, checked in tests/test_rmst.py.
  With delayed entry the area still starts at day 0 (R's default start time).
* The IJ standard error ``se_ij`` sums each child's influence within
  ``cluster`` (family) before squaring, so that siblings are not treated as
  independent; it equals R's residuals collapsed by family.
* :func:`rmst_difference` — comparison minus reference cohort at each tau as a
  tidy result table. Without ``cluster`` the difference's SE is
  ``sqrt(var1 + var2)`` with R's per-cohort variances (independent groups).
  With ``cluster`` the table uses the family-clustered IJ SE throughout; for the
  difference the influences of both cohorts are summed within each family
  first, because siblings can fall into different cohorts. The independent-
  groups SE ignores that correlation and is then anti-conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival._data import SurvivalData, survival_data
from evaluation.survival.kaplan_meier import CurveGrid, curve_steps

#: Default truncation days: one and two years.
DEFAULT_TAUS: tuple[int, ...] = (365, 730)


@dataclass(frozen=True)
class RMST:
    """RMST up to ``tau`` with R's SE (``se``) and the clustered IJ SE (``se_ij``).

    ``influence`` holds each row's IJ influence on the estimate (weighted), so
    that influences of several estimates can be combined within families.
    """

    tau: float
    estimate: float
    se: float
    se_ij: float
    n: int
    events: int
    influence: np.ndarray = field(repr=False)


def _areas(steps: dict[str, np.ndarray], tau: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Total area to tau, and A(t) (area from each step time t <= tau to tau)."""
    time = steps["time"]
    keep = time <= tau
    t_keep = time[keep]
    if len(t_keep) == 0:
        return float(tau), t_keep, np.zeros(0)
    widths = np.diff(np.append(t_keep, tau))
    after = np.cumsum((steps["survival"][keep] * widths)[::-1])[::-1]
    return float(t_keep[0] + after[0]), t_keep, after


def _influence(data: SurvivalData, steps: dict[str, np.ndarray], tau: float, after: np.ndarray) -> np.ndarray:
    """IJ influence of each row on RMST(tau).

    ``-w_i [event_i 1(t_i <= tau) A(t_i) / (n - d)(t_i) - sum over event times u
    in (entry_i, min(t_i, tau)] of A(u) d / (n (n - d))(u)]``; zero where A = 0
    (after the curve has reached 0).
    """
    k = len(after)
    if k == 0:
        return np.zeros(len(data))
    time = steps["time"][:k]
    upto = np.searchsorted(time, np.minimum(data.duration, tau), side="right")
    since = np.searchsorted(time, data.entry, side="right") if data.has_entry else np.zeros(len(data), int)
    own = np.searchsorted(time, data.duration, side="left")
    return _influence_at(data.weights, data, steps, tau, after, upto, since, own)


def _influence_at(weights: np.ndarray, data: SurvivalData, steps: dict[str, np.ndarray], tau: float,
                  after: np.ndarray, upto: np.ndarray, since: np.ndarray, own: np.ndarray,
                  counted: np.ndarray | None = None) -> np.ndarray:
    """:func:`_influence` given each row's step counts: steps (of the first ``k = len(after)``) at or
    before ``min(duration, tau)`` (``upto``) and its entry (``since``), and before its exit (``own``);
    ``counted``: the rows' events at or before ``tau``, when already known."""
    k = len(after)
    n_risk, n_event = steps["n_risk"][:k], steps["n_event"][:k]
    live = (n_event > 0) & (after > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.where(live, after / (n_risk - n_event), 0.0)
        compensator = np.where(live, after * n_event / (n_risk * (n_risk - n_event)), 0.0)
    cum = np.concatenate([[0.0], np.cumsum(compensator)])
    if counted is None:
        counted = data.event & (data.duration <= tau)
    jumps = np.where(counted, jump[np.minimum(own, k - 1)], 0.0)
    return -weights * (jumps - np.clip(cum[upto] - cum[since], 0.0, None))


def rmst_on_grid(grid: CurveGrid, weights: np.ndarray, taus: Sequence[float]) -> list[tuple[float, np.ndarray]]:
    """RMST and each row's IJ influence at each of ``taus`` of the rows of ``grid`` with positive
    ``weights`` (weighted by them), as :func:`fit_rmst` gives on those rows alone (the same numbers,
    to the last bit; influences of rows of weight 0 are 0): one curve for every tau, no sorting."""
    steps, present = grid.steps(weights)
    # steps of the resample's curve before each grid position (grid index -> its step count)
    before = np.concatenate([[0], np.cumsum(present)])
    data = grid.data
    out = []
    at = None   # each row's step counts, read off ``before`` once for every tau
    for tau in taus:
        if not tau > 0:
            raise ValueError("tau must be positive")
        estimate, _, after = _areas(steps, tau)
        k = len(after)
        if k == 0:
            out.append((estimate, np.zeros(len(data))))
            continue
        if at is None:
            at = (before[grid.index_next], before[grid.entry_index] if data.has_entry else None,
                  before[grid.index])
        upto = np.minimum(at[0], k)
        since = np.minimum(at[1], k) if data.has_entry else np.zeros(len(data), int)
        own = np.minimum(at[2], k)
        counted = grid.counted.get(tau)
        if counted is None:
            counted = grid.counted[tau] = data.event & (data.duration <= tau)
        out.append((estimate, _influence_at(weights, data, steps, tau, after, upto, since, own, counted)))
    return out


def _clustered_se(influence: np.ndarray, cluster: np.ndarray | None) -> float:
    if cluster is None:
        return float(np.sqrt(np.sum(influence**2)))
    return float(np.sqrt(np.sum(np.bincount(cluster, weights=influence) ** 2)))


def fit_rmst(data: SurvivalData, tau: float, steps: dict[str, np.ndarray] | None = None) -> RMST:
    """RMST on already validated :class:`SurvivalData` (see :func:`rmst`); ``steps``: its
    :func:`~evaluation.survival.kaplan_meier.curve_steps`, when already made (they do not depend on tau)."""
    if not tau > 0:
        raise ValueError("tau must be positive")
    if steps is None:
        steps = curve_steps(data)
    estimate, t_keep, after = _areas(steps, tau)
    k = len(t_keep)
    n_risk, n_event = steps["n_risk"][:k], steps["n_event"][:k]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard_term = np.where((n_event > 0) & (n_risk > n_event), n_event / (n_risk * (n_risk - n_event)), 0.0)
    # R survmean: the area after the last time <= tau gets no variance term of its own
    se = float(np.sqrt(np.sum(after**2 * hazard_term)))
    influence = _influence(data, steps, tau, after)
    return RMST(
        tau=float(tau),
        estimate=estimate,
        se=se,
        se_ij=_clustered_se(influence, data.cluster),
        n=len(data),
        events=int(np.sum(data.event & (data.duration <= tau))),
        influence=influence,
    )


def rmst(
    df: pd.DataFrame,
    duration: str,
    event: str,
    tau: float = 365,
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
) -> RMST:
    """Restricted mean survival time up to day ``tau`` (see the module docstring)."""
    return fit_rmst(survival_data(df, duration, event, entry=entry, weights=weights, cluster=cluster), tau)


def rmst_difference(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    tau: Sequence[float] = DEFAULT_TAUS,
    reference: str = "pre_fsp",
    comparison: str = "post_fsp",
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    outcome: str | None = None,
    combination: str = "all",
) -> pd.DataFrame:
    """RMST per cohort and ``comparison - reference`` at each tau, as a tidy table.

    Rows per tau: ``term="rmst"`` for each of the two cohorts and
    ``term="rmst_difference"`` (``contrast="comparison vs reference"``) with a
    normal confidence interval, z statistic and two-sided p-value. The SE is
    the family-clustered IJ when ``cluster`` is given, else R's per-cohort SE
    with ``sqrt(var1 + var2)`` for the difference (the ``method`` column says which).
    """
    if group not in df.columns:
        raise ValueError(f"column {group!r} not found in the data")
    data = survival_data(df, duration, event, entry=entry, weights=weights, cluster=cluster)
    labels = df[group].to_numpy()
    masks = {}
    for level in (reference, comparison):
        masks[level] = labels == level
        if not masks[level].any():
            raise NotEstimable(f"no rows with {group} == {level!r}")
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    clustered = cluster is not None
    method = "RMST (area under Kaplan-Meier), " + (
        "family-clustered infinitesimal-jackknife SE" if clustered
        else "R survfit rmean SE, independent groups")
    if entry is not None:
        method += ", delayed entry"
    common = {"outcome": outcome, "analysis": "rmst", "combination": combination, "method": method}

    rows = []
    taus = [tau] if np.isscalar(tau) else list(tau)
    # each cohort's rows and Kaplan–Meier steps once for every tau
    subsets = {level: data.subset(mask) for level, mask in masks.items()}
    steps = {}
    for t in taus:
        if not t > 0:
            raise ValueError("tau must be positive")
        if not steps:
            steps = {level: curve_steps(part) for level, part in subsets.items()}
        fits = {level: fit_rmst(part, t, steps[level]) for level, part in subsets.items()}
        for level, fit in fits.items():
            se = fit.se_ij if clustered else fit.se
            rows.append({**common, "cohort": level, "term": "rmst", "time": t, "estimate": fit.estimate,
                         "se": se, "ci_lower": fit.estimate - z * se, "ci_upper": fit.estimate + z * se,
                         "n": fit.n, "events": fit.events})
        difference = fits[comparison].estimate - fits[reference].estimate
        if clustered:
            joint = np.zeros(len(data))
            joint[masks[comparison]] = fits[comparison].influence
            joint[masks[reference]] -= fits[reference].influence
            se = _clustered_se(joint, data.cluster)
        else:
            se = float(np.hypot(fits[comparison].se, fits[reference].se))
        statistic = difference / se if se > 0 else float("nan")
        rows.append({**common, "contrast": f"{comparison} vs {reference}", "term": "rmst_difference", "time": t,
                     "estimate": difference, "se": se, "ci_lower": difference - z * se,
                     "ci_upper": difference + z * se, "statistic": statistic,
                     "p_value": float(2 * stats.norm.sf(abs(statistic))),
                     "n": fits[comparison].n + fits[reference].n,
                     "events": fits[comparison].events + fits[reference].events})
    return tidy(rows)
