"""SSDA903 (children looked after) code lists, per collection year.

Collection years are named by the year they end (2021 = 2020/21). Where public
sources disagree on the year a code came or went (PLACE H5, P2, Z1, Z11–Z14;
the SGO codes), the choice made here is stated beside the code and is the one
used everywhere in the project.
"""

from __future__ import annotations

SSDA903_YEARS: tuple[int, ...] = tuple(range(2017, 2027))

HEADER_COLUMNS: tuple[str, ...] = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")
EPISODE_COLUMNS: tuple[str, ...] = (
    "CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
    "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN",
)
#: Other SSDA903 tables: recognised (by their columns) and ignored by the readers.
OTHER_TABLES: dict[str, tuple[str, ...]] = {
    "reviews": ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
    "uasc": ("CHILD", "SEX", "DOB", "DUC"),
    "oc2": ("CHILD", "DOB", "SDQ_SCORE", "CONVICTED", "HEALTH_CHECK"),
    "oc3": ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
    "ad1": ("CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"),
    "placed_for_adoption": ("CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED"),
    "previous_permanence": ("CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"),
    "missing": ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    "social_worker": ("CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_REASON"),
}

ETHNIC = (
    "WBRI", "WIRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN",
    "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT",
)
RNE = {
    "S": "Started to be looked after",
    "L": "Change of legal status only",
    "P": "Change of placement and carer",
    "T": "Change of placement, same carer",
    "B": "Change of legal status and placement and carer",
    "U": "Change of legal status and placement, same carer",
}
LS = {
    "C1": "Interim care order", "C2": "Full care order", "D1": "Freeing order",
    "E1": "Placement order", "V2": "Single period of accommodation under s20",
    "V3": "Short break, single", "V4": "Short breaks, series",
    "L1": "Police protection", "L2": "Emergency protection order",
    "L3": "Child assessment order", "J1": "Remanded to LA accommodation",
    "J2": "PACE transfer", "J3": "Youth rehabilitation order with residence requirement",
}
CIN_CATEGORY = {f"N{i}": f"Category of need N{i}" for i in range(1, 9)}
PLACE_PROVIDER = {
    "PR0": "Parent(s) or person with parental responsibility", "PR1": "Own provision (LA)",
    "PR2": "Other LA provision", "PR3": "Other public provision",
    "PR4": "Private provision", "PR5": "Voluntary/third sector provision",
}
REASON_PLACE_CHANGE = (
    "CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO", "CHILD", "LAREQ", "PLACE",
    "CUSTOD", "OTHER",
)

# PLACE: codes valid in every year, plus the year-bounded ones (first, last year; None = open).
_PLACE_ALWAYS = (
    "A3", "A4", "A5", "A6", "K1", "K2", "P1", "P3", "R1", "R2", "R3", "R4", "R5", "S1",
    "T0", "T1", "T2", "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6",
)
_PLACE_BOUNDED: dict[str, tuple[int | None, int | None]] = {
    "H5": (None, 2023),   # semi-independent living: replaced by the 2023/24 supported-accommodation codes
    "P2": (None, 2023),   # independent living: likewise
    "Z1": (None, 2023),   # other placements: split into Z11–Z14
    "Z11": (2024, None),
    "Z12": (2024, None),
    "Z13": (2024, None),
    "Z14": (2024, None),
    "K3": (2025, None),   # from 2024/25
}

# REC: year-bounded codes. SGO to a former foster carer etc. (E45–E48) replaced E43/E44 from 2019/20.
_REC_ALWAYS = (
    "X1", "E11", "E12", "E2", "E3", "E4A", "E4B", "E13", "E41", "E5", "E6", "E7", "E8", "E9",
    "E14", "E15", "E16", "E17",
)
_REC_BOUNDED: dict[str, tuple[int | None, int | None]] = {
    "E43": (None, 2019),
    "E44": (None, 2019),
    "E45": (2020, None),
    "E46": (2020, None),
    "E47": (2020, None),
    "E48": (2020, None),
}


def _in_year(bounds: tuple[int | None, int | None], year: int) -> bool:
    first, last = bounds
    return (first is None or year >= first) and (last is None or year <= last)


def ssda903_sex_codes(year: int) -> frozenset[str]:
    """SEX: ``1``/``2`` up to 2023/24, ``M``/``F``/``U`` from 2024/25."""
    _check_year(year)
    return frozenset({"1", "2"}) if year <= 2024 else frozenset({"M", "F", "U"})


def ssda903_code_list(field: str, year: int) -> frozenset[str]:
    """Valid codes of SSDA903 ``field`` (a DfE column name) in collection ``year``."""
    _check_year(year)
    if field == "SEX":
        return ssda903_sex_codes(year)
    if field == "PLACE":
        return frozenset(_PLACE_ALWAYS) | {c for c, b in _PLACE_BOUNDED.items() if _in_year(b, year)}
    if field == "REC":
        return frozenset(_REC_ALWAYS) | {c for c, b in _REC_BOUNDED.items() if _in_year(b, year)}
    fixed = {
        "ETHNIC": ETHNIC,
        "RNE": RNE,
        "LS": LS,
        "CIN": CIN_CATEGORY,
        "PLACE_PROVIDER": PLACE_PROVIDER,
        "REASON_PLACE_CHANGE": REASON_PLACE_CHANGE,
    }
    if field not in fixed:
        raise KeyError(f"{field!r} is not a coded SSDA903 field")
    return frozenset(fixed[field])


def _check_year(year: int) -> None:
    if year not in SSDA903_YEARS:
        raise ValueError(
            f"no SSDA903 code lists for collection year {year}; "
            f"known years: {SSDA903_YEARS[0]}–{SSDA903_YEARS[-1]}"
        )
