"""Mean days in each state (in need, protection plan, in care) by cohort, as grouped bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.figures.style import GREY, colours_for, house_figure, label_for, no_data, ordered, save_png


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
) -> Path:
    """Horizontal grouped bars: one group of bars per ``state``, one bar per ``group``.

    Values that were suppressed in release (``c`` and other symbols) are shown
    as the symbol in place of the bar.
    """
    states = list(dict.fromkeys(table[state])) if len(table) else []
    groups = ordered(table[group]) if len(table) else []
    colours = colours_for(groups)
    with house_figure(7.0, 1.2 + 0.5 * max(len(states), 1) * max(len(groups), 1) ** 0.5) as figure:
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
                axes.barh(y, v, height=height * 0.92, color=colours[name],
                          label=label_for(name) if i == 0 else None)
                if lower and upper and lower in table and upper in table:
                    lo, hi = pd.to_numeric(row[[lower, upper]], errors="coerce")
                    if not (np.isnan(lo) or np.isnan(hi)):
                        axes.errorbar(v, y, xerr=[[v - lo], [hi - v]], color="black",
                                      capsize=2, linewidth=0.9)
        axes.set_yticks(np.arange(len(states))[::-1], [str(s).replace("_", " ").capitalize() for s in states])
        axes.grid(axis="y", visible=False)
        axes.set_xlim(left=0)
        axes.set_xlabel(xlabel)
        axes.set_title(title, loc="left")
        axes.legend(loc="lower right")
        return save_png(figure, path)
