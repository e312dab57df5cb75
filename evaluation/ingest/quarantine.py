"""The quarantine: rows that cannot be used, kept with where they came from and why.

A row is never dropped silently. The readers mark each record with the FIRST
problem found (``q_field``, ``q_reason``); :func:`split` moves marked records
to the quarantine, which names the dataset (the table the row was meant for),
the file name, the CSV line (1-based, header = line 1) or the XML element path
and source line, the field, the reason and the child's PSEUDONYM — never a raw
value.

What happens to dependent rows (documented rule): a record whose parent record
is quarantined is quarantined too, with reason :data:`PARENT_QUARANTINED` and
the parent's field (a CIN episode's assessments, plans, section 47s and
protection plans; an assessment's factors; everything under a ``Child``
element without ``LAchildID``). A child record quarantined only for one of its
own attributes (an unknown sex or ethnicity code, an unparseable date of
birth) does not take its episodes with it in that file; but if a child ends
with no usable child record in any file, every row of that child is
quarantined (:data:`NO_CHILD_RECORD`), as are all rows of a child whose dates
of birth conflict across sources or who is in no family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation import tables as contract

UNPARSEABLE_DATE = "unparseable date"
END_BEFORE_START = "end before start"
UNKNOWN_CODE = "unknown code for its year"
MISSING_KEY = "missing key field"
NOT_A_NUMBER = "not a number"
NOT_IN_FAMILY = "child not in any family"
CONFLICTING_BIRTH_DATES = "conflicting dates of birth across sources"
MULTIPLE_FAMILIES = "person in more than one family"
PARENT_QUARANTINED = "parent row quarantined"
NO_CHILD_RECORD = "no usable child record"
# Plausibility at the door (evaluation.ingest.plausibility), judged within the row's own file.
DATE_AFTER_REFERENCE = "date after its file's reference date"
EVENT_BEFORE_BIRTH = "event before birth"
AGE_OVER_LIMIT = "age over 25 at an event"
PLAUSIBILITY_REASONS: tuple[str, ...] = (DATE_AFTER_REFERENCE, EVENT_BEFORE_BIRTH, AGE_OVER_LIMIT)
SHORT_ROW = "row has fewer fields than the header"
REASON_WITHOUT_END = "reason for ending without an end date"
CLOSED_BEFORE_YEAR = "episode closed before its file's collection year"

REASONS: tuple[str, ...] = (
    UNPARSEABLE_DATE, END_BEFORE_START, UNKNOWN_CODE, MISSING_KEY, NOT_A_NUMBER, NOT_IN_FAMILY,
    CONFLICTING_BIRTH_DATES, MULTIPLE_FAMILIES, PARENT_QUARANTINED, NO_CHILD_RECORD, SHORT_ROW,
    REASON_WITHOUT_END, CLOSED_BEFORE_YEAR,
)

REASONS += PLAUSIBILITY_REASONS

MARKS = ("q_field", "q_reason")


def start_marks(frame: pd.DataFrame) -> pd.DataFrame:
    """Add empty ``q_field`` / ``q_reason`` columns."""
    frame["q_field"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["q_reason"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def mark(frame: pd.DataFrame, mask: pd.Series, field: str | pd.Series, reason: str) -> None:
    """Mark rows in ``mask`` with ``field``/``reason`` unless already marked (first problem wins)."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return
    todo = mask & frame["q_reason"].isna()
    if not todo.any():
        return
    frame.loc[todo, "q_field"] = field[todo] if isinstance(field, pd.Series) else field
    frame.loc[todo, "q_reason"] = reason


def is_marked(frame: pd.DataFrame) -> pd.Series:
    return frame["q_reason"].notna()


def _states_quarantined_birth(children: pd.DataFrame) -> pd.Series:
    """Child records about to be quarantined that still state a valid date of birth."""
    return is_marked(children) & children["child_id"].notna() & children["birth_date"].notna()


def split(frame: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(usable rows without the marks, quarantine rows of ``dataset``)."""
    bad = is_marked(frame)
    if not bad.any():
        return frame.drop(columns=list(MARKS)), empty_quarantine()
    return frame.loc[~bad].drop(columns=list(MARKS)), to_quarantine(frame.loc[bad], dataset)


def split_by_file(frame: pd.DataFrame, dataset: str, file_of_row: np.ndarray, extracts: list,
                  columns_without_rows: dict[str, object] | None = None) -> None:
    """:func:`split` a batch of files' marked rows of ``dataset`` back into each file's Extract.

    ``file_of_row``: the position in ``extracts`` of each row's file. Each file gets what it
    would get read alone: its usable rows (index from 0, ``source_file`` and
    ``collection_year`` added), its quarantine rows, its rows read and, for ``children``, the
    quarantined dates of birth. ``columns_without_rows``: column -> dtype that a reader gives
    a file with no such rows (as its own empty frame would have it).
    """
    marked = is_marked(frame).to_numpy()
    usable = frame.loc[~marked] if marked.any() else frame
    usable = usable.drop(columns=list(MARKS))
    usable_file = file_of_row[~marked]
    # The readers append each file's rows after the previous file's: each file's usable rows are
    # then one run, cut out as a slice (a boolean selection per file would copy every column).
    in_order = bool((np.diff(usable_file) >= 0).all())
    starts = np.searchsorted(usable_file, np.arange(len(extracts) + 1)) if in_order else None
    if dataset == "children":
        stated = _states_quarantined_birth(frame).to_numpy()
        births, births_file = frame.loc[stated, ["child_id", "birth_date", "line"]], file_of_row[stated]
    for i, extract in enumerate(extracts):
        rows = file_of_row == i
        part = (usable.iloc[starts[i]:starts[i + 1]] if in_order
                else usable.loc[usable_file == i]).reset_index(drop=True)
        if not rows.any():
            for column, dtype in (columns_without_rows or {}).items():
                part[column] = part[column].astype(dtype)
        part["source_file"] = extract.source_file
        part["collection_year"] = extract.collection_year
        extract.tables[dataset] = part
        bad = rows & marked
        if bad.any():
            extract.quarantine.append(to_quarantine(frame.loc[bad].assign(
                source_file=extract.source_file, collection_year=extract.collection_year), dataset))
        else:
            extract.quarantine.append(empty_quarantine())
        if dataset == "children":   # quarantined_births of the file's own rows
            extract.quarantined_births = births.loc[births_file == i].reset_index(drop=True)
        extract.rows_read[dataset] = int(rows.sum())


def to_quarantine(rows: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Quarantine rows of ``dataset`` (without ``la_code``) for rows marked with q_field/q_reason."""
    n = len(rows)

    def column(name: str, dtype: str = "string") -> pd.Series:
        values = rows[name] if name in rows else [pd.NA] * n
        return pd.Series(values, index=rows.index).astype(dtype)

    out = pd.DataFrame({
        "dataset": pd.Series([dataset] * n, index=rows.index, dtype="string"),
        "source_file": column("source_file"),
        "line": column("line", "Int64"),
        "element": column("element"),
        "field": column("q_field"),
        "reason": column("q_reason"),
        "child_id": column("child_id"),
    })
    return out.reset_index(drop=True)


@contract.copies_of_one
def empty_quarantine() -> pd.DataFrame:
    """A quarantine with no rows (and no ``la_code``, added at the door)."""
    return contract.empty("quarantine").drop(columns=["la_code"])
