"""Kaplan–Meier and cumulative-incidence curves made safe to release.

A curve drawn from the exact step table shows every exit time and, at its
tail, risk sets of one or two children. :func:`safe_curve` rebuilds the curve
on a fixed coarse grid (e.g. every 91 days) from rounded counts only:

* events (per cause), censorings and entries are cumulated up to each grid
  time and the cumulative counts rounded to the rounding base, so the counts
  per interval are differences of rounded numbers;
* the number at risk at each grid time is recomputed from those rounded
  counts, never copied;
* survival is the product-limit estimate over the grid intervals (with the
  life-table correction of half the interval's censorings at risk, unless
  ``censor_adjustment="none"``); a cumulative incidence is the Aalen–Johansen
  sum over intervals from the rounded cause counts;
* the curve stops at the first grid time where fewer than ``min_at_risk``
  remain at risk, by the exact count or the recomputed one.

No exact event time survives: only grid times appear in the output.
Confidence limits are recomputed from the rounded counts too, on the log scale
(R's ``conf.type = "log"``, upper capped at 1): Greenwood's variance for
survival, Gray's (1988) variance for a cumulative incidence (as ``cmprsk::cuminc``
computes it), each with the effective numbers at risk the curve itself uses.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.disclosure.config import DEFAULT, DisclosureConfig, round_to_base

EVENT_PREFIX = "n_event_"


def curve_causes(steps: pd.DataFrame) -> list[str]:
    """Causes of a cumulative-incidence step table (columns ``n_event_<cause>``); [] for KM."""
    if "n_event" in steps.columns:
        return []
    return [c[len(EVENT_PREFIX):] for c in steps.columns if c.startswith(EVENT_PREFIX)]


def make_grid(steps: pd.DataFrame, grid: int | float | Sequence[float]) -> np.ndarray:
    """Grid times: ``0, step, 2·step, …`` past the last time, or the given sequence sorted."""
    if np.isscalar(grid):
        step = float(grid)
        if step <= 0:
            raise ValueError("grid step must be positive")
        last = float(steps["time"].max()) if len(steps) else 0.0
        return np.arange(0.0, np.ceil(last / step) * step + step / 2, step)
    values = np.unique(np.asarray(grid, dtype=float))
    if values.size < 2:
        raise ValueError("a grid needs at least two times")
    return values


def gray_variance(at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Gray's variance of each cause's cumulative incidence after each interval.

    ``at_risk`` (one per interval) and ``events`` (interval × cause) are grouped counts, as
    in ``cmprsk::cuminc`` with every event of an interval at one time; returns
    (interval + 1) × cause, starting at 0. A tie correction ``1 - (d - 1)/(n - 1)`` applies
    to d > 1 exits at once, as in cuminc.
    """
    n_intervals, n_causes = events.shape
    variance = np.zeros((n_intervals + 1, n_causes))

    def tied(d, n):
        return 1.0 - (d - 1.0) / (n - 1.0) if d > 1 else 1.0

    for k in range(n_causes):
        surv, cif, v1, v2, v3 = 1.0, 0.0, 0.0, 0.0, 0.0
        for j in range(n_intervals):
            n, own = float(at_risk[j]), float(events[j, k])
            other = float(events[j].sum()) - own
            if n > 0 and own + other > 0:
                surv_after = surv * (n - own - other) / n
                cif += surv * own / n
                # the other causes move the cause's incidence only through survival
                for d, weight in ((other, None), (own, 1.0)):
                    if d <= 0 or (weight is None and surv_after <= 0):
                        continue
                    t6 = surv * surv * tied(d, n) * d / (n * n)
                    t3 = 1.0 / surv_after if surv_after > 0 else 0.0
                    t4 = cif * t3 if weight is None else 1.0 + t3 * cif
                    v1 += t4 * t4 * t6
                    v2 += t3 * t4 * t6
                    v3 += t3 * t3 * t6
                surv = surv_after
            variance[j + 1, k] = v1 + cif * cif * v3 - 2.0 * cif * v2
    return variance


