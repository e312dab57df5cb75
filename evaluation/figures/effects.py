"""Effect estimates with intervals: forest plot of hazard ratios, RMST differences.

Inputs are released tidy result tables (:func:`evaluation.disclosure.safe_model_results`):
``estimate, ci_lower, ci_upper`` and ``release_note``. A row blanked for small
numbers is kept in its place and shown as text, so a reader sees that the
combination exists but could not be estimated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from evaluation.figures.style import (
    COHORT_MARKERS, GREY, OKABE_ITO, colours_for, house_figure, label_for, no_data, ordered, readable, save_png,
    title_figure, wrapped,
)

NOT_ESTIMABLE = "not estimable (small numbers)"


#: Candidate ticks of a log-scale axis of ratios.
LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4, 5, 10, 20,
             50, 100)


def log_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Ticks between ``lo`` and ``hi`` on a log axis, 1 always among them, spaced so that their
    labels never run into each other (at least 1/``most`` of the axis apart)."""
    span = np.log(hi / lo) if hi > lo else 1.0
    candidates = [t for t in LOG_TICKS if lo <= t <= hi]
    ticks = [1.0] if lo <= 1 <= hi else []
    for side in (sorted((t for t in candidates if t > 1)), sorted((t for t in candidates if t < 1), reverse=True)):
        last = 1.0 if ticks else None
        for t in side:
            if last is None or abs(np.log(t / last)) >= span / most:
                ticks.append(t)
                last = t
    return sorted(ticks) or candidates[:1]


def _interval_plot(
    results: pd.DataFrame,
    path: str | Path,
    label: str,
    reference: float,
    log_scale: bool,
    title: str,
    xlabel: str,
    number_format: str,
    group: str | None,
) -> Path:
    rows = results.reset_index(drop=True)
    with house_figure(7.0, 1.2 + 0.32 * max(len(rows), 1)) as figure:
        if rows.empty:
            no_data(figure, "No estimates were produced")
            return save_png(figure, path)
        axes = figure.add_subplot()
        estimate = pd.to_numeric(rows["estimate"], errors="coerce")
        lower = pd.to_numeric(rows["ci_lower"], errors="coerce")
        upper = pd.to_numeric(rows["ci_upper"], errors="coerce")
        groups = ordered(rows[group]) if group else [None]
        colours = colours_for(groups) if group else {None: OKABE_ITO["blue"]}
        markers = {g: COHORT_MARKERS.get(str(g), "s") for g in groups}
        y = np.arange(len(rows))[::-1]
        finite = pd.concat([estimate, lower, upper]).dropna()
        if log_scale:
            finite = finite[finite > 0]
        lo = float(finite.min()) if len(finite) else reference / 2 if log_scale else reference - 1
        hi = float(finite.max()) if len(finite) else reference * 2 if log_scale else reference + 1
        lo, hi = min(lo, reference), max(hi, reference)
        if log_scale:
            axes.set_xscale("log")
            span = np.log(hi / lo) if hi > lo else 1.0
            lo, hi = lo / np.exp(0.08 * span), hi * np.exp(0.08 * span)
            axes.xaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
            axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axes.xaxis.set_minor_formatter(NullFormatter())
        else:
            span = hi - lo if hi > lo else 1.0
            lo, hi = lo - 0.08 * span, hi + 0.08 * span
        axes.set_xlim(lo, hi)
        axes.axvline(reference, color=GREY, linewidth=1, linestyle="--")
        for k, row in rows.iterrows():
            colour = colours[row[group]] if group else colours[None]
            if np.isnan(estimate[k]):
                note = row.get("release_note") or NOT_ESTIMABLE
                axes.text(reference, y[k], f" {note}", va="center", ha="left", fontsize=8,
                          color=GREY, style="italic")
                continue
            if not (np.isnan(lower[k]) or np.isnan(upper[k])):
                axes.hlines(y[k], lower[k], upper[k], color=colour, linewidth=1.6)
            axes.plot(estimate[k], y[k], markers[row[group]] if group else "s", color=colour, markersize=5)
            text = number_format.format(estimate[k])
            if not (np.isnan(lower[k]) or np.isnan(upper[k])):
                text += f" ({number_format.format(lower[k])} to {number_format.format(upper[k])})"
            axes.text(1.01, y[k], text, transform=axes.get_yaxis_transform(), va="center", fontsize=8)
        axes.set_yticks(y, [wrapped(readable(v), 2.2) for v in rows[label]])
        axes.set_ylim(-0.7, len(rows) + 0.1)
        axes.grid(axis="y", visible=False)
        axes.set_xlabel(xlabel)
        title_figure(figure, title)
        if group and len(groups) > 1:
            for name in groups:
                axes.plot([], [], markers[name], color=colours[name], label=label_for(name))
            figure.legend(loc="outside lower left", ncols=len(groups), fontsize=7)
        # room on the right for the "estimate (lower to upper)" column
        axes.text(1.01, len(rows) - 0.35, "estimate (95% CI)", transform=axes.get_yaxis_transform(),
                  fontsize=8, color=GREY, va="center")
        figure.get_layout_engine().set(rect=(0, 0, 0.78, 1))
        return save_png(figure, path)


def forest_figure(
    results: pd.DataFrame,
    path: str | Path,
    label: str = "combination",
    group: str | None = None,
    title: str = "Hazard ratio, post-FSP vs pre-FSP, by combination of parental risk factors",
    xlabel: str = "Hazard ratio (log scale; below 1 = leaving sooner)",
) -> Path:
    """Forest plot of hazard ratios with 95% CIs, one row per ``label``; blanked rows as text."""
    return _interval_plot(results, path, label, 1.0, True, title, xlabel, "{:.2f}", group)


def rmst_figure(
    results: pd.DataFrame,
    path: str | Path,
    label: str = "outcome",
    group: str | None = None,
    title: str = "Difference in restricted mean days in the state, post-FSP minus pre-FSP",
    xlabel: str = "Difference in mean days (95% CI)",
) -> Path:
    """Differences in restricted mean survival time with 95% CIs around zero."""
    return _interval_plot(results, path, label, 0.0, False, title, xlabel, "{:.0f}", group)
