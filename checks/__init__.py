"""Dagster asset checks: the Great Expectations suites of ``evaluation.validation``.

``ALL_CHECKS`` is what ``assets.definitions`` loads. ERROR checks block
downstream assets; WARN checks flag what an analyst should look at.
"""

from checks.pseudonymised import PSEUDONYMISED_CHECKS
from checks.analysis_tables import ANALYSIS_TABLE_CHECKS
from checks.comparison import COMPARISON_CHECKS
from checks.resources import ValidationResource, default_validation_resource

ALL_CHECKS = [*PSEUDONYMISED_CHECKS, *ANALYSIS_TABLE_CHECKS, *COMPARISON_CHECKS]

__all__ = ["ALL_CHECKS", "ValidationResource", "default_validation_resource"]
