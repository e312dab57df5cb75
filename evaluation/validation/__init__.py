"""Validation: Great Expectations suites over the pseudonymised tables, spells and cohorts.

``suites`` says what is expected of each table; ``engine`` runs a suite with
counts-only results; ``docs`` renders each result to a static page analysts open
offline (``outputs/validation/index.html``). The Dagster asset checks in
``checks/`` call these.
"""

from evaluation.validation.engine import (
    ExpectationOutcome,
    build_data_docs,
    SuiteOutcome,
    ValidationProject,
    run_name,
    run_suite,
    validation_context,
)

__all__ = ["ExpectationOutcome", "build_data_docs", "SuiteOutcome", "ValidationProject", "run_name",
           "run_suite", "validation_context"]
