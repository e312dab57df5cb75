"""Checks on spells (``spells/<name>``) and cohorts (``cohorts/analysis_dataset``)."""

from __future__ import annotations

from checks.factory import WARN, make_check
from evaluation.validation import suites

SPELL_TABLES = ("need_spells", "cin_plan_spells", "protection_spells", "care_periods")

ANALYSIS_TABLE_CHECKS = [
    make_check(["spells", name], "spells", "Spell ids unique; censored spells have no end reason; "
               "durations not negative" + ("; periods of care do not overlap for one child."
                                           if name == "care_periods" else "."),
               lambda f, _care=(name == "care_periods"): suites.spells_suite(f, care=_care))
    for name in SPELL_TABLES
] + [
    make_check(["spells", name], "pseudonyms", "Pseudonym format; no raw identifier shapes.",
               lambda f: suites.pseudonym_suite(f))
    for name in SPELL_TABLES
] + [
    make_check(["cohorts", "analysis_dataset"], "covariate_balance",
               "Standardised mean differences post-FSP vs pre-FSP within ±0.1 for every covariate "
               "level (imbalance is expected in an observational design: adjust, weight, and report).",
               lambda f: suites.balance_suite(f), severity=WARN),
    make_check(["cohorts", "analysis_dataset"], "model_counts",
               "Every outcome × cohort has enough people (≥ 50) and events (≥ 20) for a model.",
               lambda f: suites.model_counts_suite(f), severity=WARN),
    make_check(["cohorts", "analysis_dataset"], "pseudonyms",
               "Pseudonym format; no raw identifier shapes.", lambda f: suites.pseudonym_suite(f)),
]
