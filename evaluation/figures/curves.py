"""Survival and cumulative-incidence figures from released (safe) curves.

Inputs are the tables :func:`evaluation.disclosure.safe_curve` returns:
values on a coarse grid, counts rounded, stopped before small risk sets.
The at-risk table under a Kaplan–Meier plot shows those released counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from evaluation.figures.style import (
    GREY, caveat as draw_caveat, colours_for, house_figure, label_for, linestyles_for, no_data, ordered, readable,
    save_png, title_figure,
    wrapped,
)


def _at_risk_times(times: np.ndarray, most: int = 9) -> np.ndarray:
    """At most ``most`` evenly spaced grid times for the at-risk table."""
    times = np.unique(times)
    if times.size <= most:
        return times
    step = int(np.ceil(times.size / most))
    return times[::step]


def km_figure(
    curve: pd.DataFrame,
    path: str | Path,
    group: str = "cohort",
    title: str = "Time to leaving the state",
    ylabel: str = "Proportion still in the state",
    xlabel: str = "Days since entry",
    caveat: str | None = None,
) -> Path:
    """Kaplan–Meier curves by ``group`` with confidence bands and an at-risk table below.

    ``curve``: ``group, time, n_risk, survival, lower, upper`` (a safe curve). ``caveat``
    (e.g. data observed only part of the time) is printed under the figure.
    """
    groups = ordered(curve[group]) if len(curve) else []
    colours, styles = colours_for(groups), linestyles_for(groups)
    with house_figure(7.0, 4.4 + 0.22 * max(len(groups), 1) + (0.5 if caveat else 0)) as figure:
        if not groups:
            no_data(figure, "No curve could be released (too few children at risk)")
            return save_png(figure, path)
        grid = figure.add_gridspec(2, 1, height_ratios=[4.0, 0.35 + 0.28 * len(groups)])
        axes = figure.add_subplot(grid[0])
        table = figure.add_subplot(grid[1], sharex=axes)
        for name in groups:
            part = curve[curve[group] == name].sort_values("time")
            colour = colours[name]
            axes.step(part["time"], part["survival"], where="post", color=colour, linestyle=styles[name],
                      label=label_for(name))
            if {"lower", "upper"} <= set(part.columns):
                axes.fill_between(part["time"], part["lower"], part["upper"], step="post",
                                  color=colour, alpha=0.15, linewidth=0)
        axes.set_ylim(0, 1.02)
        axes.set_ylabel(ylabel)
        title_figure(figure, title)
        axes.legend(loc="upper right", handlelength=3)

        ticks = _at_risk_times(curve["time"].to_numpy())
        table.set_axis_off()
        table.set_ylim(-0.5, len(groups) - 0.5)
        table.text(0.0, 1.02, "Number at risk (rounded to 5)", transform=table.transAxes,
                   fontsize=8, color=GREY, va="bottom")
        for row, name in enumerate(groups):
            part = curve[curve[group] == name].set_index("time")["n_risk"]
            y = len(groups) - 1 - row
            table.text(-0.01, y, label_for(name), transform=table.get_yaxis_transform(),
                       ha="right", va="center", color=colours[name], fontsize=8, fontweight="bold")
            for t in ticks:
                if t in part.index:
                    table.text(t, y, f"{int(part[t])}", ha="center", va="center", fontsize=8)
        axes.set_xticks(ticks)
        last = float(curve["time"].max()) or 1.0
        axes.set_xlim(-0.06 * last, last * 1.04)
        axes.set_xlabel(xlabel)
        if caveat:
            draw_caveat(figure, caveat)
        return save_png(figure, path)


def cif_figure(
    curve: pd.DataFrame,
    path: str | Path,
    group: str = "cohort",
    causes: Sequence[str] | None = None,
    cause_labels: dict[str, str] | None = None,
    title: str = "Ways of leaving: cumulative incidence",
    xlabel: str = "Days since entry",
) -> Path:
    """One panel per exit route (cause), one line per ``group``: Aalen–Johansen CIFs.

    ``curve``: ``group, cause, time, cif`` and, if present, ``lower, upper`` (drawn as a band)
    (a safe cumulative-incidence curve).
    """
    causes = list(causes) if causes is not None else list(dict.fromkeys(curve.get("cause", [])))
    groups = ordered(curve[group]) if len(curve) else []
    colours, styles = colours_for(groups), linestyles_for(groups)
    cause_labels = cause_labels or {}
    n = max(len(causes), 1)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    with house_figure(max(2.3 * columns + 0.6, 7.0), 2.6 * rows + 1.2) as figure:
        if not causes or not groups:
            no_data(figure, "No cumulative incidence could be released")
            return save_png(figure, path)
        panels = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
        top = float(np.nanmax(curve["upper" if "upper" in curve else "cif"])) if len(curve) else 1.0
        for axes, cause in zip(panels, causes):
            for name in groups:
                part = curve[(curve["cause"] == cause) & (curve[group] == name)].sort_values("time")
                if {"lower", "upper"} <= set(part.columns):
                    axes.fill_between(part["time"], part["lower"].astype(float), part["upper"].astype(float),
                                      step="post", color=colours[name], alpha=0.15, linewidth=0)
                axes.step(part["time"], part["cif"], where="post", color=colours[name], linestyle=styles[name],
                          label=label_for(name))
            axes.set_title(wrapped(cause_labels.get(cause) or readable(cause), 2.1), loc="left", fontsize=9)
            axes.set_ylim(0, min(1.0, top * 1.15 + 0.02))
        for axes in panels[len(causes):]:
            axes.set_axis_off()
        handles = [Line2D([], [], color=colours[name], linestyle=styles[name]) for name in groups]
        figure.legend(handles, [label_for(name) for name in groups], loc="outside lower right", ncols=len(groups),
                      handlelength=3, fontsize=8)
        figure.supxlabel(xlabel, fontsize=9)
        figure.supylabel("Cumulative incidence", fontsize=9)
        title_figure(figure, title)
        return save_png(figure, path)
