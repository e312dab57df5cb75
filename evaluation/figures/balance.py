"""Covariate balance ("love") plot: standardised mean differences before and after adjustment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.figures.style import GREY, OKABE_ITO, house_figure, no_data, readable, save_png, title_figure


def balance_figure(
    balance: pd.DataFrame,
    path: str | Path,
    covariate: str = "covariate",
    before: str = "smd_before",
    after: str = "smd_after",
    threshold: float = 0.1,
    title: str = "Covariate balance between cohorts",
    absolute: bool = True,
) -> Path:
    """Dots per covariate: SMD before (open) and after (filled) adjustment, ±``threshold`` lines."""
    with house_figure(7.0, 1.6 + 0.28 * max(len(balance), 1)) as figure:
        if balance.empty:
            no_data(figure, "No balance table was produced")
            return save_png(figure, path)
        axes = figure.add_subplot()
        rows = balance.reset_index(drop=True)
        b = pd.to_numeric(rows[before], errors="coerce")
        a = pd.to_numeric(rows[after], errors="coerce")
        if absolute:
            b, a = b.abs(), a.abs()
        order = np.argsort(b.fillna(0).to_numpy())
        y = np.arange(len(rows))
        axes.hlines(y, np.minimum(b[order], a[order]), np.maximum(b[order], a[order]),
                    color=GREY, linewidth=0.6)
        axes.plot(b[order], y, "o", mfc="white", mec=OKABE_ITO["vermillion"], label="Before weighting (open circle)")
        axes.plot(a[order], y, "D", color=OKABE_ITO["blue"], markersize=4.5, label="After weighting (filled diamond)")
        for x in ((threshold,) if absolute else (-threshold, threshold)):
            axes.axvline(x, color=GREY, linestyle="--", linewidth=1)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_yticks(y, [readable(v) for v in rows[covariate].to_numpy()[order]])
        axes.grid(axis="y", visible=False)
        axes.set_xlabel(("Absolute s" if absolute else "S") + "tandardised mean difference")
        title_figure(figure, title)
        axes.legend(loc="upper left", bbox_to_anchor=(0.0, -0.09 - 0.3 / max(len(rows), 1)), ncols=2, fontsize=8)
        return save_png(figure, path)
