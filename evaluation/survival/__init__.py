"""Survival estimators, each matched to R's ``survival`` / ``cmprsk`` (tests/reference).

Single event: :func:`kaplan_meier`, :func:`kaplan_meier_by`, :func:`logrank_test`,
:func:`rmst`, :func:`rmst_difference`, :func:`cox_ph` (with :func:`dummy_columns`),
:func:`cox_zph`, :func:`differential_impact`, :func:`cohort_weights`, :func:`balance_table`.
Competing exits: :func:`cumulative_incidence`, :func:`cumulative_incidence_by`,
:func:`cif_table`, :func:`gray_test`, :func:`fine_gray`, :func:`finegray_expand`,
:func:`cause_specific_cox`. Multi-state: :func:`state_occupation`, :func:`expected_days`,
:func:`proportion_reaching`, :func:`first_passage_intervals`, :func:`bootstrap_occupation`,
:func:`expected_days_table`, :func:`proportion_reaching_table`.

Imported lazily, so that importing one estimator does not load them all
(statsmodels, used by two of them, is slow to import).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "kaplan_meier": "kaplan_meier", "kaplan_meier_by": "kaplan_meier", "KaplanMeier": "kaplan_meier",
    "logrank_test": "logrank", "LogRank": "logrank",
    "rmst": "rmst", "rmst_difference": "rmst", "RMST": "rmst",
    "cox_ph": "cox", "dummy_columns": "cox", "CoxResult": "cox",
    "cox_zph": "zph", "ZphResult": "zph",
    "differential_impact": "differential", "DifferentialImpact": "differential",
    "cohort_weights": "weighting", "balance_table": "weighting", "CohortWeights": "weighting",
    "cumulative_incidence": "competing", "cumulative_incidence_by": "competing", "cif_table": "competing",
    "gray_test": "competing", "CumulativeIncidence": "competing",
    "fine_gray": "finegray", "finegray_expand": "finegray", "cause_specific_cox": "finegray",
    "FineGrayFit": "finegray",
    "state_occupation": "multistate", "expected_days": "multistate", "proportion_reaching": "multistate",
    "first_passage_intervals": "multistate", "bootstrap_occupation": "multistate",
    "expected_days_table": "multistate", "proportion_reaching_table": "multistate",
    "StateOccupation": "multistate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"evaluation.survival.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'evaluation.survival' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
