"""Checks on the tables that pass the door (asset keys ``pseudonymised/<table>``)."""

from __future__ import annotations

from checks.factory import ERROR, WARN, make_check
from evaluation import tables as contract
from evaluation.validation import suites


def _key(table: str) -> list[str]:
    return ["pseudonymised", table]


def _checks_for(table: str) -> list:
    checks = [
        make_check(_key(table), "schema", "Columns and types match the table contract "
                   "(evaluation/tables.py).", lambda f, _t=table: suites.schema_suite(f, _t)),
        make_check(_key(table), "pseudonyms", "Every id column has the pseudonym format; no value "
                   "has the shape of a UPN, postcode or full date; birth dates are month-only.",
                   lambda f: suites.pseudonym_suite(f)),
    ]
    if table in suites.KEYS:
        checks.append(make_check(_key(table), "keys", "Key fields present; unique where they must be.",
                                 lambda f, _t=table: suites.keys_suite(f, _t)))
    if table in suites.CODED and table != "assessment_factors":
        checks.append(make_check(_key(table), "codes", "Each coded field is in its collection "
                                 "year's code list (evaluation/codes).",
                                 lambda f, _t=table: suites.codes_suite(f, _t), severity=WARN))
    if table in suites.EVENT_DATES:
        checks.append(make_check(
            _key(table), "dates", "End not before start; no event after the extract's reference date; "
            "no event before the birth month; ages 0–25 at every event.",
            lambda f, children, extracts, _t=table: suites.dates_suite(f, _t, children, extracts),
            others={"children": _key("children"), "extracts": _key("extracts")}))
    if table in ("cin_plans", "cp_plans", "section47s", "assessments"):
        checks.append(make_check(
            _key(table), "within_episode", "Plan dates lie inside their CIN episode.",
            lambda f, cin_episodes, _t=table: suites.plan_dates_suite(f, _t, cin_episodes),
            severity=WARN, others={"cin_episodes": _key("cin_episodes")}))
    refs = {
        "cin_plans": ["cin_episodes"], "section47s": ["cin_episodes"], "cp_plans": ["cin_episodes"],
        "assessments": ["cin_episodes"], "cin_episodes": ["children"], "care_episodes": ["children"],
        "children": ["families"], "assessment_factors": ["assessments", "cin_episodes"],
    }
    if table in refs:
        def build(f, _t=table, **others):
            return suites.referential_suite(f, _t, others)
        checks.append(make_check(
            _key(table), "referential_integrity",
            "Every plan belongs to an episode; every episode's child is in children; every child "
            "has a family.", build, others={name: _key(name) for name in refs[table]}))
    return checks


def _assessment_factor_codes(f, assessments):
    years = f[["assessment_id"]].merge(
        assessments[["assessment_id", "collection_year"]].drop_duplicates("assessment_id"),
        how="left", on="assessment_id")["collection_year"]
    return suites.codes_suite(f, "assessment_factors", years=years)


PSEUDONYMISED_CHECKS = [
    check
    for table in contract.TABLES
    if table not in ("reconciliation", "repairs", "quarantine")
    for check in _checks_for(table)
] + [
    make_check(_key("assessment_factors"), "codes", "Each factor is in its collection year's "
               "code list.", _assessment_factor_codes, severity=WARN,
               others={"assessments": _key("assessments")}),
    make_check(_key("reconciliation"), "balances", "For every file: rows read = rows kept + rows "
               "quarantined + rows merged. Nothing is dropped silently.",
               lambda f: suites.reconciliation_suite(f)),
    make_check(_key("quarantine"), "pseudonyms", "The quarantine carries pseudonyms only.",
               lambda f: suites.pseudonym_suite(f)),
]
