"""Family cohorts, risk-factor combinations, covariates and the analysis dataset.

Every rule is a field of :class:`~evaluation.study.StudyConfig` (re-exported
here with ``COHORTS`` for convenience).
"""

from evaluation.cohorts.analysis_dataset import ANALYSIS_COLUMNS, OUTCOMES, analysis_dataset
from evaluation.cohorts.cohorts import child_eligibility, family_cohorts, index_episodes
from evaluation.cohorts.covariates import covariates
from evaluation.cohorts.flow import cohort_flow
from evaluation.cohorts.risk_factors import risk_factors
from evaluation.study import COHORTS, StudyConfig

__all__ = [
    "ANALYSIS_COLUMNS",
    "COHORTS",
    "OUTCOMES",
    "StudyConfig",
    "analysis_dataset",
    "child_eligibility",
    "cohort_flow",
    "covariates",
    "family_cohorts",
    "index_episodes",
    "risk_factors",
]
