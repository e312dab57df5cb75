"""Children in Need census code lists, per collection year, from the DfE schemas.

The schemas in ``schemas/cin_YYYY.xsd`` (DfE CIN census schemas 2017–2026, as
carried in SocialFinanceDigitalLabs/liia-tools-pipeline, MIT) are the
authority: the enumerations are read from them, so a code list can never drift
from the schema a file is validated against.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).with_name("schemas")
CIN_YEARS: tuple[int, ...] = tuple(range(2017, 2027))

_XS = "{http://www.w3.org/2001/XMLSchema}"

#: Field (element name) -> the schema's simpleType that codes it.
FIELD_TYPES: dict[str, str] = {
    "ReferralSource": "referralsourcetype",
    "PrimaryNeedCode": "primaryneedcodetype",
    "ReasonForClosure": "reasonforclosuretype",
    "InitialCategoryOfAbuse": "categoryofabusetype",
    "LatestCategoryOfAbuse": "categoryofabusetype",
    "AssessmentFactors": "assessmentfactorstype",
    "Ethnicity": "ethnicitytype",
    "Disability": "disabilitytype",
    "UPNunknown": "unknownupntype",
    "GenderCurrent": "gendertype",
    "Sex": "sextype",
    "ReferralNFA": "yesnotype",
    "ICPCnotRequired": "yesnotype",
}


def cin_schema_path(year: int) -> Path:
    """Path of the bundled XSD for collection ``year`` (e.g. 2021 for 2020/21)."""
    _check_year(year)
    return SCHEMA_DIR / f"cin_{year}.xsd"


@lru_cache(maxsize=None)
def _enumerations(year: int) -> dict[str, dict[str, str]]:
    tree = etree.parse(str(cin_schema_path(year)))
    out: dict[str, dict[str, str]] = {}
    for simple in tree.iter(f"{_XS}simpleType"):
        name = simple.get("name")
        if not name:
            continue
        codes: dict[str, str] = {}
        for enum in simple.iter(f"{_XS}enumeration"):
            doc = enum.find(f"{_XS}annotation/{_XS}documentation")
            codes[enum.get("value")] = (doc.text or "").strip() if doc is not None else ""
        if codes:
            out[name] = codes
    return out


def cin_code_list(field: str, year: int) -> frozenset[str]:
    """Valid codes of a CIN census ``field`` in collection ``year``.

    Raises ``KeyError`` for a field the schema of that year does not have
    (e.g. ``Sex`` before 2025, ``GenderCurrent`` from 2025).
    """
    return frozenset(cin_labels(field, year))


def cin_labels(field: str, year: int) -> dict[str, str]:
    """Code -> label of a CIN census ``field`` in collection ``year``."""
    try:
        type_name = FIELD_TYPES[field]
    except KeyError:
        raise KeyError(f"{field!r} is not a coded CIN census field") from None
    enums = _enumerations(year)
    if type_name not in enums:
        raise KeyError(f"the {year} CIN census schema has no field {field!r}")
    return dict(enums[type_name])


def cin_sex_element(year: int) -> str:
    """``GenderCurrent`` (1/2/0/9) up to the 2024 schema, ``Sex`` (M/F/U) from 2025."""
    _check_year(year)
    return "GenderCurrent" if "gendertype" in _enumerations(year) else "Sex"


def _check_year(year: int) -> None:
    if year not in CIN_YEARS:
        raise ValueError(
            f"no CIN census schema for collection year {year}; "
            f"known years: {CIN_YEARS[0]}–{CIN_YEARS[-1]}"
        )


def cin_code_years(field: str) -> dict[str, tuple[int, int, str]]:
    """Per code of a CIN census ``field``: (first, last collection year, source).

    Read from the bundled schemas, so the years are those of the DfE schema
    that carries the code (``source`` names the first year's file). A code
    present in a year's schema is valid in that year; gaps do not occur.
    """
    out: dict[str, tuple[int, int, str]] = {}
    for year in CIN_YEARS:
        try:
            codes = cin_code_list(field, year)
        except KeyError:
            continue
        for code in codes:
            first = out[code][0] if code in out else year
            out[code] = (first, year, f"DfE CIN census schema cin_{first}.xsd (bundled)")
    return out
