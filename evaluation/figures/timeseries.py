"""Monthly time series with the go-live date, Covid lockdowns and fitted segments.

For an interrupted time series: monthly counts (e.g. referrals, protection
plans started) with the segmented-regression fit drawn per segment, the
programme period after go-live shaded lightly and national lockdowns in grey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from evaluation.figures.style import GREY, OKABE_ITO, SHADE, house_figure, no_data, save_png, title_figure

#: Default go-live of Family Solutions Plus.
GO_LIVE = pd.Timestamp("2020-11-01")
#: National lockdowns in England (stay-at-home periods).
LOCKDOWNS_ENGLAND: tuple[tuple[str, str], ...] = (
    ("2020-03-23", "2020-07-04"),
    ("2020-11-05", "2020-12-02"),
    ("2021-01-06", "2021-03-29"),
)


def timeseries_figure(
    series: pd.DataFrame,
    path: str | Path,
    month: str = "month",
    value: str = "count",
    fitted: str | None = "fitted",
    segment: str | None = "segment",
    go_live: str | pd.Timestamp = GO_LIVE,
    lockdowns: Sequence[tuple[str, str]] = LOCKDOWNS_ENGLAND,
    title: str = "Monthly count",
    ylabel: str = "Per month",
) -> Path:
    """Observed monthly values as points, fitted segments as lines, periods shaded.

    Suppressed months (``c``) are left as gaps.
    """
    with house_figure(7.0, 4.0) as figure:
        if series.empty:
            no_data(figure, "No time series was produced")
            return save_png(figure, path)
        axes = figure.add_subplot()
        data = series.assign(**{month: pd.to_datetime(series[month])}).sort_values(month)
        go_live = pd.Timestamp(go_live)
        start, end = data[month].min(), data[month].max() + pd.offsets.MonthEnd(1)
        for k, (first, last) in enumerate(lockdowns):
            first, last = max(pd.Timestamp(first), start), min(pd.Timestamp(last), end)
            if first < last:
                axes.axvspan(first, last, color=SHADE, alpha=0.8, linewidth=0,
                             label="Covid lockdown" if k == 0 else None)
        if start <= go_live <= end:
            axes.axvspan(go_live, end, color=OKABE_ITO["sky_blue"], alpha=0.12, linewidth=0,
                         label="After go-live")
            axes.axvline(go_live, color=OKABE_ITO["vermillion"], linewidth=1.2)
            axes.annotate(f"Go-live {go_live:%b %Y}", (go_live, 1.0), xycoords=("data", "axes fraction"),
                          xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                          color=OKABE_ITO["vermillion"])
        observed = pd.to_numeric(data[value], errors="coerce")
        axes.plot(data[month], observed, "o", color=OKABE_ITO["blue"], markersize=3.5, label="Observed")
        if fitted and fitted in data:
            fit = pd.to_numeric(data[fitted], errors="coerce")
            parts = data.groupby(segment, sort=False) if segment and segment in data else [(None, data)]
            for k, (_, part) in enumerate(parts):
                axes.plot(part[month], fit[part.index], color=OKABE_ITO["black"], linewidth=1.6, linestyle="--",
                          label="Fitted segments" if k == 0 else None)
        axes.set_ylim(bottom=0)
        axes.set_xlim(start, end)
        axes.set_ylabel(ylabel)
        title_figure(figure, title)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
        axes.tick_params(axis="x", colors=GREY)
        return save_png(figure, path)
