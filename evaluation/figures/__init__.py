"""Figures in one house style (Okabe–Ito colours, PNG only), drawn from released tables.

Every function takes tables that have already passed disclosure control and
a path, and writes one PNG:

* :func:`km_figure` — Kaplan–Meier curves by cohort with an at-risk table;
* :func:`cif_figure` — cumulative-incidence panels, one per exit route;
* :func:`forest_figure` — hazard ratios by risk-factor combination;
* :func:`rmst_figure` — differences in restricted mean days;
* :func:`days_in_state_figure` — mean days in each state by cohort;
* :func:`timeseries_figure` — monthly series with go-live, lockdowns, fitted segments;
* :func:`flow_figure` — cohort flow diagram;
* :func:`balance_figure` — covariate balance (love) plot;
* :func:`estimates_by_extract_figure` — headline hazard ratios over successive extracts.

Cohorts differ by line style, hatch or marker as well as colour; labels are words
(:func:`~evaluation.figures.style.readable`), titles wrap to the figure, and
:func:`~evaluation.figures.style.layout_problems` finds text outside a figure or over other text.
"""

from evaluation.figures.balance import balance_figure
from evaluation.figures.curves import cif_figure, km_figure
from evaluation.figures.effects import forest_figure, rmst_figure
from evaluation.figures.flow import flow_figure
from evaluation.figures.states import days_in_state_figure
from evaluation.figures.style import COHORT_COLOURS, OKABE_ITO, house_figure, save_png
from evaluation.figures.timeseries import GO_LIVE, LOCKDOWNS_ENGLAND, timeseries_figure
from evaluation.figures.trajectory import estimates_by_extract_figure

__all__ = [
    "km_figure", "cif_figure", "forest_figure", "rmst_figure", "days_in_state_figure",
    "timeseries_figure", "flow_figure", "balance_figure", "estimates_by_extract_figure",
    "OKABE_ITO", "COHORT_COLOURS", "GO_LIVE", "LOCKDOWNS_ENGLAND", "house_figure", "save_png",
]
