"""SSDA903 (children looked after) code lists, per collection year.

Collection years are named by the year they end (2021 = 2020/21). Each
year-bounded code (PLACE, REC) has its first and last collection year and its
source (:data:`PLACE_YEARS`, :data:`REC_YEARS`). Where published
implementations disagree on the year a code came or went (PLACE H5, P2, Z1,
Z11–Z14, K3, R4; the SGO codes E43–E48), the code is ACCEPTED in every year any
of them accepts it, and the rows are counted by a warning check
(:func:`ssda903_disputed_codes`), never quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    # Deprivation of liberty orders, collected from 2023/24 (DfE rules 700-709).
    "deprivation_of_liberty": ("CHILD", "DOB", "DOLO_START", "DOLO_END"),
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

# Sources, cited by each code below. Collection years are named by the year they end.
DFE = "DfE SSDA903 guide of the year"
LIIA = ("SocialFinanceDigitalLabs/liia-tools-pipeline ssda903_pipeline/spec: SSDA903_schema_2017.yml "
        "and the 2019/2025/2026 .diff.yml")
D2I = "data-to-insight/csc-validator-be-903 validators/rule_146.py (PLACE, one list for every year)"


@dataclass(frozen=True)
class CodeYears:
    """When a code is accepted, on whose authority, and when a published source refuses it.

    ``first``/``last``: first and last collection year accepted (``None``: open; the
    project reads 2017 on). ``disputed``: (first, last) years inside that range in which a
    published implementation refuses the code although another (or the DfE guide as we read
    it) accepts it: such rows are kept and counted by a warning check, never quarantined.
    """

    first: int | None
    last: int | None
    source: str
    disputed: tuple[int | None, int | None] | None = None
    note: str = ""


_BOTH = f"{DFE}; {LIIA} (all years); {D2I}"
PLACE_YEARS: dict[str, CodeYears] = {
    **{c: CodeYears(None, None, _BOTH) for c in (
        "A3", "A4", "A5", "A6", "K1", "K2", "P1", "P3", "R1", "R2", "R3", "R5", "S1",
        "T0", "T1", "T2", "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6")},
    "R4": CodeYears(None, None, "domain notes (R1-R5)", disputed=(None, None),
                    note="in neither liia's nor d2i's PLACE list; kept, counted"),
    # Semi-independent / independent living and "other placement". Our earlier reading of the
    # DfE 2023/24 guide withdrew them from 2024 (supported accommodation, Z11-Z14); liia's schema
    # drops H5 and P2 only from 2025 and keeps Z1 through 2026; d2i rule 146 accepts all three in
    # every year. The implementations disagree, so they are accepted and counted.
    "H5": CodeYears(None, None, f"{LIIA} (to 2024); {D2I} (all years)", disputed=(2024, None),
                    note="withdrawn from 2024 in our reading of the DfE guide; liia from 2025"),
    "P2": CodeYears(None, None, f"{LIIA} (to 2024); {D2I} (all years)", disputed=(2024, None),
                    note="withdrawn from 2024 in our reading of the DfE guide; liia from 2025"),
    "Z1": CodeYears(None, None, f"{LIIA} (all years); {D2I} (all years)", disputed=(2024, None),
                    note="split into Z11-Z14 from 2024 in our reading of the DfE guide"),
    # Other placements split four ways: from 2024 in our reading of the DfE 2023/24 guide, from
    # 2026 in liia's schema, in no year of d2i's list.
    **{c: CodeYears(2024, None, f"{DFE} 2023/24; {LIIA} (2026 diff)", disputed=(2024, None),
                    note="liia from 2026; not in d2i rule 146") for c in ("Z11", "Z12", "Z13", "Z14")},
    "K3": CodeYears(2025, None, f"{DFE} 2024/25; {LIIA} (2025 diff)", disputed=(2025, None),
                    note="not in d2i rule 146"),
}

# REC: special guardianship orders. E43/E44 gave way to E45-E48: in liia's schema from 2019
# (SSDA903_schema_2019.diff.yml), in our reading of the DfE guide from 2020. Both are accepted
# in 2019, counted.
REC_YEARS: dict[str, CodeYears] = {
    **{c: CodeYears(None, None, f"{DFE}; {LIIA}") for c in (
        "X1", "E11", "E12", "E2", "E3", "E4A", "E4B", "E13", "E41", "E5", "E6", "E7", "E8", "E9",
        "E14", "E15", "E16", "E17")},
    **{c: CodeYears(None, 2019, f"{DFE} (to 2018/19); {LIIA} (to 2018)", disputed=(2019, 2019),
                    note="liia drops it from 2019") for c in ("E43", "E44")},
    **{c: CodeYears(2019, None, f"{LIIA} (from 2019); {DFE} (from 2019/20)", disputed=(2019, 2019),
                    note="from 2020 in our reading of the DfE guide") for c in ("E45", "E46", "E47",
                                                                                  "E48")},
}
YEAR_BOUNDED: dict[str, dict[str, CodeYears]] = {"PLACE": PLACE_YEARS, "REC": REC_YEARS}


def _in_year(bounds: tuple[int | None, int | None] | None, year: int) -> bool:
    if bounds is None:
        return False
    first, last = bounds
    return (first is None or year >= first) and (last is None or year <= last)


def ssda903_disputed_codes(field: str, year: int) -> frozenset[str]:
    """Codes of ``field`` accepted in ``year`` although a published source refuses them then
    (see :class:`CodeYears`): kept, and counted by the ``codes`` warning check."""
    _check_year(year)
    table = YEAR_BOUNDED.get(field, {})
    return frozenset(c for c, y in table.items()
                     if _in_year((y.first, y.last), year) and _in_year(y.disputed, year))


def ssda903_sex_codes(year: int) -> frozenset[str]:
    """SEX: ``1``/``2`` up to 2023/24, ``M``/``F``/``U`` from 2024/25."""
    _check_year(year)
    return frozenset({"1", "2"}) if year <= 2024 else frozenset({"M", "F", "U"})


def ssda903_code_list(field: str, year: int) -> frozenset[str]:
    """Valid codes of SSDA903 ``field`` (a DfE column name) in collection ``year``."""
    _check_year(year)
    if field == "SEX":
        return ssda903_sex_codes(year)
    if field in YEAR_BOUNDED:
        return frozenset(c for c, y in YEAR_BOUNDED[field].items() if _in_year((y.first, y.last), year))
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
