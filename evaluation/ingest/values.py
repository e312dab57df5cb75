"""Vectorised parsing of raw text values: dates, codes, yes/no, counts.

Each parser returns the parsed column and a mask of values that were present
but could not be parsed, so the reader can quarantine the row and name the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from evaluation.ingest import quarantine as q

#: Working text dtype: Arrow-backed strings are vectorised in C (the contract casts to "string").
STRING = "string[pyarrow]"
_ISO_DATE = r"^\s*(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?\s*$"
_UK_DATE = r"^\s*(\d{1,2}/\d{1,2}/\d{4})\s*$"


def text(values: pd.Series) -> pd.Series:
    """Stripped text; empty becomes missing (``.str.strip()``, then ``""`` masked, in one
    pass of Arrow compute)."""
    stripped = pc.utf8_trim_whitespace(values.astype(STRING).array._pa_array)
    return _arrow_text(pc.if_else(pc.equal(stripped, ""), pa.scalar(None, stripped.type), stripped),
                       values)


def code(values: pd.Series) -> pd.Series:
    """A code: stripped, upper-cased; empty becomes missing."""
    return _arrow_text(pc.utf8_upper(text(values).array._pa_array), values)


def _arrow_text(strings: pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """``strings`` as a Series of :data:`STRING` with the index and name of ``like``."""
    return pd.Series(ArrowStringArray(strings), index=like.index, name=like.name, copy=False)


def _dates(values: pd.Series, pattern: str, fmt: str) -> tuple[pd.Series, pd.Series]:
    raw = text(values)
    # Each distinct text is parsed once (a date recurs in every year's return) and put back.
    positions, distinct = pd.factorize(raw)
    distinct = pd.Series(distinct, dtype=STRING)
    # Fast path: the plain format; only values it rejects go through the pattern. No value at
    # all (a field nobody filled in): no dates, without to_datetime's fixed cost.
    parsed = pd.to_datetime(distinct, format=fmt, errors="coerce").astype("datetime64[ns]") \
        if len(distinct) else pd.Series(np.array([], dtype="datetime64[ns]"))
    retry = parsed.isna()
    if retry.any():
        core = distinct[retry].str.extract(pattern, expand=False)
        parsed[retry] = pd.to_datetime(core, format=fmt, errors="coerce").astype("datetime64[ns]")
    dates = pd.Series(np.append(parsed.to_numpy(), np.datetime64("NaT", "ns"))[positions],
                      index=raw.index, name=raw.name)
    return dates, raw.notna() & dates.isna()


def iso_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``YYYY-MM-DD`` (xs:date, optional time zone) -> (dates, present-but-unparseable mask)."""
    return _dates(values, _ISO_DATE, "%Y-%m-%d")


def uk_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``dd/mm/YYYY`` (SSDA903) -> (dates, present-but-unparseable mask)."""
    return _dates(values, _UK_DATE, "%d/%m/%Y")


def isin(values: pd.Series, among) -> pd.Series:
    """``values.isin(among)``, the same answer (NA matches only an NA in ``among``).

    pandas' ``isin`` of an Arrow-backed string column turns every value of ``among`` into an
    Arrow scalar one by one; with tens of thousands of ids that is most of its cost. Here the
    value set is converted as one array. Anything but Arrow strings in and text out goes to pandas.
    """
    array = values.array
    if not isinstance(array, ArrowStringArray):
        return values.isin(among)
    among = among if isinstance(among, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)) \
        else list(among)
    try:
        value_set = pa.array(pd.array(among, dtype=values.dtype)._pa_array.combine_chunks()
                             if len(among) else [], type=array._pa_array.type)
    except (TypeError, ValueError, pa.ArrowException):
        return values.isin(among)
    if not len(value_set):
        return pd.Series(np.zeros(len(values), dtype=bool), index=values.index, name=values.name)
    found = pc.is_in(array._pa_array, value_set=value_set)
    return pd.Series(np.array(found, dtype=np.bool_), index=values.index, name=values.name)


def unknown(codes: pd.Series, valid: Iterable[str]) -> pd.Series:
    """Mask of present codes not in ``valid``."""
    return codes.notna() & ~codes.isin(frozenset(valid))


def yes_no(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """CIN yes/no (``1``/``0``, also ``true``/``false``) -> (booleans, unknown mask)."""
    raw = code(values)
    mapping = {"1": True, "0": False, "TRUE": True, "FALSE": False}
    parsed = raw.map(mapping).astype("boolean")
    return parsed, raw.notna() & parsed.isna()


def counts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Non-negative whole numbers -> (Int64, present-but-invalid mask)."""
    raw = text(values)
    number = pd.to_numeric(raw.where(raw.str.fullmatch(r"\d+")), errors="coerce").astype("Int64")
    return number, raw.notna() & number.isna()


def check_dates(frame: pd.DataFrame, columns: dict[str, str], parser=iso_dates) -> None:
    """Parse ``columns`` (column -> source field name) in place, marking unparseable values."""
    for column, field in columns.items():
        parsed, bad = parser(frame[column])
        q.mark(frame, bad, field, q.UNPARSEABLE_DATE)
        frame[column] = parsed


def year_groups(years: np.ndarray, rule) -> list[tuple[object, np.ndarray]]:
    """(``rule(year)``, rows) for each distinct result of ``rule`` over the rows' ``years``."""
    groups: dict[object, list[int]] = {}
    for year in np.unique(years).tolist():
        groups.setdefault(rule(year), []).append(year)
    return [(result, np.isin(years, group)) for result, group in groups.items()]


def check_codes_by_year(frame: pd.DataFrame, years: np.ndarray, fields: dict,
                        code_list: Callable[[str, int], Iterable[str]]) -> None:
    """Normalise codes in place and mark those not in their row's collection year's list
    (``years``: one per row).

    ``fields``: column -> the source field, which names its list in ``code_list(field, year)``
    (or a function of the year giving the field, as for CIN sex: ``GenderCurrent`` or ``Sex``).
    Years with the same field and list are checked together.
    """
    for column, field in fields.items():
        field_of = field if callable(field) else (lambda year, name=field: name)
        frame[column] = code(frame[column])
        for (name, valid), rows in year_groups(
                years, lambda year: (field_of(year), frozenset(code_list(field_of(year), year)))):
            q.mark(frame, pd.Series(rows, index=frame.index) & unknown(frame[column], valid),
                   name, q.UNKNOWN_CODE)


def check_order(frame: pd.DataFrame, start: str, end: str, field: str) -> None:
    """Mark rows whose ``end`` is before ``start``."""
    q.mark(frame, frame[end] < frame[start], field, q.END_BEFORE_START)
