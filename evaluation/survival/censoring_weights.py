"""Inverse-probability-of-censoring weights (IPCW) for a censoring time known at baseline.

When follow-up of some rows stops on a planned day (the earlier cohorts at
go-live: ``go_live_day`` days after the row's origin), the rows still
followed late are those whose origin came early, and if that depends on
covariates the uncensored rows stop representing the cohort. IPCW restores it:
each row's follow-up is split at ``grid`` days, and the piece starting at day
``s`` is weighted by ``P(C > s) / P(C > s | x)`` (stabilised), where ``C`` is
the planned censoring day. ``P(C > s | x) = exp(-H0(s) exp(x'b))`` comes
from a Cox model of ``C`` on the covariates (Breslow ties and baseline
hazard, as R ``coxph(Surv(C, rep(1, n)) ~ x, ties = "breslow")`` and
``basehaz(fit, centered = FALSE)``): ``C`` is known for every such row, so
that model has no censoring of its own. ``P(C > s)`` is the share of those
rows with ``C > s``. Rows with no planned censoring (``C`` infinite) keep
weight 1 and are not split. The weighted estimators then take the pieces
with delayed entry (``ipcw_start``) and a family cluster, as R's
``survSplit`` + ``survfit``/``coxph(..., weights)`` do (checked in
tests/test_target_trial_weights.py against tests/reference/target_trial/).

The pieces of that computation are shared: :func:`censoring_model` (the Cox model of ``C``) and
:func:`stabilised_censoring_weights` (the weight of a piece starting on day ``s``), both taking
optional frequency weights, so that a family bootstrap can refit them on each resample's draw
counts (the days in each state, :mod:`evaluation.survival.adjusted_states`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.errors import NotEstimable, estimable
from evaluation.survival.cox import TOLER_INF, RiskSets, _newton_raphson, _usable_columns, cox_ph

#: Column names added to the split rows.
START, WEIGHT = "ipcw_start", "ipcw"
#: Pieces whose weights :func:`censoring_weights` computes at once (a multiple of 64).
_PIECE_BLOCK = 1 << 18


def planned_censoring_survival(censor_time: np.ndarray, x_fit: np.ndarray, coef: np.ndarray,
                               x_at: np.ndarray, at: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
    """``P(C > at_j | x_at_j)``: Breslow baseline hazard of the fully observed ``censor_time``
    (covariates ``x_fit``, coefficients ``coef``), as R ``basehaz(fit, centered = FALSE)``;
    ``freq`` optional frequency weights of the fitted rows (a bootstrap resample's draw counts)."""
    lp_at = x_at @ coef if x_at.shape[1] else np.zeros(len(at))
    return np.exp(-censoring_baseline_hazard(censor_time, x_fit, coef, at, freq) * np.exp(lp_at))


def censoring_baseline_hazard(censor_time: np.ndarray, x_fit: np.ndarray, coef: np.ndarray, at: np.ndarray,
                              freq: np.ndarray | None = None) -> np.ndarray:
    """The Breslow cumulative baseline hazard ``H0(at)`` of :func:`planned_censoring_survival` (whose
    ``P(C > at | x)`` is ``exp(-H0(at) exp(x'coef))``), e.g. at the distinct days of many pieces."""
    if freq is not None:
        drawn = freq > 0
        censor_time, x_fit, freq = censor_time[drawn], x_fit[drawn], freq[drawn]
    lp_fit = x_fit @ coef if x_fit.shape[1] else np.zeros(len(censor_time))
    times = np.unique(censor_time)
    order = np.argsort(censor_time)
    risk = np.exp(lp_fit) if freq is None else freq * np.exp(lp_fit)
    sorted_c, sorted_risk = censor_time[order], risk[order]
    # weighted risk set at each distinct time: rows with C >= t
    at_risk = np.cumsum(sorted_risk[::-1])[::-1][np.searchsorted(sorted_c, times, side="left")]
    deaths = np.bincount(np.searchsorted(times, censor_time), weights=freq, minlength=len(times))
    cumulative = np.cumsum(deaths / at_risk)
    k = np.searchsorted(times, at, side="right")           # distinct times <= at
    return np.where(k > 0, cumulative[np.maximum(k - 1, 0)], 0.0)


@estimable()  # as cox_ph: a singular matrix on these data is NotEstimable
def _breslow_coefficients(censor_time: np.ndarray, x: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """``cox_ph(...).coef`` of the fully observed ``censor_time`` on ``x`` (Breslow ties, frequency
    weights ``freq > 0``): the same steps as :func:`~evaluation.survival.cox.cox_ph` up to its
    coefficients (NaN where it reports one not estimable), without the robust variance and the tests
    it also computes, which a bootstrap resample does not use."""
    names = [f"x{j}" for j in range(x.shape[1])]
    w = np.asarray(freq, dtype=float)
    if np.any(w <= 0) or not np.all(np.isfinite(w)):
        raise ValueError("frequency weights must be positive and finite")
    ev = np.ones(len(censor_time), dtype=np.int64)
    rs = RiskSets.build(np.asarray(censor_time, dtype=float), ev, None, None, w)
    keep, not_estimable = _usable_columns(x, names)
    xk = x[:, keep]                 # a copy (an index array), centred in place: the same values
    xk -= xk.mean(axis=0)
    p = xk.shape[1]
    beta, final, _, _, _ = _newton_raphson(xk, w, rs, False)
    if p:
        var = np.linalg.pinv(final.information)
        spread = final.information.diagonal()
        scale = float(w @ ev) * np.maximum(xk.var(axis=0), np.finfo(float).tiny)
        for k in np.flatnonzero(~(spread > 1e-10 * scale)):
            not_estimable[names[keep[k]]] = "no information"
        step = var @ final.score
        infinite = (~np.isfinite(beta)) | (np.abs(step) > TOLER_INF * (1 + np.abs(beta))) | (np.abs(beta) > 50)
        for k in np.flatnonzero(infinite):
            not_estimable[names[keep[k]]] = "coefficient diverges"
    coef = np.full(len(names), np.nan)
    coef[keep] = beta
    for name in not_estimable:
        coef[names.index(name)] = np.nan
    return coef


def censoring_model(censor_time: np.ndarray, x: np.ndarray,
                    freq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Cox model of the fully observed planned censoring day on ``x`` (one row per subject with
    planned censoring; Breslow ties), as R ``coxph(Surv(C, rep(1, n)) ~ x, ties = "breslow",
    weights = freq)``: ``(used, coef)``, the mask of the columns of ``x`` in the model (those not
    constant among the rows drawn, ``freq > 0``) and their coefficients (zeros when not estimable).
    ``freq``: optional frequency weights, e.g. a family bootstrap resample's draw counts."""
    rows = np.ones(len(censor_time), dtype=bool) if freq is None else freq > 0
    drawn = x[rows]      # the rows drawn, copied once
    used = np.ptp(drawn, axis=0) > 0 if rows.any() else np.zeros(x.shape[1], dtype=bool)
    coef = np.zeros(int(used.sum()))
    if used.any():
        names = [f"x{j}" for j in range(int(used.sum()))]
        design = drawn[:, used]      # as before (the layout of the copy decides BLAS's order of sums)
        try:
            if freq is None:
                frame = pd.DataFrame(design, columns=names).assign(_c=censor_time, _one=1)
                coef = np.nan_to_num(cox_ph(frame, "_c", "_one", names, ties="breslow", robust=False).coef)
            else:   # a resample: the coefficients alone (cox_ph's own steps, without its variances and tests)
                coef = np.nan_to_num(_breslow_coefficients(censor_time[rows], design, freq[rows]))
        except NotEstimable:
            coef = np.zeros(int(used.sum()))
    return used, coef


def stabilised_censoring_weights(censor_time: np.ndarray, x_fit: np.ndarray, coef: np.ndarray,
                                 x_at: np.ndarray, at: np.ndarray,
                                 freq: np.ndarray | None = None) -> np.ndarray:
    """``P(C > at) / P(C > at | x_at)`` for pieces starting on day ``at``: the weight of the module
    docstring, from the rows with planned censoring (``censor_time``, ``x_fit``, ``freq``) and the
    censoring model's ``coef`` (columns of ``x_fit`` / ``x_at`` those the model used)."""
    if len(at) == 0:
        return np.zeros(0)
    return marginal_censoring_survival(censor_time, at, freq) / planned_censoring_survival(
        censor_time, x_fit, coef, x_at, at, freq)


def marginal_censoring_survival(censor_time: np.ndarray, at: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
    """``P(C > at)``, the numerator of :func:`stabilised_censoring_weights`: the (frequency-weighted)
    share of the rows with planned censoring whose ``censor_time`` is after ``at``."""
    if freq is None:
        planned_c = np.sort(censor_time)
        return 1.0 - np.searchsorted(planned_c, at, side="right") / max(len(planned_c), 1)
    order = np.argsort(censor_time)
    cumulative = np.r_[0.0, np.cumsum(freq[order])]
    return 1.0 - cumulative[np.searchsorted(censor_time[order], at, side="right")] / freq.sum()


def censoring_weight_pieces(censor_time: np.ndarray, x: np.ndarray, start: np.ndarray, stop: np.ndarray,
                            grid: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces of :func:`censoring_weights` as arrays, for rows that all have planned censoring
    (``censor_time`` finite; covariates ``x``, follow-up (``start``, ``stop``]): each piece's row, start
    and stabilised weight, in row order. The weights come from each row's linear predictor (computed
    once per row, not on a copy of its covariates per piece), so they may differ from
    :func:`censoring_weights`' in the last bits (the order of the products' sums)."""
    grid = np.unique(np.asarray(grid, dtype=float))
    if grid.size == 0 or grid[0] <= 0:
        raise ValueError("grid must hold positive days")
    if np.any(stop > censor_time + 1e-9):
        raise ValueError("some rows are followed past their planned censoring day")
    used, coef = censoring_model(censor_time, x)
    # the grid days strictly inside (start, stop), as censoring_weights' split
    lo = np.searchsorted(grid, start, side="right")
    inside = np.maximum(np.searchsorted(grid, stop, side="left") - lo, 0)
    counts = inside + 1
    rows = np.repeat(np.arange(len(start)), counts)
    j = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    piece_start = np.where(j == 0, start[rows], grid[np.minimum(lo[rows] + j - 1, len(grid) - 1)])
    lp = (x[:, used] @ coef)[:, None]
    weight = stabilised_censoring_weights(censor_time, lp, np.ones(1), lp[rows], piece_start)
    return rows, piece_start, weight


def censoring_weights(
    df: pd.DataFrame,
    duration: str,
    event: str,
    censor_time: str,
    covariates: Sequence[str],
    grid: Sequence[float],
    entry: str | None = None,
    keep: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``df`` with rows subject to planned censoring split at ``grid`` days and weighted (see module).

    Returns a copy with ``ipcw_start`` (the piece's start: the row's ``entry``
    or 0, then grid days), ``duration`` the piece's end, ``event`` only on the
    last piece, and ``ipcw`` the stabilised weight of the piece.
    Covariates are numeric columns; those constant among the censored rows are
    left out of the censoring model. ``keep``: the columns of ``df`` the pieces carry (``duration``
    and ``event`` always), all by default; the pieces can be many times the rows, so a caller
    that reads only a few columns of them need not copy the others.
    """
    for column in (duration, event, censor_time, *covariates):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not found in the data")
    c = df[censor_time].to_numpy(dtype=float)
    if np.isnan(c).any():
        raise ValueError(f"{censor_time!r} has missing values (use +inf for no planned censoring)")
    start = df[entry].to_numpy(dtype=float) if entry is not None else np.zeros(len(df))
    stop = df[duration].to_numpy(dtype=float)
    subject = np.isfinite(c)
    if np.any(stop[subject] > c[subject] + 1e-9):
        raise ValueError(f"some rows are followed past their {censor_time!r}")
    grid = np.unique(np.asarray(grid, dtype=float))
    if grid.size == 0 or grid[0] <= 0:
        raise ValueError("grid must hold positive days")

    x_all = df[list(covariates)].to_numpy(dtype=float)
    used, coef = censoring_model(c[subject], x_all[subject])
    columns = [v for v, keep in zip(covariates, used) if keep]

    # split: each planned row into pieces at the grid days strictly inside (start, stop)
    lo = np.searchsorted(grid, start[subject], side="right")                 # grid days > start
    inside = np.maximum(np.searchsorted(grid, stop[subject], side="left") - lo, 0)   # ... and < stop
    counts = inside + 1
    rows = np.repeat(np.flatnonzero(subject), counts)
    j = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)   # piece number in its row
    piece_start = np.where(j == 0, start[rows], grid[np.minimum(np.repeat(lo, counts) + j - 1, len(grid) - 1)])
    last = np.zeros(len(rows), dtype=bool)
    if len(rows):
        last[np.cumsum(counts) - 1] = True
    piece_stop = np.where(last, stop[rows], np.r_[piece_start[1:], 0.0])

    x = df[columns].to_numpy(dtype=float)
    # the pieces' covariates a block at a time (pieces x covariates can be gigabytes); blocks of a
    # multiple of 64 rows, so that each piece's linear predictor is summed as in one product
    weight = np.empty(len(rows))
    for begin in range(0, len(rows), _PIECE_BLOCK):
        block = slice(begin, begin + _PIECE_BLOCK)
        weight[block] = stabilised_censoring_weights(c[subject], x[subject], coef, x[rows[block]],
                                                     piece_start[block])

    if keep is not None:
        df = df[list(dict.fromkeys([*keep, duration, event]))]
    split = df.take(rows)   # a new frame already: no second copy
    split[START] = piece_start
    split[duration] = piece_stop
    split[event] = np.where(last, df[event].to_numpy()[rows], 0)
    split[WEIGHT] = weight
    kept = df.take(np.flatnonzero(~subject))
    kept[START] = start[~subject]
    kept[WEIGHT] = 1.0
    out = pd.concat([kept, split])
    del kept, split
    out = out.sort_index(kind="stable")
    out.reset_index(drop=True, inplace=True)   # the sorted frame is this function's own
    return out


__all__ = ["START", "WEIGHT", "censoring_baseline_hazard", "censoring_model", "censoring_weight_pieces",
           "censoring_weights", "marginal_censoring_survival", "planned_censoring_survival",
           "stabilised_censoring_weights"]
