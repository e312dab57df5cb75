"""Draw every figure the report knows about from the released tables present.

Maps each released-table name to its figure function, so a run (or the
Dagster asset wrapping it) gets ``{name: png_path}`` ready for
:func:`~evaluation.report.build_report`. Tables that are absent are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from evaluation import figures

#: Released-table name -> figure function (each takes the table and a PNG path).
FIGURE_FOR_TABLE: dict[str, Callable[..., Path]] = {
    "km_time_in_protection": figures.km_figure,
    "cif_exit_from_protection": figures.cif_figure,
    "hazard_ratios": figures.forest_figure,
    "rmst_differences": figures.rmst_figure,
    "days_in_state": figures.days_in_state_figure,
    "monthly_referrals": figures.timeseries_figure,
    "cohort_flow": figures.flow_figure,
    "covariate_balance": figures.balance_figure,
}


def draw_release_figures(tables: Mapping[str, pd.DataFrame], directory: str | Path) -> dict[str, Path]:
    """Write ``<directory>/<name>.png`` for every released table that has a figure."""
    directory = Path(directory)
    drawn = {}
    for name, draw in FIGURE_FOR_TABLE.items():
        if name in tables and tables[name] is not None:
            drawn[name] = draw(tables[name], directory / f"{name}.png")
    return drawn
