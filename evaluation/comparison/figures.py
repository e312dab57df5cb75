"""Figures for the comparison areas, in the house style (PNG only).

- :func:`synthetic_control_figure`: the council against its synthetic control (top) and the gap,
  with every placebo unit's gap in grey behind the council's (bottom);
- :func:`event_study_figure`: Callaway & Sant'Anna event-study estimates with 95% intervals.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.figures.style import GREY, OKABE_ITO, SHADE, house_figure, save_png

from .panel import RATES


def synthetic_control_figure(effects: pd.DataFrame, measure: str, path: str | Path,
                             placebo_gaps: pd.DataFrame | None = None, treated_name: str = "Oxfordshire",
                             max_pre_rmspe_ratio: float | None = 5.0, pre_rmspe: float | None = None) -> Path:
    """``effects``: rows of one measure from ``run_synthetic_control()["effects"]``.
    ``placebo_gaps``: long frame (unit, year, gap[, pre_rmspe]) of placebo fits; placebos whose
    pre-period RMSPE exceeds ``max_pre_rmspe_ratio`` times the council's are not drawn."""
    e = effects[effects["measure"] == measure].sort_values("year")
    with house_figure(7.0, 6.0) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True)
        trans = e.loc[e["period"] == "transition", "year"]
        for ax in (top, bottom):
            for y in trans:
                ax.axvspan(y - 0.5, y + 0.5, color=SHADE, lw=0)
        top.plot(e["year"], e["treated"], color=OKABE_ITO["vermillion"], label=treated_name)
        top.plot(e["year"], e["synthetic"], color=OKABE_ITO["blue"], ls="--", label="Synthetic control")
        top.set_ylabel(RATES.get(measure, measure), wrap=True)
        top.legend(loc="best")
        top.set_title(f"{treated_name} and its synthetic control (shaded: transition year)")
        if placebo_gaps is not None and len(placebo_gaps):
            pg = placebo_gaps
            if max_pre_rmspe_ratio is not None and pre_rmspe is not None and "pre_rmspe" in pg:
                pg = pg[pg["pre_rmspe"] <= max_pre_rmspe_ratio * pre_rmspe]
            # every placebo's line, in unit order and each by year, from one plot call (a call per
            # unit cost ~0.3 ms of argument handling each: the lines are the same Line2D objects)
            pg = pg.sort_values("year", kind="stable")
            lines = [column for _, g in pg.groupby("unit") for column in (g["year"], g["gap"])]
            bottom.plot(*lines, color=GREY, alpha=0.25, lw=0.8)
        bottom.axhline(0, color="black", lw=0.8)
        bottom.plot(e["year"], e["gap"], color=OKABE_ITO["vermillion"], lw=2.2, label=f"{treated_name} gap")
        bottom.set_ylabel("Council minus synthetic")
        bottom.set_xlabel("Year ending 31 March")
        bottom.legend(loc="best")
    return save_png(fig, path)


def event_study_figure(event: pd.DataFrame, measure: str, path: str | Path,
                       control_group: str = "never_treated") -> Path:
    """``event``: ``run_staggered()["event"]``; one measure and control group is drawn."""
    e = event[(event["measure"] == measure) & (event["control_group"] == control_group)]
    e = e.sort_values("relative_period")
    with house_figure(7.0, 4.0) as fig:
        ax = fig.add_subplot()
        pre = e["relative_period"] < 0
        for mask, colour, label in ((pre, OKABE_ITO["blue"], "Before go-live"),
                                    (~pre, OKABE_ITO["vermillion"], "Go-live year (0) and after")):
            sub = e[mask]
            ax.errorbar(sub["relative_period"], sub["att"],
                        yerr=np.vstack([sub["att"] - sub["ci_lower"], sub["ci_upper"] - sub["att"]]),
                        fmt="o", color=colour, capsize=3, label=label)
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color=GREY, ls=":", lw=1)
        ax.set_xlabel("Years relative to the go-live year (DfE years ending 31 March)")
        ax.set_ylabel(RATES.get(measure, measure), wrap=True)
        ax.set_title(f"Event study, Callaway & Sant'Anna ({control_group.replace('_', '-')} controls), 95% CI")
        ax.legend(loc="best")
    return save_png(fig, path)
