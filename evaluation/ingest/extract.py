"""What a reader hands to the assembly: one file's usable records, its quarantine, its counts.

Internal to :mod:`evaluation.ingest`: ids are already pseudonyms, but a
child record still carries the full date of birth (``birth_date``) so that
conflicts across sources can be found; it is coarsened to the month before
anything leaves :func:`evaluation.ingest.ingest_local_authority`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Extract:
    """One input file after reading and pseudonymising."""

    dataset: str                      # "cin_census", "ssda903" or "families"
    source_file: str                  # file name only
    collection_year: int | None
    reference_date: dt.date | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # usable records per table
    quarantine: list[pd.DataFrame] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)         # per destination table
    ignored_table: str | None = None  # an SSDA903 table recognised and not used
    #: Dates of birth stated by child records quarantined for another reason (an unknown code):
    #: still evidence when two sources disagree on a child's date of birth.
    quarantined_births: pd.DataFrame | None = None
