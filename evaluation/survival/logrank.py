"""Log-rank test of equal survival across cohorts, optionally stratified.

* Right-censored data: the log-rank test of R ``survdiff(Surv(duration, event)
  ~ group + strata(s))`` — observed and expected events per group, the
  hypergeometric variance, chi-square on (groups with expected > 0) - 1 df.
* Delayed entry (``entry``): ``survdiff`` does not accept (entry, duration]
  data, so the test is the Cox partial-likelihood score test at beta = 0 with
  Breslow ties, as R ``coxph(Surv(entry, duration, event) ~ group + strata(s),
  ties = "breslow")$score``. Its variance lacks survdiff's (n - d)/(n - 1)
  tie correction; without ties the two are identical. ``variance=
  "hypergeometric"`` keeps survdiff's variance with delayed entry too (equal to
  the score test of ``coxph(..., ties = "exact")``).
* ``cluster`` (family id): also the robust score test of ``coxph(...,
  cluster = family)$rscore`` (Breslow score residuals summed within families),
  since siblings' times are not independent. :meth:`LogRank.tidy` reports the
  robust test when it is available.

The test is unweighted, as ``survdiff`` (use a weighted Cox model for weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable, estimable
from evaluation.results import tidy
from evaluation.survival._data import SurvivalData, survival_data
from evaluation.survival.kaplan_meier import at_risk

VARIANCES: tuple[str, ...] = ("hypergeometric", "breslow")


@dataclass(frozen=True)
class LogRank:
    """Result of :func:`logrank_test`.

    ``table`` has one row per group: ``group, n, observed, expected``.
    ``variance`` is the (groups x groups) covariance of observed - expected.
    ``robust_chisq`` / ``robust_p_value`` are set only when a cluster was given.
    """

    table: pd.DataFrame
    variance: np.ndarray
    chisq: float
    df: int
    p_value: float
    variance_type: str
    stratified: bool
    robust_chisq: float | None = None
    robust_p_value: float | None = None

    def tidy(self, outcome: str | None = None, combination: str = "all") -> pd.DataFrame:
        """The test (robust if available) plus observed and expected events per group."""
        robust = self.robust_chisq is not None
        method = (
            ("log-rank (survdiff)" if self.variance_type == "hypergeometric" else "Cox score test, Breslow ties")
            + (", stratified" if self.stratified else "")
            + (", family-clustered robust score test" if robust else "")
            + f", df={self.df}"
        )
        common = {"outcome": outcome, "analysis": "logrank", "combination": combination, "method": method}
        groups = [str(g) for g in self.table["group"]]
        rows = [{
            **common,
            "contrast": " vs ".join(groups),
            "term": "chisq",
            "statistic": self.robust_chisq if robust else self.chisq,
            "p_value": self.robust_p_value if robust else self.p_value,
            "n": int(self.table["n"].sum()),
            "events": int(round(self.table["observed"].sum())),
        }]
        for record in self.table.itertuples(index=False):
            for term in ("observed", "expected"):
                rows.append({**common, "cohort": record.group, "term": term,
                             "estimate": getattr(record, term), "n": record.n})
        return tidy(rows)


def _quadratic_form(score: np.ndarray, variance: np.ndarray, keep: np.ndarray) -> tuple[float, int]:
    """survdiff's chi-square: drop groups with no expected events, then the first group.

    If the remaining variance is singular (e.g. groups never share a risk set
    within a stratum), a generalised inverse is used with df = its rank, where
    R's ``solve`` would stop with an error; with rank 0 there is no test (NaN).
    """
    index = np.flatnonzero(keep)
    if len(index) < 2:
        return float("nan"), 0
    reduced = index[1:]
    u = score[reduced]
    v = variance[np.ix_(reduced, reduced)]
    rank = int(np.linalg.matrix_rank(v))
    if rank == len(reduced):
        return float(u @ np.linalg.solve(v, u)), rank
    if rank == 0:
        return float("nan"), 0
    return float(u @ np.linalg.pinv(v) @ u), rank


def _stratum_pieces(data: SurvivalData, groups: np.ndarray, n_groups: int, variance_type: str):
    """Observed, expected, variance and per-row Breslow score residuals in one stratum."""
    event_times = np.unique(data.duration[data.event])
    risk = np.column_stack([
        at_risk(data.subset(groups == g), event_times) if np.any(groups == g) else np.zeros(len(event_times))
        for g in range(n_groups)
    ])  # times x groups
    index = np.searchsorted(event_times, data.duration)
    deaths = np.zeros((len(event_times), n_groups))
    np.add.at(deaths, (index[data.event], groups[data.event]), 1.0)
    n = risk.sum(axis=1)
    d = deaths.sum(axis=1)
    share = risk / n[:, None]
    observed = deaths.sum(axis=0)
    expected = (d[:, None] * share).sum(axis=0)
    if variance_type == "hypergeometric":
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n > 1, (n - d) / (n - 1), 0.0)
    else:
        factor = np.ones_like(n)
    weight = d * factor
    variance = np.diag(weight @ share) - share.T @ (weight[:, None] * share)

    # Breslow score residuals at beta = 0: dN_i (x_i - p(t)) - sum over at-risk times of (x_i - p(t)) d/n
    hazard = d / n
    cum_hazard = np.concatenate([[0.0], np.cumsum(hazard)])
    cum_share = np.vstack([np.zeros(n_groups), np.cumsum(share * hazard[:, None], axis=0)])
    upto = np.searchsorted(event_times, data.duration, side="right")
    since = np.searchsorted(event_times, data.entry, side="right") if data.has_entry else np.zeros(len(data), int)
    x = np.eye(n_groups)[groups]
    residual = -(x * (cum_hazard[upto] - cum_hazard[since])[:, None] - (cum_share[upto] - cum_share[since]))
    residual[data.event] += x[data.event] - share[index[data.event]]
    return observed, expected, variance, residual


@estimable()  # a singular matrix on these data: NotEstimable, in our words
def logrank_test(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    strata: str | None = None,
    entry: str | None = None,
    cluster: str | None = None,
    variance: str | None = None,
) -> LogRank:
    """Test equal survival in all levels of ``group`` (see the module docstring).

    ``variance`` defaults to "hypergeometric" (survdiff) for right-censored
    data and "breslow" (coxph score test) when ``entry`` is given. Groups are
    ordered as a pandas categorical's categories, otherwise sorted.
    """
    if variance is None:
        variance = "breslow" if entry is not None else "hypergeometric"
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, not {variance!r}")
    data = survival_data(df, duration, event, entry=entry, strata=strata, cluster=cluster)
    if group not in df.columns:
        raise ValueError(f"column {group!r} not found in the data")
    if df[group].isna().any():
        raise ValueError(f"column {group!r} has missing value(s)")
    codes, labels = pd.factorize(df[group], sort=True)
    n_groups = len(labels)
    if n_groups < 2:
        raise NotEstimable(f"column {group!r} needs at least two groups to compare")

    strata_codes = data.strata if data.strata is not None else np.zeros(len(data), dtype=int)
    observed = np.zeros(n_groups)
    expected = np.zeros(n_groups)
    covariance = np.zeros((n_groups, n_groups))
    residual = np.zeros((len(data), n_groups))
    for stratum in np.unique(strata_codes):
        rows = strata_codes == stratum
        o, e, v, r = _stratum_pieces(data.subset(rows), codes[rows], n_groups, variance)
        observed += o
        expected += e
        covariance += v
        residual[rows] = r

    keep = expected > 0
    chisq, dof = _quadratic_form(observed - expected, covariance, keep)
    robust_chisq = robust_p = None
    if data.cluster is not None:
        per_family = np.zeros((int(data.cluster.max()) + 1, n_groups))
        np.add.at(per_family, data.cluster, residual)
        robust_chisq, robust_df = _quadratic_form(observed - expected, per_family.T @ per_family, keep)
        robust_p = float(stats.chi2.sf(robust_chisq, robust_df)) if robust_df else float("nan")

    table = pd.DataFrame({
        "group": np.asarray(labels),
        "n": np.bincount(codes, minlength=n_groups),
        "observed": observed,
        "expected": expected,
    })
    return LogRank(
        table=table,
        variance=covariance,
        chisq=chisq,
        df=dof,
        p_value=float(stats.chi2.sf(chisq, dof)) if dof else float("nan"),
        variance_type=variance,
        stratified=strata is not None,
        robust_chisq=robust_chisq,
        robust_p_value=robust_p,
    )
