"""Checks on the tables that pass the door (asset keys ``pseudonymised/<table>``)."""

from assets.jobs import CAN_WAIT
from checks.factory import WARN, Concern, make_table_checks
from evaluation import tables as contract
from evaluation.validation import suites

#: Tables each table's referential-integrity check looks up.
REFERENCES: dict[str, tuple[str, ...]] = {
    "cin_plans": ("cin_episodes",), "section47s": ("cin_episodes",), "cp_plans": ("cin_episodes",),
    "assessments": ("cin_episodes",), "cin_episodes": ("children",), "care_episodes": ("children",),
    "children": ("families",), "assessment_factors": ("assessments", "cin_episodes"),
}


def _key(table: str) -> list[str]:
    return ["pseudonymised", table]


def _assessment_factor_codes(f, assessments):
    years = f[["assessment_id"]].merge(
        assessments[["assessment_id", "collection_year"]].drop_duplicates("assessment_id"),
        how="left", on="assessment_id")["collection_year"]
    return suites.codes_suite(f, "assessment_factors", years=years)


def concerns_for(table: str) -> list[Concern]:
    """The checks of one pseudonymised table."""
    concerns = [
        Concern("schema", "Columns and types match the table contract (evaluation/tables.py).",
                lambda f, _t=table: suites.schema_suite(f, _t), row_level=False),
        Concern("pseudonyms", "Every id column has the pseudonym format; no value has the shape "
                "of a UPN, postcode or full date; birth dates are month-only.",
                suites.pseudonym_suite),
    ]
    if table in suites.KEYS:
        concerns.append(Concern("keys", "Key fields present; unique where they must be.",
                                lambda f, _t=table: suites.keys_suite(f, _t)))
    if table == "assessment_factors":
        concerns.append(Concern("codes", "Each factor is in its collection year's code list.",
                                _assessment_factor_codes, WARN, others=("assessments",)))
    elif table in suites.CODED or table == "children":
        concerns.append(Concern(
            "codes", "Each coded field is in its collection year's code list (evaluation/codes); "
            "codes accepted although published sources disagree on their years (PLACE H5, P2, Z1, "
            "Z11-Z14, K3, R4; REC E43-E48 in 2019) are counted apart (*_undisputed_for_year).",
            lambda f, _t=table: suites.codes_suite(f, _t), WARN))
    if table in suites.EVENT_DATES:
        concerns.append(Concern(
            "dates", "End not before start; no event after its own file's reference date; no "
            "event before the birth month (CIN: less a pregnancy); ages 0–25 at every event. The "
            "door quarantines such rows (evaluation/ingest/plausibility.py): a guard, so a warning.",
            lambda f, children, extracts, _t=table: suites.dates_suite(f, _t, children, extracts),
            WARN, others=("children", "extracts")))
    if table == "extracts":
        concerns.append(Concern(
            "observation_windows", "Collection years of the CIN census and SSDA903 per council: "
            "years missing inside a dataset's window, and a dataset that starts later or ends "
            "earlier than the other (counted in years). Each outcome is followed only while its "
            "data is observed, so these shorten follow-up; the report states them.",
            suites.windows_suite, WARN, row_level=False))
    if table in ("cin_plans", "cp_plans", "section47s", "assessments"):
        concerns.append(Concern(
            "within_episode", "Plan dates lie inside their CIN episode.",
            lambda f, cin_episodes, _t=table: suites.plan_dates_suite(f, _t, cin_episodes), WARN,
            others=("cin_episodes",)))
    if table in REFERENCES:
        names = REFERENCES[table]
        concerns.append(Concern(
            "referential_integrity", "Every plan belongs to an episode; every episode's child is in "
            "children; every child has a family.",
            lambda f, _t=table, _n=names, **others: suites.referential_suite(f, _t, others),
            others=names))
    if table == "reconciliation":
        concerns = [Concern("balances", "For every file: rows read = rows kept + rows quarantined "
                            "+ rows merged. Nothing is dropped silently.",
                            suites.reconciliation_suite)]
        concerns.append(Concern(
            "every_file_read", "Every entry of the local-authority folder was read with data rows; "
            "files ignored (not in the input layout, an SSDA903 table not used), files with no data "
            "rows and year folders with no usable table are listed with why (status, note).",
            suites.inventory_suite, WARN))
    if table == "children":
        concerns.append(Concern(
            "children_present", "At least one child passed the door: a council of which no child "
            "could be used stops before analysis and release.",
            suites.children_present_suite, row_level=False))
    return concerns


#: Door tables no stage of a council run reads (their checks can wait: ``assets.jobs.CAN_WAIT``).
UNREAD_BY_STAGES = ("duplicates", "reconciliation", "section47s")


def _checks(table: str):
    concerns = concerns_for(table)
    others = sorted({name for c in concerns for name in c.others})
    return make_table_checks(_key(table), concerns, {name: _key(name) for name in others},
                             op_tags=CAN_WAIT if table in UNREAD_BY_STAGES else None)


PSEUDONYMISED_CHECKS = [_checks(table) for table in contract.TABLES if table != "repairs"]
