"""Family cohorts, risk-factor combinations, covariates and the analysis dataset.

Every rule is a field of :class:`~evaluation.cohorts.config.StudyConfig`.
The public functions are imported lazily (``evaluation.spells`` imports the
configuration from here, so eager imports would be circular).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "StudyConfig": "evaluation.cohorts.config",
    "COHORTS": "evaluation.cohorts.config",
    "child_eligibility": "evaluation.cohorts.cohorts",
    "index_episodes": "evaluation.cohorts.cohorts",
    "family_cohorts": "evaluation.cohorts.cohorts",
    "risk_factors": "evaluation.cohorts.risk_factors",
    "covariates": "evaluation.cohorts.covariates",
    "analysis_dataset": "evaluation.cohorts.analysis_dataset",
    "OUTCOMES": "evaluation.cohorts.analysis_dataset",
    "ANALYSIS_COLUMNS": "evaluation.cohorts.analysis_dataset",
    "cohort_flow": "evaluation.cohorts.flow",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'evaluation.cohorts' has no attribute {name!r}")
