"""Checks on spells (``spells/<name>``) and cohorts (``cohorts/analysis_dataset``)."""

from checks.factory import WARN, Concern, make_table_checks
from evaluation.validation import suites

SPELL_TABLES = ("need_spells", "cin_plan_spells", "protection_spells", "care_periods")


def _spell_checks(name: str):
    care = name == "care_periods"
    return make_table_checks(["spells", name], [
        Concern("spells", "Spell ids unique; censored spells have no end reason; durations not "
                "negative" + ("; periods of care do not overlap for one child." if care else "."),
                lambda f: suites.spells_suite(f, care=care)),
        Concern("pseudonyms", "Pseudonym format; no raw identifier shapes.", suites.pseudonym_suite),
    ], {})


ANALYSIS_TABLE_CHECKS = [_spell_checks(name) for name in SPELL_TABLES] + [
    make_table_checks(["cohorts", "analysis_dataset"], [
        Concern("covariate_balance", "Standardised mean differences post-FSP vs pre-FSP within "
                "±0.1 for every covariate level (imbalance is expected in an observational design: "
                "adjust, weight, and report).", suites.balance_suite, WARN, row_level=False),
        Concern("model_counts", "Every outcome × cohort has enough people (≥ 50) and events "
                "(≥ 20) for a model to be fitted.", suites.model_counts_suite, WARN,
                row_level=False),
        Concern("pseudonyms", "Pseudonym format; no raw identifier shapes.", suites.pseudonym_suite),
    ], {}),
]
