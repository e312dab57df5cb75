"""Year-keyed code lists: the single source for readers, validation and the synthetic county.

Collection years are named by the year in which they end: ``2021`` is the
2020/21 return (1 April 2020 – 31 March 2021, reference date 2021-03-31).

* :mod:`evaluation.codes.cin` — Children in Need census codes, read from the
  DfE XML schemas bundled in ``schemas/`` (one per collection year 2017–2026).
* :mod:`evaluation.codes.ssda903` — SSDA903 looked-after children codes.
* :mod:`evaluation.codes.groupings` — how this evaluation groups codes:
  parental risk factors, exit types, ethnic major groups, referral sources.
"""

from evaluation.codes.cin import (
    CIN_YEARS,
    cin_code_list,
    cin_labels,
    cin_schema_path,
    cin_sex_element,
)
from evaluation.codes.ssda903 import SSDA903_YEARS, ssda903_code_list, ssda903_sex_codes
from evaluation.codes.groupings import (
    CARE_EXIT_GROUPS,
    COMBINATIONS,
    ETHNIC_MAJOR_GROUPS,
    NOT_CARE_LEGAL_STATUSES,
    RISK_FACTOR_CODES,
    combination_label,
    collection_year_of,
    reference_date_of,
)

__all__ = [
    "CIN_YEARS",
    "cin_code_list",
    "cin_labels",
    "cin_schema_path",
    "cin_sex_element",
    "SSDA903_YEARS",
    "ssda903_code_list",
    "ssda903_sex_codes",
    "CARE_EXIT_GROUPS",
    "COMBINATIONS",
    "ETHNIC_MAJOR_GROUPS",
    "NOT_CARE_LEGAL_STATUSES",
    "RISK_FACTOR_CODES",
    "combination_label",
    "collection_year_of",
    "reference_date_of",
]
