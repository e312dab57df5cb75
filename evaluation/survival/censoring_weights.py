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
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.errors import NotEstimable
from evaluation.survival.cox import cox_ph

#: Column names added to the split rows.
START, WEIGHT = "ipcw_start", "ipcw"


def planned_censoring_survival(censor_time: np.ndarray, x_fit: np.ndarray, coef: np.ndarray,
                               x_at: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``P(C > at_j | x_at_j)``: Breslow baseline hazard of the fully observed ``censor_time``
    (covariates ``x_fit``, coefficients ``coef``), as R ``basehaz(fit, centered = FALSE)``."""
    lp_fit = x_fit @ coef if x_fit.shape[1] else np.zeros(len(censor_time))
    lp_at = x_at @ coef if x_at.shape[1] else np.zeros(len(at))
    times = np.unique(censor_time)
    order = np.argsort(censor_time)
    sorted_c, sorted_risk = censor_time[order], np.exp(lp_fit)[order]
    # weighted risk set at each distinct time: rows with C >= t
    at_risk = np.cumsum(sorted_risk[::-1])[::-1][np.searchsorted(sorted_c, times, side="left")]
    deaths = np.bincount(np.searchsorted(times, censor_time), minlength=len(times))
    cumulative = np.cumsum(deaths / at_risk)
    k = np.searchsorted(times, at, side="right")           # distinct times <= at
    h0 = np.where(k > 0, cumulative[np.maximum(k - 1, 0)], 0.0)
    return np.exp(-h0 * np.exp(lp_at))


def censoring_weights(
    df: pd.DataFrame,
    duration: str,
    event: str,
    censor_time: str,
    covariates: Sequence[str],
    grid: Sequence[float],
    entry: str | None = None,
) -> pd.DataFrame:
    """``df`` with rows subject to planned censoring split at ``grid`` days and weighted (see module).

    Returns a copy with ``ipcw_start`` (the piece's start: the row's ``entry``
    or 0, then grid days), ``duration`` the piece's end, ``event`` only on the
    last piece, and ``ipcw`` the stabilised weight of the piece.
    Covariates are numeric columns; those constant among the censored rows are
    left out of the censoring model.
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

    planned = df[subject].reset_index(drop=True)
    columns = [v for v in covariates if np.ptp(planned[v].to_numpy(dtype=float)) > 0] if len(planned) else []
    coef = np.zeros(len(columns))
    if columns:
        fit_frame = planned[columns].astype(float).assign(_c=c[subject], _one=1)
        try:
            fit = cox_ph(fit_frame, "_c", "_one", columns, ties="breslow", robust=False)
            coef = np.nan_to_num(fit.coef)
        except NotEstimable:
            coef = np.zeros(len(columns))

    # split: each planned row into pieces at the grid days strictly inside (start, stop)
    pieces = [np.concatenate(([s], grid[(grid > s) & (grid < e)])) for s, e in
              zip(start[subject], stop[subject])]
    counts = np.array([len(p) for p in pieces], dtype=int)
    rows = np.repeat(np.flatnonzero(subject), counts)
    piece_start = np.concatenate(pieces) if pieces else np.zeros(0)
    last = np.zeros(len(rows), dtype=bool)
    if len(rows):
        last[np.cumsum(counts) - 1] = True
    piece_stop = np.where(last, stop[rows], np.r_[piece_start[1:], 0.0])

    x = df[columns].to_numpy(dtype=float)
    planned_c = np.sort(c[subject])
    marginal = 1.0 - np.searchsorted(planned_c, piece_start, side="right") / max(len(planned_c), 1)
    conditional = planned_censoring_survival(c[subject], x[subject], coef, x[rows], piece_start)
    weight = marginal / conditional if len(rows) else np.zeros(0)

    split = df.iloc[rows].copy()
    split[START] = piece_start
    split[duration] = piece_stop
    split[event] = np.where(last, df[event].to_numpy()[rows], 0)
    split[WEIGHT] = weight
    kept = df[~subject].copy()
    kept[START] = start[~subject]
    kept[WEIGHT] = 1.0
    out = pd.concat([kept, split]).sort_index(kind="stable")
    return out.reset_index(drop=True)


__all__ = ["START", "WEIGHT", "censoring_weights", "planned_censoring_survival"]
