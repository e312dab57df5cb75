"""Estimates by extract: the headline hazard ratio of each outcome against the extract date.

Input: the released ``estimates_by_extract`` table (:mod:`evaluation.report.history`):
``extract_date, outcome, estimate, ci_lower, ci_upper, release_note``. One panel per outcome,
the hazard ratio with its 95% interval at each extract on a log scale, 1 marked. A blanked
estimate is shown as text at its extract; with one extract the figure says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from evaluation.figures.effects import log_ticks
from evaluation.figures.style import (
    GREY, OKABE_ITO, house_figure, no_data, readable, save_png, title_figure, wrapped,
)




def estimates_by_extract_figure(
    table: pd.DataFrame,
    path: str | Path,
    titles: dict[str, str] | None = None,
    title: str = "Adjusted hazard ratio, post-FSP vs pre-FSP, at each extract",
) -> Path:
    """Write the trajectory of each outcome's hazard ratio over the extracts as a PNG."""
    titles = titles or {}
    outcomes = list(dict.fromkeys(table["outcome"].astype(str))) if len(table) else []
    dates = sorted(set(table["extract_date"].astype(str))) if len(table) else []
    columns = min(max(len(outcomes), 1), 3)
    rows = int(np.ceil(max(len(outcomes), 1) / columns))
    with house_figure(7.0, 2.5 * rows + 1.3) as figure:
        if not outcomes:
            no_data(figure, "No headline estimate has been released yet")
            return save_png(figure, path)
        panels = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
        position = {date: k for k, date in enumerate(dates)}
        values = pd.concat([pd.to_numeric(table[c], errors="coerce") for c in ("estimate", "ci_lower", "ci_upper")])
        values = values[(values > 0) & np.isfinite(values)]
        low, high = (min(float(values.min()), 1.0), max(float(values.max()), 1.0)) if len(values) else (0.5, 2.0)
        for axes, outcome in zip(panels, outcomes):
            part = table[table["outcome"].astype(str) == outcome].sort_values("extract_date")
            x = part["extract_date"].astype(str).map(position).to_numpy(dtype=float)
            estimate = pd.to_numeric(part["estimate"], errors="coerce").to_numpy(dtype=float)
            lower = pd.to_numeric(part["ci_lower"], errors="coerce").to_numpy(dtype=float)
            upper = pd.to_numeric(part["ci_upper"], errors="coerce").to_numpy(dtype=float)
            shown = np.isfinite(estimate) & (estimate > 0)
            axes.axhline(1.0, color=GREY, linewidth=0.8)
            axes.errorbar(x[shown], estimate[shown],
                          yerr=[np.clip(estimate[shown] - lower[shown], 0, None),
                                np.clip(upper[shown] - estimate[shown], 0, None)],
                          fmt="o-", color=OKABE_ITO["blue"], capsize=3, markersize=4, linewidth=1)
            for k in np.flatnonzero(~shown):
                axes.text(x[k], 1.0, "not\nestimable", ha="center", va="bottom", fontsize=7, color=GREY)
            axes.set_yscale("log")
            axes.yaxis.set_major_locator(FixedLocator(log_ticks(low / 1.15, high * 1.15, most=5)))
            axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axes.yaxis.set_minor_formatter(NullFormatter())
            axes.set_title(wrapped(titles.get(outcome) or readable(outcome), 2.1), loc="left", fontsize=9)
        for axes in panels[len(outcomes):]:
            axes.set_axis_off()
        panels[0].set_ylim(low / 1.15, high * 1.15)
        panels[0].set_xlim(-0.5, len(dates) - 0.5)
        for axes in panels[:len(outcomes)]:
            axes.set_xticks(range(len(dates)), dates, rotation=30, ha="right", fontsize=8)
        note = " (one extract so far: the trajectory starts here)" if len(dates) == 1 else ""
        figure.supxlabel("Extract date (latest reference date)" + note, fontsize=9)
        figure.supylabel("Hazard ratio, post vs pre (log scale)", fontsize=9)
        title_figure(figure, title)
        return save_png(figure, path)
