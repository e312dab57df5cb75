"""Interrupted time series of monthly flows and stocks around go-live, per local authority.

:func:`time_series_results` fits the segmented regression of
:mod:`evaluation.timeseries` to each local authority × series of the monthly
counts (:func:`evaluation.monthly.monthly_counts`: ``month, la_code, series,
count, exposure``), at the real go-live and at a placebo go-live a year
earlier (fitted to the months before the real go-live only).

Family by kind of series — decided here once:

* **flows** (referrals, plan starts, care entries: counts of events in the
  month) — Poisson, log link, offset log(exposure) = days in the month, so the
  level change is a ratio of daily rates. Over-dispersion and autocorrelation
  are left to the Newey–West (HAC) standard errors, which do not assume
  Poisson variance;
* **stocks** (children on a CP plan / in care on the last day of the month) —
  Gaussian, identity link on the count: a stock is not a count of independent
  events (this month's children are mostly last month's), so a Poisson
  variance has no meaning for it, while the level change in *children* is
  directly readable. Stocks move slowly and are strongly autocorrelated: their
  HAC standard errors (lag from Newey & West's rule) are likely optimistic, and
  a step in a stock builds up over months rather than at once.

Lockdowns come from ``config.lockdown_periods``; one that overlaps the
go-live month (the November 2020 lockdown) is left to the level term, since
the two cannot be told apart. A series with too few months on either side of
(placebo) go-live, or with no events at all, gives a "not estimable" row.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from evaluation.analysis import tables
from evaluation.analysis.guard import attempt, concat, not_estimable
from evaluation.monthly import STOCKS
from evaluation.study import StudyConfig
from evaluation.timeseries import segmented_regression

TABLES: tuple[str, ...] = tables.TIME_SERIES   # listed there for the assets
PLACEBO_SHIFT_MONTHS = 12
#: Fewer months than this on either side of (placebo) go-live: not estimable.
MIN_MONTHS_EACH_SIDE = 6


def family_of(series: str, stocks: Sequence[str] = STOCKS) -> str:
    """"gaussian" for a month-end stock, "poisson" for a flow (see the module docstring)."""
    return "gaussian" if series in stocks else "poisson"


def lockdowns_for(config: StudyConfig) -> tuple[tuple[str, str], ...]:
    """The configured lockdowns as ISO date pairs, without any that overlaps the go-live month."""
    month_start = pd.Timestamp(config.go_live).to_period("M").to_timestamp(how="start")
    month_end = pd.Timestamp(config.go_live).to_period("M").to_timestamp(how="end").normalize()
    kept = []
    for start, end in config.lockdown_periods:
        if pd.Timestamp(end) < month_start or pd.Timestamp(start) > month_end:
            kept.append((start.isoformat(), end.isoformat()))
    return tuple(kept)


def time_series_results(
    monthly: pd.DataFrame,
    config: StudyConfig,
    *,
    placebo_shift_months: int = PLACEBO_SHIFT_MONTHS,
    harmonics: int = 2,
    hac_lags: int | None = None,
    min_months_each_side: int = MIN_MONTHS_EACH_SIDE,
) -> dict[str, pd.DataFrame]:
    """Segmented regression at go-live (``segmented``) and at the placebo go-live (``placebo``), tidy."""
    go_live = pd.Timestamp(config.go_live)
    lockdowns = lockdowns_for(config)
    data = monthly.copy()
    data["month"] = pd.to_datetime(data["month"]).dt.to_period("M").dt.to_timestamp()
    for column in ("la_code", "series"):
        data[column] = data[column].astype(object)
    out: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for (la, series), part in data.groupby(["la_code", "series"], sort=True):
        family = family_of(series)
        for name, shift in (("segmented", None), ("placebo", placebo_shift_months)):
            analysis = "its_placebo" if shift else "its_segmented"
            keys = dict(outcome=series, analysis=analysis, cohort=la, term="level_change", combination="all")
            window = part
            live = go_live
            if shift:
                window = part[part["month"] < go_live.to_period("M").to_timestamp()]
                live = go_live - pd.DateOffset(months=shift)
            before = int((window["month"] < live).sum())
            after = int((window["month"] >= live).sum())
            if min(before, after) < min_months_each_side:
                out[name].append(not_estimable(
                    f"{before} months before and {after} from go-live {live.date()}; need "
                    f"{min_months_each_side} on each side", **keys))
                continue
            if family == "poisson" and window["count"].sum() == 0:
                out[name].append(not_estimable("no events in the series", **keys))
                continue
            out[name].append(attempt(lambda part=part, shift=shift, family=family: segmented_regression(
                part, go_live=go_live.date().isoformat(), lockdowns=lockdowns, placebo_shift_months=shift,
                family=family, hac_lags=hac_lags, harmonics=harmonics), **keys))
    return {name: concat(frames) for name, frames in out.items()}


__all__ = ["MIN_MONTHS_EACH_SIDE", "PLACEBO_SHIFT_MONTHS", "TABLES", "family_of", "lockdowns_for",
           "time_series_results"]
