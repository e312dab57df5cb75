"""Monthly counts per local authority: the input of the interrupted time series.

:func:`monthly_counts` returns one row per local authority × series × month
with columns ``month`` (first of the month), ``la_code``, ``series``,
``count`` and ``exposure``, for :func:`evaluation.timeseries.segmented_regression`.

Series (from the spells, so plans recorded twice and chained care episodes
count once; records the spells drop — starting after the child's 18th
birthday or death — are not counted):

* flows — ``referrals`` (CIN episodes referred in the month),
  ``cin_plan_starts``, ``cp_plan_starts`` and ``care_entries`` (periods of
  care starting in the month; a period already running when the data begin,
  ``start_observed`` false, is not an entry). ``exposure`` is the number of
  days in the month, so the model compares daily rates across months of
  different lengths;
* stocks on the last day of the month — ``on_cp_plan_month_end`` and
  ``in_care_month_end``: spells started on or before that day and not ended
  on or before it (DfE's "at 31 March" convention). A spell open at the
  extract is still running; one censored at an 18th birthday, death or
  transfer out stops counting that day. ``exposure`` is 1 (a count on one day).

Months: only complete calendar months inside the data window of the dataset
each series comes from (:data:`SERIES_DATASET`; per LA, from 1 April of the
dataset's first collection year to its last reference date, or ``study_end``
if earlier — :func:`~evaluation.spells.observation_windows`), optionally cut
to the months containing ``start`` .. ``end``: the care series stop where the
SSDA903 returns stop, referrals where the CIN census stops, and the plan
series where the earlier of the two stops. Every month of
that range is present for its series, with 0 when nothing happened, because
the segmented regression needs complete, equally spaced months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.spells import (care_periods, cin_plan_spells, need_spells, observation_windows,
                               protection_spells)
from evaluation.spells.censoring import window_columns
from evaluation.study import StudyConfig
from evaluation.upstream import built

FLOWS: tuple[str, ...] = ("referrals", "cin_plan_starts", "cp_plan_starts", "care_entries")
STOCKS: tuple[str, ...] = ("on_cp_plan_month_end", "in_care_month_end")
SERIES: tuple[str, ...] = FLOWS + STOCKS
MONTHLY_COLUMNS: tuple[str, ...] = ("month", "la_code", "series", "count", "exposure")
#: The window each series is counted in: its spells' (``None``: the joint window of the LA's
#: datasets — plans are followed only while care is observed too, see
#: :data:`evaluation.spells.censoring.SPELL_DATASET`).
SERIES_DATASET: dict[str, str | None] = {
    "referrals": "cin_census", "cin_plan_starts": None, "cp_plan_starts": None,
    "on_cp_plan_month_end": None, "care_entries": "ssda903", "in_care_month_end": "ssda903"}


def _month_number(dates: pd.Series) -> pd.Series:
    """Months since year 0 (year·12 + month − 1): consecutive months differ by 1."""
    return dates.dt.year * 12 + dates.dt.month - 1


def month_grid(tables: dict[str, pd.DataFrame], config: StudyConfig, start=None, end=None,
               dataset: str | None = None) -> pd.DataFrame:
    """``la_code, month_number``: every complete month of each LA's data window of ``dataset``
    (default: the joint window of its datasets), cut to start..end."""
    windows = observation_windows(tables, config)
    start_column, end_column = window_columns(dataset)
    opening = windows[start_column]
    closing = windows[end_column]
    first = _month_number(opening) + (opening.dt.day > 1).astype(int)
    last = _month_number(closing) - (~closing.dt.is_month_end).astype(int)
    if start is not None:
        first = first.clip(lower=_month_number(pd.Series([pd.Timestamp(start)])).iloc[0])
    if end is not None:
        last = last.clip(upper=_month_number(pd.Series([pd.Timestamp(end)])).iloc[0])
    length = (last - first + 1).clip(lower=0).to_numpy()
    offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    return pd.DataFrame({"la_code": np.repeat(windows["la_code"].to_numpy(), length),
                         "month_number": np.repeat(first.to_numpy(), length) + offset})


def _stock_stop(spells: pd.DataFrame) -> pd.Series:
    """Day a spell stops counting: its end, its censoring (not by the extract), else never (NaT)."""
    censored = spells["censored"].astype(bool)
    by_extract = (spells["censor_reason"] == "extract_end").fillna(False).astype(bool)
    return spells["end_date"].where(~censored, spells["censor_date"].where(~by_extract))


def monthly_counts(tables: dict[str, pd.DataFrame], config: StudyConfig, start=None,
                   end=None) -> pd.DataFrame:
    """Monthly flows and month-end stocks per local authority (see module doc)."""
    need = built(tables, "need_spells", lambda: need_spells(tables, config))
    protection = built(tables, "protection_spells", lambda: protection_spells(tables, config))
    care = built(tables, "care_periods", lambda: care_periods(tables, config))
    entries = care[care["start_observed"].astype(bool)]
    cin_plans = built(tables, "cin_plan_spells", lambda: cin_plan_spells(tables, config))
    flows = [("referrals", need), ("cin_plan_starts", cin_plans),
             ("cp_plan_starts", protection), ("care_entries", entries)]
    flow_events = pd.concat([pd.DataFrame({"la_code": s["la_code"], "series": name,
                                           "month_number": _month_number(s["start_date"]), "delta": 1})
                             for name, s in flows], ignore_index=True)
    stock_events = []
    for name, s in (("on_cp_plan_month_end", protection), ("in_care_month_end", care)):
        stop = _stock_stop(s)
        stock_events.append(pd.DataFrame({"la_code": s["la_code"], "series": name,
                                          "month_number": _month_number(s["start_date"]), "delta": 1}))
        stock_events.append(pd.DataFrame({"la_code": s.loc[stop.notna(), "la_code"], "series": name,
                                          "month_number": _month_number(stop.dropna()), "delta": -1}))
    stock_events = pd.concat(stock_events, ignore_index=True)

    full = pd.concat([month_grid(tables, config, start, end, dataset).assign(series=name)
                      for name, dataset in SERIES_DATASET.items()], ignore_index=True)
    full = full[["la_code", "month_number", "series"]]
    window = full.groupby(["la_code", "series"])["month_number"].min()
    # a stock counts every spell started before the first month: move its events there
    first = pd.Series(pd.MultiIndex.from_frame(stock_events[["la_code", "series"]]).map(window),
                      index=stock_events.index)
    stock_events["month_number"] = stock_events["month_number"].clip(lower=first).astype("int64")
    events = pd.concat([flow_events, stock_events], ignore_index=True)
    summed = events.groupby(["la_code", "series", "month_number"], observed=True)["delta"].sum()
    out = full.merge(summed.reset_index(), on=["la_code", "series", "month_number"], how="left")
    out["count"] = out["delta"].fillna(0).astype("int64")
    out = out.sort_values(["la_code", "series", "month_number"]).reset_index(drop=True)
    stocks = out["series"].isin(list(STOCKS)).to_numpy()
    running = out.groupby(["la_code", "series"], sort=False)["count"].cumsum()
    out.loc[stocks, "count"] = running[stocks]

    number = out["month_number"].astype(int)
    out["month"] = pd.to_datetime({"year": number // 12, "month": number % 12 + 1, "day": 1}).astype(
        "datetime64[ns]")
    out["exposure"] = np.where(stocks, 1.0, out["month"].dt.days_in_month.astype(float))
    out["la_code"] = out["la_code"].astype("string")
    out["series"] = out["series"].astype("string")
    return out[list(MONTHLY_COLUMNS)]
