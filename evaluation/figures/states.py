"""Mean days in each state (in need, protection plan, in care) by cohort, as grouped bars."""

from __future__ import annotations

from pathlib import Path
from typing import Collection

import numpy as np
import pandas as pd

from evaluation.figures.style import (
    GREY, caveat as draw_caveat, colours_for, hatches_for, house_figure, label_for, no_data, ordered, readable,
    save_png, title_figure,
)

#: Mark beside a bar whose value rests on partly observed data (explained by the caveat).
PARTIAL_MARK = "†"


def days_in_state_figure(
    table: pd.DataFrame,
    path: str | Path,
    state: str = "state",
    group: str = "cohort",
    value: str = "mean_days",
    lower: str | None = "ci_lower",
    upper: str | None = "ci_upper",
    title: str = "Mean days in each state within the follow-up window",
    xlabel: str = "Mean days (95% CI)",
    caveat: str | None = None,
    partial: Collection[tuple[str, str]] = (),
) -> Path:
    """Horizontal grouped bars: one group of bars per ``state``, one bar per ``group``.

    Groups differ by hatch as well as colour. Values that were suppressed in release
    (``c`` and other symbols) are shown as the symbol in place of the bar. Bars whose
    (state, group) is in ``partial`` are marked with a dagger and ``caveat`` is printed
    under the chart, so a partial comparison is never shown without its warning.
    """
    states = list(dict.fromkeys(table[state])) if len(table) else []
    groups = ordered(table[group]) if len(table) else []
    colours, hatches = colours_for(groups), hatches_for(groups)
    partial = {(str(s), str(g)) for s, g in partial}
    height_in = 1.5 + 0.5 * max(len(states), 1) * max(len(groups), 1) ** 0.5 + (0.5 if caveat else 0)
    with house_figure(7.0, height_in) as figure:
        if not states:
            no_data(figure, "No days-in-state summary was produced")
            return save_png(figure, path)
        axes = figure.add_subplot()
        height = 0.8 / len(groups)
        values = pd.to_numeric(table[value], errors="coerce")
        for j, name in enumerate(groups):
            for i, current in enumerate(states):
                mask = (table[state] == current) & (table[group] == name)
                if not mask.any():
                    continue
                row = table[mask].iloc[0]
                y = len(states) - 1 - i + (len(groups) / 2 - j - 0.5) * height
                v = values[mask].iloc[0]
                if np.isnan(v):
                    axes.text(0, y, f" {label_for(name)}: {row[value]} (too few children to show)",
                              va="center", fontsize=8, color=GREY, style="italic")
                    continue
                axes.barh(y, v, height=height * 0.92, color=colours[name], hatch=hatches[name],
                          edgecolor="white", linewidth=0, label=label_for(name) if i == 0 else None)
                end = v
                if lower and upper and lower in table and upper in table:
                    lo, hi = pd.to_numeric(row[[lower, upper]], errors="coerce")
                    if not (np.isnan(lo) or np.isnan(hi)):
                        axes.errorbar(v, y, xerr=[[v - lo], [hi - v]], color="black",
                                      capsize=2, linewidth=0.9)
                        end = max(v, hi)
                if (str(current), str(name)) in partial:
                    axes.text(end, y, f" {PARTIAL_MARK}", va="center", ha="left", fontsize=9,
                              color="black", fontweight="bold")
        axes.set_yticks(np.arange(len(states))[::-1], [readable(s) for s in states])
        axes.grid(axis="y", visible=False)
        axes.set_xlim(left=0, right=axes.get_xlim()[1] * 1.04)
        axes.set_xlabel(xlabel)
        title_figure(figure, title)
        handles, labels = axes.get_legend_handles_labels()
        if handles:
            axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        if caveat:
            draw_caveat(figure, f"{PARTIAL_MARK} {caveat}" if partial else caveat)
        return save_png(figure, path)
