"""Longitudinal evaluation of children's social care programmes (Family Solutions Plus).

Plain Python, no Dagster: readers, pseudonymisation, spells, cohorts, survival
estimators, disclosure control, figures and the report, and the synthetic county.
"""

__version__ = "0.1.0"
