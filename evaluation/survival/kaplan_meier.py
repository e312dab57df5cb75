"""Kaplan–Meier survival curves with delayed entry, weights and family clusters.

Matches R ``survfit(Surv(entry, duration, event) ~ 1, weights = w, cluster = family)``
from the ``survival`` package (checked against survival 3.5 in
tests/reference/km):

* the curve has one row per distinct exit time (event or censoring), with the
  (weighted) numbers at risk, events and censorings; a subject is at risk at
  ``t`` when ``entry < t <= duration`` (``duration >= t`` without entry times,
  so exits at day 0 count);
* standard errors are Greenwood's, or — as R does by default when ``cluster``
  is given or weights are not whole numbers — the infinitesimal jackknife (IJ),
  summed within clusters so that siblings are not treated as independent;
* confidence limits by R's ``conf.type`` "log" (default), "log-log" or "plain";
* quantiles and the median with their confidence limits follow
  ``quantile.survfit``, including its rule that a curve lying exactly on 0.5
  over a flat stretch has the median at the midpoint of that stretch.

:func:`kaplan_meier_by` fits one curve per cohort and returns survival at fixed
days and medians as a tidy result table (:mod:`evaluation.results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from evaluation.results import tidy
from evaluation.survival._data import SurvivalData, survival_data

#: Default days at which survival is reported (3 months, 6 months, 1 year, 2 years).
REPORT_DAYS: tuple[int, ...] = (91, 182, 365, 730)

CONF_TYPES: tuple[str, ...] = ("log", "log-log", "plain")

#: R's ``quantile.survfit`` tolerance for "the curve equals p".
QUANTILE_TOLERANCE = float(np.sqrt(np.finfo(float).eps))

#: Largest (rows x times) block held in memory by the dense reference IJ computation.
_BLOCK_CELLS = 2_000_000
#: Rows (whole clusters) whose entries and exits the one-pass IJ variance handles at once.
_IJ_BLOCK_ROWS = 1 << 17


@dataclass(frozen=True)
class Quantile:
    """A survival-time quantile with its confidence limits (NaN when not reached)."""

    probability: float
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class KaplanMeier:
    """A fitted Kaplan–Meier curve.

    ``table`` has one row per distinct exit time: ``time, n_risk, n_event,
    n_censor, survival, std_err, lower, upper`` (``std_err`` is the standard
    error of the survival probability, as in R's ``summary.survfit``).
    ``robust`` says whether ``std_err`` is the (cluster) IJ rather than Greenwood.
    """

    table: pd.DataFrame
    conf_type: str
    conf_level: float
    robust: bool
    n: int
    data: SurvivalData = field(repr=False)

    # -- reading the curve -------------------------------------------------
    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival, its standard error and confidence limits at ``times``.

        The curve is a right-continuous step function: before the first exit
        it is 1 (SE 0, limits 1); after the last observed time it is unknown
        and returned as NaN (R's ``summary(fit, times)`` drops such times).
        ``n_risk`` is the (weighted) risk set at each time itself.
        """
        grid = np.asarray(times, dtype=float)
        table = self.table
        row = np.searchsorted(table["time"].to_numpy(), grid, side="right") - 1
        beyond = grid > table["time"].iloc[-1]
        out = {"time": grid, "n_risk": self.number_at_risk(grid)["n_risk"].to_numpy()}
        for column, before in (("survival", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0)):
            values = table[column].to_numpy()[np.maximum(row, 0)]
            values = np.where(row < 0, before, values)
            out[column] = np.where(beyond, np.nan, values)
        return pd.DataFrame(out)

    def number_at_risk(self, grid: Sequence[float]) -> pd.DataFrame:
        """(Weighted) number at risk at each time of a fixed ``grid``."""
        points = np.asarray(grid, dtype=float)
        return pd.DataFrame({"time": points, "n_risk": at_risk(self.data, points)})

    def quantile(self, probability: float) -> Quantile:
        """Time by which a fraction ``probability`` has had the event, as R's ``quantile.survfit``."""
        if not 0 <= probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        time = self.table["time"].to_numpy()
        values = [
            _find_quantile(time, self.table[column].to_numpy(), probability)
            for column in ("survival", "lower", "upper")
        ]
        return Quantile(probability, *values)

    def median(self) -> Quantile:
        """Median time to event with R's confidence limits (NaN where not reached)."""
        return self.quantile(0.5)


def kaplan_meier(
    df: pd.DataFrame,
    duration: str,
    event: str,
    entry: str | None = None,
    weights: str | None = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
    *,
    cluster: str | None = None,
    robust: bool | None = None,
) -> KaplanMeier:
    """Fit a Kaplan–Meier curve to the rows of ``df``.

    ``robust=None`` follows R: the IJ standard error is used when ``cluster``
    is given or any weight is not a whole number, Greenwood's otherwise.
    """
    data = survival_data(df, duration, event, entry=entry, weights=weights, cluster=cluster)
    return fit_kaplan_meier(data, conf_type=conf_type, conf_level=conf_level, robust=robust)


def fit_kaplan_meier(
    data: SurvivalData,
    conf_type: str = "log",
    conf_level: float = 0.95,
    robust: bool | None = None,
) -> KaplanMeier:
    """Kaplan–Meier on already validated :class:`SurvivalData` (see :func:`kaplan_meier`)."""
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, not {conf_type!r}")
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be between 0 and 1")
    if robust is None:
        robust = data.cluster is not None or bool(np.any(data.weights != np.floor(data.weights)))

    steps = curve_steps(data)
    survival = steps["survival"]
    if robust:
        std_err = np.sqrt(ij_variance(data, steps, steps["time"]))
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(std_err == 0, 0.0, std_err / survival)
    else:
        se_log = np.sqrt(steps["greenwood"])
        with np.errstate(invalid="ignore"):
            std_err = se_log * survival
    lower, upper = confidence_limits(survival, se_log, conf_type, conf_level)
    table = pd.DataFrame(
        {
            "time": steps["time"],
            "n_risk": steps["n_risk"],
            "n_event": steps["n_event"],
            "n_censor": steps["n_censor"],
            "survival": survival,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        }
    )
    return KaplanMeier(table, conf_type, conf_level, bool(robust), len(data), data)


# -- building blocks (also used by rmst.py) ------------------------------------


def at_risk(data: SurvivalData, times: np.ndarray) -> np.ndarray:
    """Weighted count of subjects with ``entry < t <= duration`` at each ``t``.

    Without entry times everyone is at risk from the start, so this is the
    weight with ``duration >= t`` (subjects leaving at day 0 are at risk at 0).
    """
    order = np.argsort(data.duration, kind="stable")
    stop = data.duration[order]
    stop_weight = np.concatenate([[0.0], np.cumsum(data.weights[order])])
    # weight with duration >= t = total - weight with duration < t
    total = stop_weight[-1]
    count = total - stop_weight[np.searchsorted(stop, times, side="left")]
    if data.has_entry:
        order = np.argsort(data.entry, kind="stable")
        start = data.entry[order]
        start_weight = np.concatenate([[0.0], np.cumsum(data.weights[order])])
        # entry >= t implies duration > t, so these are inside the count above
        count = count - (total - start_weight[np.searchsorted(start, times, side="left")])
    return count


def curve_steps(data: SurvivalData) -> dict[str, np.ndarray]:
    """Counts, survival and Greenwood sum at every distinct exit time.

    Returns arrays ``time, n_risk, n_event, n_censor, survival, greenwood``
    (``greenwood`` is the variance of log survival, sum of d / (n (n - d))).
    """
    time, index = np.unique(data.duration, return_inverse=True)
    n_event = np.bincount(index, weights=data.weights * data.event, minlength=len(time))
    n_censor = np.bincount(index, weights=data.weights * ~data.event, minlength=len(time))
    return steps_from_counts(time, at_risk(data, time), n_event, n_censor)


def steps_from_counts(time: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray,
                      n_censor: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`curve_steps` from the (weighted) counts at each distinct exit time."""
    has_event = n_event > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(has_event, n_event / n_risk, 0.0)
        survival = np.cumprod(1.0 - hazard)
        increment = np.where(has_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return {
        "time": time,
        "n_risk": n_risk,
        "n_event": n_event,
        "n_censor": n_censor,
        "hazard": hazard,
        "survival": survival,
        "greenwood": np.cumsum(increment),
    }


class CurveGrid:
    """The rows of one :class:`SurvivalData` sorted once, for the Kaplan–Meier steps under many
    weight vectors (a bootstrap's draw counts as frequency weights): :meth:`steps` gives exactly
    (to the last bit) :func:`curve_steps` of the rows with positive weight, without sorting again.

    The rows' exit times form the grid of every distinct duration; a resample's curve has a step at
    each grid time where some drawn row exits (``present``). Sums run over the rows in the same
    order as :func:`curve_steps` on the drawn rows, the rows drawn 0 times adding exact zeros.
    """

    def __init__(self, data: SurvivalData):
        self.data = data
        self.time, self.index = np.unique(data.duration, return_inverse=True)
        self.index = self.index.ravel()
        self.censored = ~data.event   # held for every weight vector (rmst_on_grid: the index + 1 too)
        self.index_next = self.index + 1
        #: tau -> the rows' events at or before tau (rmst_on_grid's, made at its first ask)
        self.counted: dict[float, np.ndarray] = {}
        self.stop_order = np.argsort(data.duration, kind="stable")
        self.stop_at = np.searchsorted(data.duration[self.stop_order], self.time, side="left")
        if data.has_entry:
            self.start_order = np.argsort(data.entry, kind="stable")
            self.start_at = np.searchsorted(data.entry[self.start_order], self.time, side="left")
            #: grid times at or before each row's entry
            self.entry_index = np.searchsorted(self.time, data.entry, side="right")

    def steps(self, weights: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:func:`curve_steps` of the rows with ``weights > 0`` (weighted by ``weights``), and the grid
        times that are steps of that curve (boolean, one per grid time)."""
        data, n_grid = self.data, len(self.time)
        present = np.zeros(n_grid, dtype=bool)
        present[self.index[weights > 0]] = True
        n_event = np.bincount(self.index, weights=weights * data.event, minlength=n_grid)[present]
        n_censor = np.bincount(self.index, weights=weights * self.censored, minlength=n_grid)[present]
        stop_weight = np.concatenate([[0.0], np.cumsum(weights[self.stop_order])])
        total = stop_weight[-1]
        n_risk = total - stop_weight[self.stop_at[present]]
        if data.has_entry:
            start_weight = np.concatenate([[0.0], np.cumsum(weights[self.start_order])])
            n_risk = n_risk - (total - start_weight[self.start_at[present]])
        return steps_from_counts(self.time[present], n_risk, n_event, n_censor), present


def _cluster_matrix(data: SurvivalData) -> sparse.csr_matrix | None:
    """Sparse (clusters x rows) indicator, or None when each row is its own cluster."""
    if data.cluster is None:
        return None
    rows = len(data)
    return sparse.csr_matrix(
        (np.ones(rows), (data.cluster, np.arange(rows))), shape=(int(data.cluster.max()) + 1, rows)
    )


def _martingale_parts(data: SurvivalData, steps: dict[str, np.ndarray]):
    """Per-step pieces of the KM influence: 1/(n - d) and d/(n(n - d)) (0 without events).

    The IJ influence of row i on log S(t) is ``-w_i [event_i 1(duration_i <= t) /
    (n - d)(duration_i) - sum over event times u in (entry_i, min(t, duration_i)]
    of d/(n(n - d))(u)]`` (R survfitkm.c, "robust variance").
    """
    n_risk, n_event = steps["n_risk"], steps["n_event"]
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.where(n_event > 0, 1.0 / (n_risk - n_event), 0.0)
        compensator = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return jump, compensator


def ij_variance(data: SurvivalData, steps: dict[str, np.ndarray], times: np.ndarray) -> np.ndarray:
    """Infinitesimal-jackknife variance of S(t) at ``times``, summed within clusters.

    Equals R's robust ``std.err``^2 from ``survfit(..., cluster=)`` (or per row
    when there is no cluster). Where S(t) = 0 the variance is 0, as in R.

    One pass over the rows' entries and exits, O(rows log rows + steps) time, whole clusters
    :data:`_IJ_BLOCK_ROWS` rows at a time (no rows x times array; the memory of a block): between two of its rows' entries or exits a cluster's influence on log S
    at step ``k`` is ``-C(k) a + b``, ``C`` the cumulative compensator and ``a``, ``b`` constant,
    so the variance at ``k`` is ``C(k)^2 sum a^2 - 2 C(k) sum a b + sum b^2`` over the clusters,
    the three sums accumulated at the steps where some cluster's ``a`` or ``b`` changes. They are
    kept in extended precision (``np.longdouble``), so the result agrees with the row-by-time sum
    (:func:`_ij_variance_dense`) to rounding (within 1e-12 relative, tested).
    The rows' durations are step times (as :func:`curve_steps` gives).
    """
    times = np.asarray(times, dtype=float)
    step_time = steps["time"]
    jump, compensator = _martingale_parts(data, steps)
    finite = steps["survival"] > 0
    # cumulative compensator up to each step time, only over steps with S > 0
    cum = np.concatenate([[0.0], np.cumsum(np.where(finite, compensator, 0.0))])
    at = np.searchsorted(step_time, times, side="right")  # steps with time <= t
    row_at_exit = np.searchsorted(step_time, data.duration, side="left")
    jump_own = np.where(data.event, np.where(finite[row_at_exit], jump[row_at_exit], 0.0), 0.0)
    if data.has_entry:
        enter = np.searchsorted(step_time, data.entry, side="right")   # steps at or before entry
    else:
        enter = np.zeros(len(data), dtype=np.int64)
    exit_step = row_at_exit + 1  # steps with time <= duration
    survival_at = np.concatenate([[1.0], steps["survival"]])[at]

    # row i adds -w (C(k) - cum[enter]) for enter < k < exit, then the constant
    # w (jump_own - (cum[exit] - cum[enter])) from k = exit on; whole clusters a block of rows at a time
    ld = np.longdouble
    m = len(cum)
    sums = np.zeros((3, m + 1), dtype=ld)      # sum a^2, sum ab, sum b^2 (their changes at each step)
    sizes = np.zeros((3, m + 1), dtype=ld)     # the same of absolute values: how much may have cancelled
    n = len(data)
    if data.cluster is None:
        by_cluster, cluster = np.arange(n), np.arange(n)
    else:
        by_cluster = np.argsort(data.cluster, kind="stable")
        cluster = data.cluster[by_cluster]
    cuts = np.unique(np.r_[np.searchsorted(cluster, cluster[::_IJ_BLOCK_ROWS], side="left"), n])
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        rows = by_cluster[lo:hi]
        w = data.weights[rows].astype(ld)
        before = cum[enter[rows]].astype(ld)
        settled = w * (jump_own[rows].astype(ld) - (cum[exit_step[rows]].astype(ld) - before))
        _ij_changes(np.r_[cluster[lo:hi], cluster[lo:hi]], np.r_[enter[rows] + 1, exit_step[rows]],
                    np.r_[w, -w], np.r_[w * before, settled - w * before], sums, sizes)
    c = cum.astype(ld)
    variance = np.zeros(m, dtype=ld)
    bound = np.zeros(m, dtype=ld)
    for factor, total, size in zip((c * c, -2 * c, np.ones(m, dtype=ld)), sums, sizes):
        variance += factor * np.cumsum(total)[:m]
        bound += np.abs(factor) * np.cumsum(size)[:m]
    variance = variance[at]
    # where cancellation may have cost more than 1e-15 of the result (e.g. a step where n - d is a
    # rounding residue and C jumps by 1e16; or no extended precision on this platform), the
    # row-by-time sum at those times
    doubtful = bound[at] * np.finfo(ld).eps > ld(1e-15) * variance
    out = survival_at**2 * np.maximum(variance, 0).astype(float)
    if doubtful.any():
        out[doubtful] = _ij_variance_dense(data, steps, times[doubtful])
    return out


def _ij_changes(event_cluster, event_step, d_a, d_b, sums, sizes) -> None:
    """Add to ``sums`` (3 x steps) the changes of ``a^2``, ``ab``, ``b^2`` summed over clusters at
    each step, and to ``sizes`` their absolute values, from the entry/exit events of whole clusters:
    each event changes its cluster's ``a`` by ``d_a`` and ``b`` by ``d_b`` from step ``event_step`` on."""
    ld = np.longdouble
    order = np.lexsort((event_step, event_cluster))
    event_cluster, event_step, d_a, d_b = event_cluster[order], event_step[order], d_a[order], d_b[order]
    # each cluster's a and b after each of its events (running sums restarted at each cluster)
    starts = np.flatnonzero(np.r_[True, event_cluster[1:] != event_cluster[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    a = np.cumsum(d_a)
    a -= a[run] - d_a[run]
    b = np.cumsum(d_b)
    b -= b[run] - d_b[run]
    # a cluster's value at a step is the one after its last event at that step
    last = np.r_[(event_cluster[1:] != event_cluster[:-1]) | (event_step[1:] != event_step[:-1]), True]
    a, b, event_step, event_cluster = a[last], b[last], event_step[last], event_cluster[last]
    new_cluster = np.r_[True, event_cluster[1:] != event_cluster[:-1]]
    a_before = np.where(new_cluster, ld(0), np.r_[ld(0), a[:-1]])
    b_before = np.where(new_cluster, ld(0), np.r_[ld(0), b[:-1]])
    for k, change in enumerate((a * a - a_before * a_before, a * b - a_before * b_before,
                                b * b - b_before * b_before)):
        np.add.at(sums[k], event_step, change)
        np.add.at(sizes[k], event_step, np.abs(change))


def _ij_variance_dense(data: SurvivalData, steps: dict[str, np.ndarray], times: np.ndarray) -> np.ndarray:
    """:func:`ij_variance` as a (rows x times) sum, block by block: the reference the one-pass
    computation is tested against (O(rows x times) time)."""
    times = np.asarray(times, dtype=float)
    step_time = steps["time"]
    jump, compensator = _martingale_parts(data, steps)
    finite = steps["survival"] > 0
    # cumulative compensator up to each step time, only over steps with S > 0
    cum = np.concatenate([[0.0], np.cumsum(np.where(finite, compensator, 0.0))])
    at = np.searchsorted(step_time, times, side="right")  # steps with time <= t
    row_at_exit = np.searchsorted(step_time, data.duration, side="left")
    jump_own = np.where(data.event, np.where(finite[row_at_exit], jump[row_at_exit], 0.0), 0.0)
    if data.has_entry:
        before_entry = cum[np.searchsorted(step_time, data.entry, side="right")]
    else:
        before_entry = np.zeros(len(data))
    exit_step = row_at_exit + 1  # steps with time <= duration
    survival_at = np.concatenate([[1.0], steps["survival"]])[at]
    clusters = _cluster_matrix(data)

    variance = np.empty(len(times))
    block = max(1, _BLOCK_CELLS // max(1, len(data)))
    for begin in range(0, len(times), block):
        idx = at[begin : begin + block]
        upto = np.minimum(exit_step[:, None], idx[None, :])
        compensated = np.clip(cum[upto] - before_entry[:, None], 0.0, None)
        counted = jump_own[:, None] * (data.duration[:, None] <= times[None, begin : begin + block])
        parts = data.weights[:, None] * (counted - compensated)
        summed = parts if clusters is None else clusters @ parts
        variance[begin : begin + block] = np.sum(np.asarray(summed) ** 2, axis=0)
    return survival_at**2 * variance


def confidence_limits(
    survival: np.ndarray, se_log: np.ndarray, conf_type: str, conf_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits from the SE of log S, as R's ``survfit_confint``.

    "log" limits are NaN where S = 0 and capped at 1; "log-log" limits are NaN
    where S is 0 or 1; "plain" limits are clipped to [0, 1].
    """
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = z * se_log * survival
            return np.maximum(survival - half, 0.0), np.minimum(survival + half, 1.0)
        if conf_type == "log":
            s = np.where(survival == 0, np.nan, survival)
            return np.exp(np.log(s) - z * se_log), np.minimum(np.exp(np.log(s) + z * se_log), 1.0)
        if conf_type == "log-log":
            s = np.where((survival == 0) | (survival == 1), np.nan, survival)
            half = z * se_log / np.log(s)
            centre = np.log(-np.log(s))
            return np.exp(-np.exp(centre - half)), np.exp(-np.exp(centre + half))
    raise ValueError(f"conf_type must be one of {CONF_TYPES}, not {conf_type!r}")


def _find_quantile(time: np.ndarray, curve: np.ndarray, p: float, tol: float = QUANTILE_TOLERANCE) -> float:
    """First time the curve falls to 1 - p, R's ``findq`` (survival 3.5).

    If the curve equals 1 - p (within ``tol``) over a flat stretch, the answer
    is the midpoint of that stretch; if it stays at 1 - p to the end of
    follow-up, the midpoint of the stretch and the last observed time.
    Missing values of the curve (e.g. undefined log-log limits) are skipped.
    """
    x = np.concatenate([[0.0], time])
    y = np.concatenate([[0.0], 1.0 - curve])
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    last_time = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    if p == 0:
        return float(x[0])
    position = np.arange(len(y))
    valid = ~np.isnan(y)

    def first_at_or_after(shift: float) -> float:
        knots = y[valid] + shift
        order = np.argsort(knots, kind="stable")
        knots, where = knots[order], position[valid][order]
        if p < knots[0] or p > knots[-1]:
            return float("nan")
        return float(where[np.searchsorted(knots, p, side="left")])

    lo, hi = first_at_or_after(tol), first_at_or_after(-tol)
    if np.isnan(lo):
        return float("nan")
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol:
        return float((x[int(lo)] + last_time) / 2)
    if np.isnan(hi):
        return float("nan")
    return float((x[int(lo)] + x[int(hi)]) / 2)


# -- one curve per cohort, as a result table -------------------------------------


def kaplan_meier_by(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    times: Sequence[float] = REPORT_DAYS,
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
    outcome: str | None = None,
    combination: str = "all",
) -> pd.DataFrame:
    """Survival at ``times`` and the median, per level of ``group``, as a tidy table.

    One row per cohort and day (``term="survival"``) plus one median row per
    cohort (``term="median"``, ``time`` missing). ``n`` is the number of
    children in the cohort; ``events`` the events up to that day (all events
    on the median row).
    """
    return kaplan_meier_fits_by(df, duration, event, group, times=times, entry=entry, weights=weights,
                                cluster=cluster, conf_type=conf_type, conf_level=conf_level, outcome=outcome,
                                combination=combination)[0]


def kaplan_meier_fits_by(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    times: Sequence[float] = REPORT_DAYS,
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
    outcome: str | None = None,
    combination: str = "all",
) -> tuple[pd.DataFrame, dict[object, KaplanMeier]]:
    """:func:`kaplan_meier_by`'s table and the curve of each level of ``group`` it was read from
    (so a caller that also wants the full curves fits each once)."""
    if group not in df.columns:
        raise ValueError(f"column {group!r} not found in the data")
    if df[group].isna().any():
        raise ValueError(f"column {group!r} has missing value(s)")
    rows = []
    fits = {}
    for level, part in df.groupby(group, sort=True, observed=True):
        fit = fits[level] = kaplan_meier(part, duration, event, entry=entry, weights=weights, cluster=cluster,
                                         conf_type=conf_type, conf_level=conf_level)
        se_name = "IJ SE clustered by family" if fit.robust and cluster else (
            "IJ SE" if fit.robust else "Greenwood SE")
        method = f"Kaplan-Meier, {se_name}, {conf_type} CI" + (", delayed entry" if entry else "")
        common = {"outcome": outcome, "analysis": "kaplan_meier", "cohort": level,
                  "combination": combination, "n": len(part), "method": method}
        at = fit.survival_at(times)
        event_times = fit.data.duration[fit.data.event]
        for record in at.itertuples(index=False):
            rows.append({**common, "term": "survival", "time": record.time, "estimate": record.survival,
                         "ci_lower": record.lower, "ci_upper": record.upper, "se": record.std_err,
                         "events": int(np.sum(event_times <= record.time))})
        median = fit.median()
        rows.append({**common, "term": "median", "estimate": median.estimate,
                     "ci_lower": median.lower, "ci_upper": median.upper,
                     "events": int(fit.data.event.sum())})
    return tidy(rows), fits
