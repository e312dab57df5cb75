"""Column contracts of the pseudonymised tables that pass the door.

Every table after pseudonymisation carries ``la_code`` (the DfE three-digit
local-authority code) and pseudonymous ids only: 16 lower-case hex characters
(64 bits of HMAC-SHA256). Dates are ``datetime64[ns]`` with ``NaT`` for
missing; a date of birth is always the first of its month. Codes are strings.
The ingest step produces these; spells, validation and the survival analysis
read them. Validation checks the schema against this module.
"""

from __future__ import annotations

import functools
import hashlib

import pandas as pd

PSEUDONYM_PATTERN = r"^[0-9a-f]{16}$"
PSEUDONYM_HEX_CHARS = 16

DATE = "datetime64[ns]"


#: ``infer_dtype`` kinds of an object column whose cells are all of one Python type.
_ONE_KIND = frozenset({"string", "bytes", "integer", "floating", "boolean", "empty", "datetime", "date",
                       "decimal", "complex", "timedelta"})


def add_object_kinds(digest, frame: pd.DataFrame) -> None:
    """Feed ``digest`` (a hashlib object) what kind of values each object column of ``frame`` holds,
    and, where they are of several kinds, each cell's type: pandas hashes object cells by their
    text, so 1 and "1" alike. Raises ``TypeError`` for a value pandas cannot hash."""
    for name, column in frame.items():
        if column.dtype == object:
            kind = pd.api.types.infer_dtype(column, skipna=False)
            digest.update(f"{name}:{kind}".encode())
            if kind not in _ONE_KIND:
                digest.update(pd.util.hash_pandas_object(column.map(lambda v: type(v).__name__),
                                                         index=False).to_numpy().tobytes())


def content_digest(frame: pd.DataFrame) -> bytes:
    """A digest of ``frame``'s content: its column names, dtypes, length, values row by row
    (``pd.util.hash_pandas_object``, the index left out) and the kinds of its object cells
    (:func:`add_object_kinds`). Raises ``TypeError`` for a value pandas cannot hash (e.g. a list)."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((list(frame.columns), [str(dtype) for dtype in frame.dtypes], len(frame))).encode())
    digest.update(rows.tobytes())
    add_object_kinds(digest, frame)
    return digest.digest()


def as_dates(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(values)``; a column already of :data:`DATE` as it is (the same values:
    to_datetime's cache check would turn thousands of them into Timestamps one by one)."""
    return values if values.dtype == DATE else pd.to_datetime(values)
STR = "string"       # pandas StringDtype, <NA> for missing
INT = "Int64"        # nullable integer
BOOL = "boolean"     # nullable boolean

#: table name -> {column: dtype}. Id columns end in ``_id``.
TABLES: dict[str, dict[str, str]] = {
    # One row per child per local authority, from the CIN census and SSDA903 header.
    "children": {
        "la_code": STR, "child_id": STR, "birth_month": DATE, "sex": STR,  # M / F / U
        "ethnicity": STR, "death_date": DATE, "disabled": BOOL,
        "in_cin_census": BOOL, "in_ssda903": BOOL,
        # Council-independent pseudonym of the UPN: only with the national link switched on
        # (ingest_local_authority(national_upn_link=True)); otherwise always missing.
        "national_id": STR,
    },
    # CIN episodes (CINdetails), de-duplicated across collection years (latest submission wins).
    "cin_episodes": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "referral_date": DATE,
        "referral_source": STR, "primary_need": STR, "closure_date": DATE,
        "reason_for_closure": STR, "referral_nfa": BOOL, "initial_cpc_date": DATE,
        "collection_year": INT,
    },
    "assessments": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "assessment_id": STR,
        "start_date": DATE, "authorisation_date": DATE, "collection_year": INT,
    },
    # One row per factor recorded at an assessment (long form).
    "assessment_factors": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "assessment_id": STR, "factor": STR,
    },
    "cin_plans": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "start_date": DATE, "end_date": DATE,
        "collection_year": INT,
    },
    "section47s": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "start_date": DATE,
        "icpc_target_date": DATE, "icpc_date": DATE, "icpc_not_required": BOOL,
        "collection_year": INT,
    },
    "cp_plans": {
        "la_code": STR, "child_id": STR, "episode_id": STR, "start_date": DATE, "end_date": DATE,
        "initial_category": STR, "latest_category": STR, "previous_cpp": INT,
        "review_count": INT, "collection_year": INT,
    },
    # SSDA903 episodes after multi-year assembly and repair; ``repair`` names the rule applied.
    "care_episodes": {
        "la_code": STR, "child_id": STR, "decom": DATE, "dec": DATE, "rne": STR, "ls": STR,
        "cin": STR, "place": STR, "place_provider": STR, "rec": STR,
        "reason_place_change": STR, "collection_year": INT, "repair": STR,
    },
    "families": {"la_code": STR, "child_id": STR, "family_id": STR},
    # Each extract (collection) read: its reference date censors the follow-up.
    "extracts": {
        "la_code": STR, "dataset": STR, "collection_year": INT, "reference_date": DATE,
        "source_file": STR,
    },
    # Rows that could not be used. ``source_file`` is a file name, never a path with identifiers.
    "quarantine": {
        "la_code": STR, "dataset": STR, "source_file": STR, "line": INT, "element": STR,
        "field": STR, "reason": STR, "child_id": STR,
    },
    # Per file: rows_read == rows_kept + rows_quarantined + rows_merged.
    "reconciliation": {
        "la_code": STR, "dataset": STR, "source_file": STR, "rows_read": INT, "rows_kept": INT,
        "rows_quarantined": INT, "rows_merged": INT,
        # read / empty / ignored / empty folder (evaluation.ingest.inventory), and why.
        "status": STR, "note": STR,
    },
    # Every repair of the multi-year assembly, counted by rule.
    "repairs": {"la_code": STR, "dataset": STR, "rule": STR, "rows": INT},
    # Every merged row: where it was (file, line, element path) -> the kept row it duplicates,
    # and the rule. Positions only, never ids or values.
    "duplicates": {
        "la_code": STR, "dataset": STR, "source_file": STR, "line": INT, "element": STR,
        "kept_dataset": STR, "kept_source_file": STR, "kept_line": INT, "kept_element": STR,
        "rule": STR,
    },
}


def copies_of_one(make):
    """``make`` (a function of hashable arguments returning a frame) run once per process and
    arguments; each call gets a copy of that frame, never the frame itself, so no caller can change
    what the next one gets. For empty typed frames, which cost more to build (a cast per column)
    than to copy, and which the door asks for several times per council."""
    made = functools.cache(make)

    @functools.wraps(make)
    def copy(*args):
        return made(*args).copy()
    return copy


@copies_of_one
def empty(table: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``table`` (:func:`copies_of_one`)."""
    return conform(pd.DataFrame(), table)


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the contract's columns, in order, cast to their dtypes.

    A missing column is an error (it would silently become all-missing otherwise);
    an extra column is an error too (an identifier might ride along).
    """
    spec = TABLES[table]
    missing = [c for c in spec if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec]
    if frame.columns.size and (missing or extra):
        raise ValueError(f"{table}: missing columns {missing}, unexpected columns {extra}")
    out = pd.DataFrame({column: _cast(frame[column] if column in frame.columns
                                      else pd.Series(dtype="object"), dtype)
                        for column, dtype in spec.items()})
    return out.reset_index(drop=True)


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    """``values`` as ``dtype`` (dates through :func:`as_dates`): each column cast before the frame
    is built, which is cheaper than setting every column of a built frame again."""
    return (as_dates(values) if dtype == DATE else values).astype(dtype)