def _log_limits(p: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale limits exp(log p ± z se/p), upper capped at 1; p itself where se is 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        width = np.where(p > 0, z * se / p, 0.0)
        lower = p * np.exp(-width)
        upper = np.minimum(p * np.exp(width), 1.0)
    return np.where(np.isfinite(lower), lower, 0.0), np.where(np.isfinite(upper), upper, np.nan)


def _rounded_cumulative(per_interval: np.ndarray, base: int) -> np.ndarray:
    """Per-interval counts whose running totals are the rounded true running totals."""
    cumulative = round_to_base(np.cumsum(per_interval, axis=0), base)
    return np.diff(np.concatenate([np.zeros((1,) + cumulative.shape[1:]), cumulative]), axis=0)


def _one_curve(
    steps: pd.DataFrame,
    grid: np.ndarray,
    causes: list[str],
    config: DisclosureConfig,
    censor_adjustment: str,
    z: float,
) -> pd.DataFrame:
    steps = steps.sort_values("time")
    time = steps["time"].to_numpy(dtype=float)
    n_risk = steps["n_risk"].to_numpy(dtype=float)
    event_cols = ["n_event"] if not causes else [EVENT_PREFIX + c for c in causes]
    events = steps[event_cols].to_numpy(dtype=float)
    censored = steps["n_censor"].to_numpy(dtype=float)
    leaving = events.sum(axis=1) + censored
    entries = n_risk - np.concatenate([[0.0], (n_risk - leaving)[:-1]])
    if (entries < -1e-9).any():
        raise ValueError("step table is inconsistent: n_risk rises without entries")

    n_intervals = grid.size - 1
    interval = np.clip(np.searchsorted(grid, time, side="left") - 1, 0, None)
    inside = interval < n_intervals
    per_events = np.zeros((n_intervals, events.shape[1]))
    per_censor = np.zeros(n_intervals)
    per_entries = np.zeros(n_intervals)
    np.add.at(per_events, interval[inside], events[inside])
    np.add.at(per_censor, interval[inside], censored[inside])
    np.add.at(per_entries, interval[inside], entries[inside])

    base = config.rounding_base
    events_r = _rounded_cumulative(per_events, base)
    censor_r = _rounded_cumulative(per_censor, base)
    entries_r = _rounded_cumulative(per_entries, base)

    def at_risk(ev, ce, en):
        # at risk at grid time g_k: everyone entered by the end of interval k,
        # less everyone who left in intervals before k; at the last grid time no new entries.
        entered = np.cumsum(en)
        left = np.concatenate([[0.0], np.cumsum(ev.sum(axis=1) + ce)])
        return np.concatenate([entered, entered[-1:]]) - left if entered.size else left

    risk_true = at_risk(per_events, per_censor, per_entries)
    risk = at_risk(events_r, censor_r, entries_r)

    adjustment = {"half": 0.5, "none": 0.0}[censor_adjustment]
    effective = risk[:-1] - adjustment * censor_r
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(effective[:, None] > 0, events_r / effective[:, None], 0.0)
    hazard = np.clip(hazard, 0.0, 1.0)
    total_hazard = np.clip(hazard.sum(axis=1), 0.0, 1.0)
    survival = np.concatenate([[1.0], np.cumprod(1.0 - total_hazard)])

    keep = (risk >= config.min_at_risk) & (risk_true >= config.min_at_risk)
    stop = int(np.argmin(keep)) if not keep.all() else keep.size
    rows = slice(0, stop)
    base_table = pd.DataFrame({
        "time": grid[rows],
        "n_risk": risk[rows].astype(np.int64),
        "n_censor": np.concatenate([[0.0], censor_r])[rows].astype(np.int64),
    })
    if not causes:
        d = events_r[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(effective > d, d / (effective * (effective - d)), np.where(d > 0, np.inf, 0.0))
        se_log = np.sqrt(np.concatenate([[0.0], np.cumsum(terms)]))
        with np.errstate(invalid="ignore", over="ignore"):
            lower = survival * np.exp(-z * se_log)
            upper = np.minimum(survival * np.exp(z * se_log), 1.0)
        lower = np.where(np.isfinite(se_log), lower, 0.0)
        upper = np.where(np.isfinite(se_log), upper, np.nan)
        table = base_table.assign(
            n_event=np.concatenate([[0.0], d])[rows].astype(np.int64),
            survival=survival[rows], lower=lower[rows], upper=upper[rows],
        )
        return table[["time", "n_risk", "n_event", "n_censor", "survival", "lower", "upper"]]
    increments = survival[:-1, None] * hazard
    cif = np.vstack([np.zeros((1, len(causes))), np.cumsum(increments, axis=0)])
    se = np.sqrt(np.clip(gray_variance(np.clip(effective, 0.0, None), events_r), 0.0, None))
    parts = []
    for k, cause in enumerate(causes):
        lower, upper = _log_limits(cif[:, k], se[:, k], z)
        parts.append(base_table.assign(
            cause=cause,
            n_event=np.concatenate([[0.0], events_r[:, k]])[rows].astype(np.int64),
            cif=cif[rows, k], lower=lower[rows], upper=upper[rows],
        ))
    table = pd.concat(parts, ignore_index=True)
    return table[["cause", "time", "n_risk", "n_event", "n_censor", "cif", "lower", "upper"]]


def safe_curve(
    steps: pd.DataFrame,
    grid: int | float | Sequence[float] = 91,
    by: Sequence[str] | str | None = None,
    config: DisclosureConfig = DEFAULT,
    censor_adjustment: str = "half",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Rebuild a KM or cumulative-incidence curve on a coarse grid from rounded counts.

    ``steps`` is a step table with ``time, n_risk, n_censor`` and either
    ``n_event`` (Kaplan–Meier) or ``n_event_<cause>`` columns (Aalen–Johansen,
    as :func:`evaluation.survival.competing.cumulative_incidence` returns),
    one curve per combination of ``by``. ``grid`` is a step in days or the
    grid times. Returns ``by…, time, n_risk, n_event, n_censor, survival,
    lower, upper`` for KM, or ``by…, cause, time, n_risk, n_event, n_censor,
    cif, lower, upper`` for cumulative incidence; counts per interval ending at ``time``,
    ``n_risk`` at ``time``.
    """
    if censor_adjustment not in ("half", "none"):
        raise ValueError("censor_adjustment must be 'half' or 'none'")
    by = [by] if isinstance(by, str) else list(by or [])
    causes = curve_causes(steps)
    needed = {"time", "n_risk", "n_censor"} | ({"n_event"} if not causes else set())
    missing = needed - set(steps.columns)
    if missing or (not causes and "n_event" not in steps.columns):
        raise KeyError(f"step table lacks {sorted(missing) or ['n_event or n_event_<cause>']}")
    grid_times = make_grid(steps, grid)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    parts = []
    groups = steps.groupby(by, sort=True, observed=True) if by else [((), steps)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        curve = _one_curve(part, grid_times, causes, config, censor_adjustment, z)
        for column, value in zip(by, key):
            curve.insert(by.index(column), column, value)
        parts.append(curve)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    out.attrs["disclosure"] = {
        "grid": [float(g) for g in grid_times],
        "rounding_base": config.rounding_base,
        "min_at_risk": config.min_at_risk,
        "censor_adjustment": censor_adjustment,
    }
    return out
