"""The result tables each analysis returns, by name: the outputs of the pipeline's pooled
analysis assets (``assets/analysis.py``), known without importing the estimators. Loading the
Dagster definitions (``make run``'s own process, each test worker, the UI's code server) then
imports neither SciPy's statistics nor statsmodels (about 1.5 CPU-s); the step that fits a
model imports its module. Each analysis module's ``TABLES`` is its entry here."""

from __future__ import annotations

#: :func:`evaluation.analysis.survival_outcomes.survival_results`.
SURVIVAL: tuple[str, ...] = ("km_estimates", "km_curves", "logrank", "hazard_ratios", "ph_tests", "rmst",
                             "differential_impact", "weighted", "e_values", "factor_prevalence", "balance")
#: :func:`evaluation.analysis.competing_exits.competing_results`.
COMPETING_EXITS: tuple[str, ...] = ("cif", "cif_curves", "gray_test", "cause_specific_cox", "fine_gray",
                                    "competing_e_values")
#: :func:`evaluation.analysis.states.state_results`.
STATES: tuple[str, ...] = ("expected_days", "proportion_reaching", "state_e_values", "state_balance")
#: :func:`evaluation.analysis.time_series.time_series_results`.
TIME_SERIES: tuple[str, ...] = ("segmented", "placebo")
#: :func:`evaluation.analysis.across_councils.across_council_results`.
ACROSS_COUNCILS: tuple[str, ...] = ("across_councils",)
