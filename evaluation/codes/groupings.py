"""How this evaluation groups DfE codes: risk factors, combinations, exits, ethnic groups."""

from __future__ import annotations

import datetime as dt

#: Parental risk factors from assessment factors (domain.md §2a).
RISK_FACTOR_CODES: dict[str, frozenset[str]] = {
    "domestic_abuse": frozenset({"3B"}),
    "mental_health": frozenset({"4B"}),
    "substance_misuse": frozenset({"1B", "2B"}),
}
#: Sensitivity variant: domestic abuse concerning anyone in the household.
DOMESTIC_ABUSE_BROAD: frozenset[str] = frozenset({"3A", "3B", "3C"})

#: The eight combinations of (domestic abuse, mental health, substance misuse), in report order.
COMBINATIONS: tuple[tuple[tuple[bool, bool, bool], str], ...] = (
    ((False, False, False), "None of the three"),
    ((True, False, False), "Domestic abuse only"),
    ((False, True, False), "Mental health only"),
    ((False, False, True), "Substance misuse only"),
    ((True, True, False), "Domestic abuse + mental health"),
    ((True, False, True), "Domestic abuse + substance misuse"),
    ((False, True, True), "Mental health + substance misuse"),
    ((True, True, True), "All three"),
)


def combination_label(domestic_abuse: bool, mental_health: bool, substance_misuse: bool) -> str:
    """Readable label of one of the eight risk-factor combinations."""
    return dict(COMBINATIONS)[(bool(domestic_abuse), bool(mental_health), bool(substance_misuse))]


#: SSDA903 legal statuses that are short breaks, not periods of care.
NOT_CARE_LEGAL_STATUSES: frozenset[str] = frozenset({"V3", "V4"})

#: Care exits (SSDA903 REC) grouped for competing risks. X1 is not an exit.
CARE_EXIT_GROUPS: dict[str, str] = {
    "E4A": "return_home",
    "E4B": "return_home",
    "E11": "permanence",
    "E12": "permanence",
    "E41": "permanence",
    "E43": "permanence",
    "E44": "permanence",
    "E45": "permanence",
    "E46": "permanence",
    "E47": "permanence",
    "E48": "permanence",
    "E2": "censored",   # died: censoring, not an outcome
    "E3": "censored",   # care taken over by another LA: censoring
}
#: CIN closure reasons that censor rather than end need (death, transfer out).
CIN_CENSORING_CLOSURES: frozenset[str] = frozenset({"RC2", "RC5"})

ETHNIC_MAJOR_GROUPS: dict[str, str] = {
    **{c: "White" for c in ("WBRI", "WIRI", "WOTH", "WIRT", "WROM")},
    **{c: "Mixed" for c in ("MWBC", "MWBA", "MWAS", "MOTH")},
    **{c: "Asian" for c in ("AIND", "APKN", "ABAN", "AOTH")},
    **{c: "Black" for c in ("BCRB", "BAFR", "BOTH")},
    **{c: "Other" for c in ("CHNE", "OOTH")},
    **{c: "Unknown" for c in ("REFU", "NOBT")},
}

REFERRAL_SOURCE_GROUPS: dict[str, str] = {
    **{c: "Individual" for c in ("1A", "1B", "1C", "1D")},
    **{c: "Education" for c in ("2A", "2B")},
    **{c: "Health" for c in ("3A", "3B", "3C", "3D", "3E", "3F")},
    "4": "Housing",
    **{c: "LA services" for c in ("5A", "5B", "5C", "5D")},
    "6": "Police",
    "7": "Other legal agency",
    "8": "Other",
    "9": "Anonymous or unknown",
    "10": "Anonymous or unknown",
}


def collection_year_of(date: dt.date) -> int:
    """Collection year (named by its end) in which ``date`` falls: 1 April – 31 March."""
    return date.year + 1 if date.month >= 4 else date.year


def reference_date_of(year: int) -> dt.date:
    """Reference date of collection ``year``: 31 March of that year."""
    return dt.date(year, 3, 31)
